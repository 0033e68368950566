/**
 * STRLEN, APPEND, GETRANGE (and its old name SUBSTR), SETRANGE. Results larger than
 * maxValueBytes are refused with Redis's proto-max-bulk-len error before anything is written;
 * APPEND and SETRANGE keep the key's TTL.
 */
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArgClamped, keyArg, longArg, spec } from './common.js';

const EMPTY = Buffer.alloc(0);

function strlen(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.get(keyArg(args, 1)), (e) => ctx.reply.integer(e === undefined ? 0 : e.value.length));
}

function append(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const extra = arg(args, 2);
  const max = ctx.config.maxValueBytes;
  return then(
    ctx.store.update(keyArg(args, 1), (cur) => {
      if (cur === undefined) {
        if (extra.length > max) throw ERRORS.tooLarge();
        return { write: { kind: 'put' as const, value: Buffer.from(extra), expiresAtMs: 0 }, result: extra.length };
      }
      const total = cur.value.length + extra.length;
      if (total > max) throw ERRORS.tooLarge();
      return { write: { kind: 'put' as const, value: Buffer.concat([cur.value, extra], total), expiresAtMs: cur.expiresAtMs }, result: total };
    }),
    (n) => ctx.reply.integer(n),
  );
}

/** getrangeCommand's index arithmetic (start/end inclusive, negatives from the end). */
export function rangeOf(len: number, start: number, end: number): [number, number] | undefined {
  if (start < 0 && end < 0 && start > end) return undefined;
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return undefined;
  return [start, end];
}

function getrange(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const start = intArgClamped(arg(args, 2));
  const end = intArgClamped(arg(args, 3));
  return then(ctx.store.get(keyArg(args, 1)), (e) => {
    ctx.countHit(e !== undefined);
    if (e === undefined) return ctx.reply.bulk(EMPTY);
    const r = rangeOf(e.value.length, start, end);
    ctx.reply.bulk(r === undefined ? EMPTY : e.value.subarray(r[0], r[1] + 1));
  });
}

function setrange(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const off = longArg(arg(args, 2));
  if (off < 0) throw ERRORS.invalid('offset is out of range');
  const value = arg(args, 3);
  const max = ctx.config.maxValueBytes;
  // checkStringLength: offset + length beyond the limit (or beyond any safe size) is refused.
  const tooLong = (): boolean => typeof off === 'bigint' || off + value.length > max;
  return then(
    ctx.store.update(keyArg(args, 1), (cur) => {
      if (cur === undefined) {
        if (value.length === 0) return { write: undefined, result: 0 };
        if (tooLong()) throw ERRORS.tooLarge();
        const offset = off as number;
        const out = Buffer.alloc(offset + value.length);
        value.copy(out, offset);
        return { write: { kind: 'put' as const, value: out, expiresAtMs: 0 }, result: out.length };
      }
      if (value.length === 0) return { write: undefined, result: cur.value.length };
      if (tooLong()) throw ERRORS.tooLarge();
      const offset = off as number;
      const len = Math.max(cur.value.length, offset + value.length);
      const out = Buffer.alloc(len);
      cur.value.copy(out, 0);
      value.copy(out, offset);
      return { write: { kind: 'put' as const, value: out, expiresAtMs: cur.expiresAtMs }, result: len };
    }),
    (n) => ctx.reply.integer(n),
  );
}

export const rangeCommands: CommandSpec[] = [
  spec({ name: 'strlen', arity: 2, flags: ['readonly', 'fast'], categories: ['@read', '@string', '@fast'], summary: 'Get the length of the value stored in a key', since: '2.2.0', group: 'string', handler: strlen }),
  spec({ name: 'append', arity: 3, flags: ['write', 'denyoom', 'fast'], categories: ['@write', '@string', '@fast'], summary: 'Append a value to a key', since: '2.0.0', group: 'string', handler: append }),
  spec({ name: 'getrange', arity: 4, flags: ['readonly'], categories: ['@read', '@string', '@slow'], summary: 'Get a substring of the string stored at a key', since: '2.4.0', group: 'string', handler: getrange }),
  spec({ name: 'substr', arity: 4, flags: ['readonly'], categories: ['@read', '@string', '@slow'], summary: 'Get a substring of the string stored at a key', since: '1.0.0', group: 'string', handler: getrange }),
  spec({ name: 'setrange', arity: 4, flags: ['write', 'denyoom'], categories: ['@write', '@string', '@slow'], summary: 'Overwrite part of a string at key starting at the specified offset', since: '2.2.0', group: 'string', handler: setrange }),
];
