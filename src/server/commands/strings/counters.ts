/**
 * INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT: atomic read-modify-writes through KvStore.update, so
 * concurrent increments never lose an update. The key's TTL is kept (Redis's dbOverwrite).
 * Integers follow string2ll and 64-bit overflow rules; floats are added in an exact emulation of
 * Redis's 80-bit long double and printed like its "%.17Lf" (see data/redis-number.ts).
 */
import {
  I64_MAX, I64_MIN, addLongDouble, formatInt, formatLongDouble, narrow, parseI64, parseLongDouble, type LongDouble,
} from '../../../data/redis-number.js';
import type { KvEntry, UpdateDecision } from '../../../data/kv-store.js';
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArg, keyArg, spec } from './common.js';

/** value + incr with Redis's overflow check; numbers stay numbers while safe. */
export function addI64(value: number | bigint, incr: number | bigint): number | bigint {
  if (typeof value === 'number' && typeof incr === 'number') {
    const r = value + incr;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(value) + BigInt(incr);
  if (r > I64_MAX || r < I64_MIN) throw ERRORS.overflow();
  return narrow(r);
}

function incrBy(ctx: CommandContext, key: string, incr: number | bigint): ReturnType<CommandSpec['handler']> {
  return then(
    ctx.store.update(key, (cur: KvEntry | undefined): UpdateDecision<number | bigint> => {
      let value: number | bigint = 0;
      if (cur !== undefined) {
        const v = parseI64(cur.value);
        if (v === undefined) throw ERRORS.notInteger();
        value = v;
      }
      const r = addI64(value, incr);
      return { write: { kind: 'put', value: formatInt(r), expiresAtMs: cur?.expiresAtMs ?? 0 }, result: r };
    }),
    (r) => ctx.reply.integer(r),
  );
}

const ZERO: LongDouble = { negative: false, mantissa: 0n, exp: 0 };

function incrByFloat(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const key = keyArg(args, 1);
  const incrArg = arg(args, 2);
  return then(
    ctx.store.update(key, (cur): UpdateDecision<Buffer> => {
      let value: LongDouble = ZERO;
      if (cur !== undefined) {
        const v = parseLongDouble(cur.value);
        if (v === undefined) throw ERRORS.notFloat();
        if (v.kind === 'inf') throw ERRORS.nanOrInf();
        value = v.value;
      }
      const incr = parseLongDouble(incrArg);
      if (incr === undefined) throw ERRORS.notFloat();
      if (incr.kind === 'inf') throw ERRORS.nanOrInf();
      const sum = addLongDouble(value, incr.value);
      if (sum === undefined) throw ERRORS.nanOrInf();
      const out = Buffer.from(formatLongDouble(sum), 'latin1');
      return { write: { kind: 'put', value: out, expiresAtMs: cur?.expiresAtMs ?? 0 }, result: out };
    }),
    (out) => ctx.reply.bulk(out),
  );
}

const CATS = ['@write', '@string', '@fast'] as const;

export const counterCommands: CommandSpec[] = [
  spec({ name: 'incr', arity: 2, flags: ['write', 'denyoom', 'fast'], categories: CATS, summary: 'Increment the integer value of a key by one', since: '1.0.0', group: 'string', handler: (ctx, args) => incrBy(ctx, keyArg(args, 1), 1) }),
  spec({ name: 'decr', arity: 2, flags: ['write', 'denyoom', 'fast'], categories: CATS, summary: 'Decrement the integer value of a key by one', since: '1.0.0', group: 'string', handler: (ctx, args) => incrBy(ctx, keyArg(args, 1), -1) }),
  spec({ name: 'incrby', arity: 3, flags: ['write', 'denyoom', 'fast'], categories: CATS, summary: 'Increment the integer value of a key by the given amount', since: '1.0.0', group: 'string', handler: (ctx, args) => incrBy(ctx, keyArg(args, 1), intArg(arg(args, 2))) }),
  spec({
    name: 'decrby', arity: 3, flags: ['write', 'denyoom', 'fast'], categories: CATS, summary: 'Decrement the integer value of a key by the given number', since: '1.0.0', group: 'string',
    handler: (ctx, args) => {
      const incr = intArg(arg(args, 2));
      if (typeof incr === 'bigint' && incr === I64_MIN) throw ERRORS.invalid('decrement would overflow');
      return incrBy(ctx, keyArg(args, 1), typeof incr === 'number' ? -incr : narrow(-incr));
    },
  }),
  spec({ name: 'incrbyfloat', arity: 3, flags: ['write', 'denyoom', 'fast'], categories: CATS, summary: 'Increment the float value of a key by the given amount', since: '2.6.0', group: 'string', handler: incrByFloat }),
];
