/**
 * KEYS, SCAN (MATCH, COUNT, TYPE), RANDOMKEY. KEYS walks the whole keyspace in pages; SCAN
 * returns one page per call with the KvStore's unsigned 64-bit cursor ('0' starts and ends). Keys are
 * binary: they are written as latin1 bytes, never re-encoded. Matching is Redis's
 * stringmatchlen (data/glob-match.ts).
 */
import { globMatch } from '../../../data/glob-match.js';
import type { Key } from '../../../data/kv-store.js';
import { isPromise, type MaybePromise } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArg, isWord, spec } from '../strings/common.js';

const KEYS_PAGE = 1000;

async function keys(ctx: CommandContext, args: Buffer[]): Promise<void> {
  const pattern = arg(args, 1).toString('latin1');
  const all = pattern === '*';
  const out: Key[] = [];
  let cursor = '0';
  do {
    const page = await ctx.store.scan(cursor, KEYS_PAGE, all ? undefined : pattern);
    for (const k of page.keys) if (all || globMatch(pattern, k)) out.push(k);
    cursor = page.cursor;
  } while (cursor !== '0');
  ctx.reply.array(out.length);
  for (const k of out) ctx.reply.bulk(Buffer.from(k, 'latin1'));
}

async function scan(ctx: CommandContext, args: Buffer[]): Promise<void> {
  const cursor = arg(args, 1).toString('latin1');
  if (!/^[0-9]+$/.test(cursor)) throw ERRORS.invalid('invalid cursor');
  let count = 10;
  let pattern: string | undefined;
  let typeName: string | undefined;
  for (let i = 2; i < args.length;) {
    const opt = arg(args, i);
    const left = args.length - i;
    if (isWord(opt, 'count') && left >= 2) {
      const v = intArg(arg(args, i + 1));
      if (v < 1) throw ERRORS.syntax();
      count = Number(v > 1_000_000 ? 1_000_000 : v);
      i += 2;
    } else if (isWord(opt, 'match') && left >= 2) {
      const p = arg(args, i + 1).toString('latin1');
      pattern = p === '*' ? undefined : p;
      i += 2;
    } else if (isWord(opt, 'type') && left >= 2) {
      typeName = arg(args, i + 1).toString('latin1');
      i += 2;
    } else {
      throw ERRORS.syntax();
    }
  }
  // A cursor with leading zeros ("00") means start, as strtoul reads it.
  const page = await ctx.store.scan(/^0+$/.test(cursor) ? '0' : cursor, count, pattern);
  let found = page.keys;
  if (pattern !== undefined) found = found.filter((k) => globMatch(pattern, k));
  if (typeName !== undefined && typeName.toLowerCase() !== 'string') found = [];
  ctx.reply.array(2);
  ctx.reply.bulk(page.cursor);
  ctx.reply.array(found.length);
  for (const k of found) ctx.reply.bulk(Buffer.from(k, 'latin1'));
}

function randomkey(ctx: CommandContext): MaybePromise<void> {
  const r = ctx.store.randomKey();
  const write = (k: Key | undefined): void => {
    if (k === undefined) ctx.reply.nil();
    else ctx.reply.bulk(Buffer.from(k, 'latin1'));
  };
  if (isPromise(r)) return r.then(write);
  write(r);
}

export const scanCommands: CommandSpec[] = [
  spec({ name: 'keys', arity: 2, flags: ['readonly'], firstKey: 0, lastKey: 0, keyStep: 0, categories: ['@keyspace', '@read', '@slow', '@dangerous'], summary: 'Find all keys matching the given pattern', since: '1.0.0', group: 'generic', handler: keys }),
  spec({ name: 'scan', arity: -2, flags: ['readonly'], firstKey: 0, lastKey: 0, keyStep: 0, categories: ['@keyspace', '@read', '@slow'], summary: 'Incrementally iterate the keys space', since: '2.8.0', group: 'generic', handler: scan }),
  spec({ name: 'randomkey', arity: 1, flags: ['readonly'], firstKey: 0, lastKey: 0, keyStep: 0, categories: ['@keyspace', '@read', '@slow'], summary: 'Return a random key from the keyspace', since: '1.0.0', group: 'generic', handler: randomkey }),
];
