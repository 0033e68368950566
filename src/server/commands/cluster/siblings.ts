/**
 * Causal (sibling) commands of cluster mode, for clients that resolve concurrent writes
 * themselves instead of taking the deterministic pick a plain GET returns:
 *
 * - GETCTX key -> [context, [value1, value2, ...]]: every live sibling in the record's order
 *   and the causal context covering them (an opaque base64 string). A missing key answers
 *   [context, []]; the context is still useful to write with.
 * - SETCTX key context value [EX s | PX ms | EXAT s | PXAT ms] -> OK: writes `value`
 *   superseding exactly the versions `context` covers (what that GETCTX returned); versions
 *   written since stay as siblings. An empty context ("") is a blind write: it supersedes
 *   nothing and adds a sibling.
 * - DELCTX key context -> OK: deletes the versions the context covers (a tombstone).
 *
 * Levels: the connection's (CONSISTENCY), else the node's defaults.
 */
import { ClusterKvStore } from '../../../cluster/kv/cluster-kv-store.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, expireArgMs, isWord, keyArg, retain, spec } from '../strings/common.js';
import { clusterStoreOf } from './cluster.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Contexts are small version vectors; a bound keeps a bogus argument from costing much. */
const CONTEXT_CHARS_MAX = 64 * 1024;

/** The context argument: "" = none (blind write); otherwise base64 of the opaque token. */
export function contextArg(b: Buffer): Buffer | null {
  if (b.length === 0) return null;
  const text = b.toString('latin1');
  if (text.length > CONTEXT_CHARS_MAX || !BASE64.test(text)) throw ERRORS.invalid('invalid context');
  return Buffer.from(text, 'base64');
}

function store(ctx: CommandContext): ClusterKvStore {
  return clusterStoreOf(ctx);
}

async function getctx(ctx: CommandContext, args: Buffer[]): Promise<void> {
  const s = store(ctx);
  const v = await s.getVersions(keyArg(args, 1));
  ctx.countHit(v.values.length > 0);
  ctx.reply.array(2);
  ctx.reply.bulk(v.context.toString('base64'));
  ctx.reply.array(v.values.length);
  for (const e of v.values) ctx.reply.bulk(e.value);
}

async function setctx(ctx: CommandContext, args: Buffer[]): Promise<void> {
  const s = store(ctx);
  const key = keyArg(args, 1);
  const context = contextArg(arg(args, 2));
  const value = retain(arg(args, 3));
  let expiresAtMs = 0;
  if (args.length === 6) {
    const opt = arg(args, 4);
    const unit = isWord(opt, 'ex') ? 'ex' : isWord(opt, 'px') ? 'px' : isWord(opt, 'exat') ? 'exat' : isWord(opt, 'pxat') ? 'pxat' : undefined;
    if (unit === undefined) throw ERRORS.syntax();
    expiresAtMs = expireArgMs(arg(args, 5), unit, ctx.now(), 'setctx');
  } else if (args.length !== 4) {
    throw ERRORS.syntax();
  }
  await s.putWithContext(key, value, context, expiresAtMs);
  ctx.reply.simple('OK');
}

async function delctx(ctx: CommandContext, args: Buffer[]): Promise<void> {
  const s = store(ctx);
  await s.deleteWithContext(keyArg(args, 1), contextArg(arg(args, 2)));
  ctx.reply.simple('OK');
}

export const siblingCommands: CommandSpec[] = [
  spec({ name: 'getctx', arity: 2, flags: ['readonly'], categories: ['@read', '@string', '@slow'], summary: 'Get every concurrent version (sibling) of a key and the causal context covering them (ringkv cluster mode)', since: '0.1.0', group: 'string', handler: getctx }),
  spec({ name: 'setctx', arity: -4, flags: ['write', 'denyoom'], categories: ['@write', '@string', '@slow'], summary: 'Set a key superseding the versions a GETCTX context covers (ringkv cluster mode)', since: '0.1.0', group: 'string', handler: setctx }),
  spec({ name: 'delctx', arity: 3, flags: ['write'], categories: ['@write', '@keyspace', '@slow'], summary: 'Delete the versions of a key a GETCTX context covers (ringkv cluster mode)', since: '0.1.0', group: 'generic', handler: delctx }),
];
