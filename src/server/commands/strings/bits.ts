/**
 * SETBIT, GETBIT, BITCOUNT (BYTE|BIT ranges). Bit offsets obey Redis's limit: the byte holding
 * the bit must lie below maxValueBytes (proto-max-bulk-len), else "bit offset is not an integer
 * or out of range". SETBIT keeps the key's TTL and grows the string with zero bytes.
 */
import { parseI64 } from '../../../data/redis-number.js';
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArgClamped, isWord, keyArg, spec } from './common.js';

function bitOffset(b: Buffer, maxBytes: number): number {
  const v = parseI64(b);
  if (v === undefined || typeof v === 'bigint' || v < 0 || Math.floor(v / 8) >= maxBytes) {
    throw ERRORS.invalid('bit offset is not an integer or out of range');
  }
  return v;
}

function setbit(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const offset = bitOffset(arg(args, 2), ctx.config.maxValueBytes);
  const on = parseI64(arg(args, 3));
  if (on !== 0 && on !== 1) throw ERRORS.invalid('bit is not an integer or out of range');
  const byte = Math.floor(offset / 8);
  const bit = 7 - (offset & 7);
  return then(
    ctx.store.update(keyArg(args, 1), (cur) => {
      const old = cur?.value;
      const oldBit = old !== undefined && byte < old.length ? ((old[byte] as number) >> bit) & 1 : 0;
      const grows = old === undefined || byte >= old.length;
      if (!grows && oldBit === on) return { write: undefined, result: oldBit };
      const out = Buffer.alloc(Math.max(old?.length ?? 0, byte + 1));
      if (old !== undefined) old.copy(out, 0);
      const b = out[byte] as number;
      out[byte] = on === 1 ? b | (1 << bit) : b & ~(1 << bit);
      return { write: { kind: 'put' as const, value: out, expiresAtMs: cur?.expiresAtMs ?? 0 }, result: oldBit };
    }),
    (r) => ctx.reply.integer(r),
  );
}

function getbit(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const offset = bitOffset(arg(args, 2), ctx.config.maxValueBytes);
  const byte = Math.floor(offset / 8);
  const bit = 7 - (offset & 7);
  return then(ctx.store.get(keyArg(args, 1)), (e) => {
    const v = e?.value;
    ctx.reply.integer(v !== undefined && byte < v.length ? ((v[byte] as number) >> bit) & 1 : 0);
  });
}

function popcount(buf: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i <= end; i++) {
    let b = buf[i] as number;
    b = b - ((b >> 1) & 0x55);
    b = (b & 0x33) + ((b >> 2) & 0x33);
    n += (b + (b >> 4)) & 0x0f;
  }
  return n;
}

function bitcount(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.get(keyArg(args, 1)), (e) => {
    if (e === undefined) return ctx.reply.integer(0);
    const p = e.value;
    let start: number;
    let end: number;
    let firstMask = 0;
    let lastMask = 0;
    if (args.length === 4 || args.length === 5) {
      start = intArgClamped(arg(args, 2));
      end = intArgClamped(arg(args, 3));
      if (start < 0 && end < 0 && start > end) return ctx.reply.integer(0);
      let isBit = false;
      if (args.length === 5) {
        const unit = arg(args, 4);
        if (isWord(unit, 'bit')) isBit = true;
        else if (!isWord(unit, 'byte')) throw ERRORS.syntax();
      }
      const total = isBit ? p.length * 8 : p.length;
      if (start < 0) start = total + start;
      if (end < 0) end = total + end;
      if (start < 0) start = 0;
      if (end < 0) end = 0;
      if (end >= total) end = total - 1;
      if (isBit && start <= end) {
        firstMask = ~((1 << (8 - (start & 7))) - 1) & 0xff;
        lastMask = (1 << (7 - (end & 7))) - 1;
        start = Math.floor(start / 8);
        end = Math.floor(end / 8);
      }
    } else if (args.length === 2) {
      start = 0;
      end = p.length - 1;
    } else {
      throw ERRORS.syntax();
    }
    if (start > end) return ctx.reply.integer(0);
    let count = popcount(p, start, end);
    if (firstMask !== 0) count -= popcount(Buffer.of((p[start] as number) & firstMask), 0, 0);
    if (lastMask !== 0) count -= popcount(Buffer.of((p[end] as number) & lastMask), 0, 0);
    ctx.reply.integer(count);
  });
}

export const bitCommands: CommandSpec[] = [
  spec({ name: 'setbit', arity: 4, flags: ['write', 'denyoom'], categories: ['@write', '@bitmap', '@slow'], summary: 'Sets or clears the bit at offset in the string value stored at key', since: '2.2.0', group: 'bitmap', handler: setbit }),
  spec({ name: 'getbit', arity: 3, flags: ['readonly', 'fast'], categories: ['@read', '@bitmap', '@fast'], summary: 'Returns the bit value at offset in the string value stored at key', since: '2.2.0', group: 'bitmap', handler: getbit }),
  spec({ name: 'bitcount', arity: -2, flags: ['readonly'], categories: ['@read', '@bitmap', '@slow'], summary: 'Count set bits in a string', since: '2.6.0', group: 'bitmap', handler: bitcount }),
];
