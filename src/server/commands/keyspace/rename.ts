/**
 * RENAME, RENAMENX, COPY (DB / REPLACE). One atomic updateMany over source and destination, so
 * the value and its TTL move together; the destination's own TTL is never inherited. Only
 * database 0 exists: COPY ... DB n with n != 0 is "DB index is out of range".
 */
import type { KeyWrite } from '../../../data/kv-store.js';
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArg, isWord, keyArg, spec } from '../strings/common.js';

function renameGeneric(nx: boolean): CommandSpec['handler'] {
  return (ctx: CommandContext, args: Buffer[]) => {
    const src = keyArg(args, 1);
    const dst = keyArg(args, 2);
    const done = (r: number): void => {
      if (nx) ctx.reply.integer(r);
      else ctx.reply.simple('OK');
    };
    if (src === dst) {
      return then(ctx.store.get(src), (e) => {
        if (e === undefined) throw ERRORS.noSuchKey();
        done(0);
      });
    }
    return then(
      ctx.store.updateMany([src, dst], ([s, d]): { writes: KeyWrite[]; result: number } => {
        if (s === undefined) throw ERRORS.noSuchKey();
        if (nx && d !== undefined) return { writes: [undefined, undefined], result: 0 };
        return { writes: [{ kind: 'delete' }, { kind: 'put', value: s.value, expiresAtMs: s.expiresAtMs }], result: 1 };
      }),
      done,
    );
  };
}

function copy(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const src = keyArg(args, 1);
  const dst = keyArg(args, 2);
  let replace = false;
  let db = 0;
  for (let j = 3; j < args.length; j++) {
    const opt = arg(args, j);
    if (isWord(opt, 'replace')) replace = true;
    else if (isWord(opt, 'db') && j < args.length - 1) {
      const v = intArg(arg(args, j + 1));
      if (v !== 0 && v !== 0n) throw ERRORS.invalid('DB index is out of range');
      db = 0;
      j++;
    } else throw ERRORS.syntax();
  }
  if (src === dst && db === ctx.client.db) throw ERRORS.invalid('source and destination objects are the same');
  return then(
    ctx.store.updateMany([src, dst], ([s, d]): { writes: KeyWrite[]; result: number } => {
      if (s === undefined) return { writes: [undefined, undefined], result: 0 };
      if (d !== undefined && !replace) return { writes: [undefined, undefined], result: 0 };
      return { writes: [undefined, { kind: 'put', value: Buffer.from(s.value), expiresAtMs: s.expiresAtMs }], result: 1 };
    }),
    (n) => ctx.reply.integer(n),
  );
}

const KEY2 = { firstKey: 1, lastKey: 2, keyStep: 1 } as const;

export const renameCommands: CommandSpec[] = [
  spec({ name: 'rename', arity: 3, flags: ['write'], ...KEY2, categories: ['@keyspace', '@write', '@slow'], summary: 'Rename a key', since: '1.0.0', group: 'generic', handler: renameGeneric(false) }),
  spec({ name: 'renamenx', arity: 3, flags: ['write', 'fast'], ...KEY2, categories: ['@keyspace', '@write', '@fast'], summary: 'Rename a key, only if the new key does not exist', since: '1.0.0', group: 'generic', handler: renameGeneric(true) }),
  spec({ name: 'copy', arity: -3, flags: ['write', 'denyoom'], ...KEY2, categories: ['@keyspace', '@write', '@slow'], summary: 'Copy a key', since: '6.2.0', group: 'generic', handler: copy }),
];
