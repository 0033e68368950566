/**
 * CONSISTENCY [READ level] [WRITE level]: this connection's read and write levels in cluster
 * mode (level = ONE | TWO | QUORUM | ALL | n replicas | DEFAULT to fall back to the node's
 * configured default). With no argument it shows the levels in effect, as a map
 * {read, write}. The levels apply to every later command of the connection: plain GET/SET,
 * read-modify-writes (INCR & co. read at the read level and write at the write level),
 * multi-key commands, GETCTX/SETCTX/DELCTX. RESET returns them to the defaults.
 */
import type { ConsistencyLevel, ConsistencyScope } from '../../../data/kv-store.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, isWord } from '../strings/common.js';
import { clusterStoreOf } from './cluster.js';

/** A level argument; undefined = DEFAULT (use the node's). */
export function parseLevel(b: Buffer, replicationFactor: number): ConsistencyLevel | undefined {
  if (isWord(b, 'default')) return undefined;
  for (const name of ['one', 'two', 'quorum', 'all'] as const) if (isWord(b, name)) return name;
  const text = b.toString('latin1');
  if (/^[1-9][0-9]{0,2}$/.test(text)) {
    const n = Number(text);
    if (n <= replicationFactor) return n;
  }
  throw ERRORS.invalid(`invalid consistency level '${text.slice(0, 64)}': expected ONE, TWO, QUORUM, ALL, DEFAULT or 1..${replicationFactor}`);
}

export function levelName(level: ConsistencyLevel): string {
  return typeof level === 'number' ? String(level) : level;
}

function consistency(ctx: CommandContext, args: Buffer[]): void {
  const node = clusterStoreOf(ctx).node;
  const n = node.defaults.replicationFactor;
  const scope: ConsistencyScope = ctx.client.consistency ?? {};
  ctx.client.consistency = scope;
  // Parse everything before changing anything: a bad argument leaves the levels as they were.
  const changes: ['read' | 'write', ConsistencyLevel | undefined][] = [];
  for (let i = 1; i < args.length; i += 2) {
    const which = arg(args, i);
    const value = args[i + 1];
    if (value === undefined) throw ERRORS.syntax();
    if (isWord(which, 'read')) changes.push(['read', parseLevel(value, n)]);
    else if (isWord(which, 'write')) changes.push(['write', parseLevel(value, n)]);
    else throw ERRORS.syntax();
  }
  if (changes.length > 0) {
    for (const [which, level] of changes) {
      if (level === undefined) delete scope[which];
      else scope[which] = level;
    }
    ctx.reply.simple('OK');
    return;
  }
  ctx.reply.map(2);
  ctx.reply.bulk('read');
  ctx.reply.bulk(levelName(scope.read ?? node.defaults.readConsistency));
  ctx.reply.bulk('write');
  ctx.reply.bulk(levelName(scope.write ?? node.defaults.writeConsistency));
}

export const consistencyCommand: CommandSpec = {
  name: 'consistency',
  arity: -1,
  flags: ['fast', 'loading', 'stale'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Show or set this connection\'s read and write consistency levels (ringkv cluster mode)',
  since: '0.1.0',
  group: 'connection',
  handler: consistency,
};
