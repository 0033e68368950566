/**
 * SETBIT, GETBIT, BITCOUNT and BITPOS (BYTE|BIT ranges), BITOP. Range arithmetic is bitops.c's,
 * line for line (edge masks for BIT ranges, BITPOS's "right of the string is zero padded unless an
 * end was given"). Bit offsets obey Redis's limit: the byte holding
 * the bit must lie below maxValueBytes (proto-max-bulk-len), else "bit offset is not an integer
 * or out of range". SETBIT keeps the key's TTL and grows the string with zero bytes.
 */
import { parseI64 } from '../../../data/redis-number.js';
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import type { KeyWrite } from '../../../data/kv-store.js';
import { ERRORS, arg, intArg, intArgClamped, isWord, keyArg, spec } from './common.js';

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

/**
 * BITCOUNT/BITPOS range rules (Redis's): negative indexes count from the end, then clamp to
 * [0, total - 1]. In BIT units the result is byte bounds plus masks of the bits outside the
 * range in the first and last byte (0 = none).
 */
function byteRange(start: number, end: number, total: number, isBit: boolean): { start: number; end: number; firstMask: number; lastMask: number } {
  if (start < 0) start = total + start;
  if (end < 0) end = total + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= total) end = total - 1;
  if (!isBit || start > end) return { start, end, firstMask: 0, lastMask: 0 };
  return {
    start: Math.floor(start / 8),
    end: Math.floor(end / 8),
    firstMask: ~((1 << (8 - (start & 7))) - 1) & 0xff,
    lastMask: (1 << (7 - (end & 7))) - 1,
  };
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
      ({ start, end, firstMask, lastMask } = byteRange(start, end, isBit ? p.length * 8 : p.length, isBit));
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

/** redisBitpos: first bit equal to `bit` in p[start..start+count); -1 / count*8 when absent. */
function bitposIn(p: Buffer | Uint8Array, start: number, count: number, bit: number): number {
  const skip = bit ? 0 : 0xff;
  for (let i = 0; i < count; i++) {
    const b = p[start + i] as number;
    if (b === skip) continue;
    for (let j = 0; j < 8; j++) if (((b >> (7 - j)) & 1) === bit) return i * 8 + j;
  }
  return bit ? -1 : count * 8;
}

function bitpos(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const bitArg = intArg(arg(args, 2));
  if (bitArg !== 0 && bitArg !== 1) throw ERRORS.invalid('The bit argument must be 1 or 0.');
  const bit = bitArg;
  return then(ctx.store.get(keyArg(args, 1)), (e) => {
    if (e === undefined) return ctx.reply.integer(bit ? -1 : 0);
    const p = e.value;
    let start: number;
    let end: number;
    let endGiven = false;
    let firstMask = 0;
    let lastMask = 0;
    if (args.length >= 4 && args.length <= 6) {
      let total = p.length;
      start = intArgClamped(arg(args, 3));
      let isBit = false;
      if (args.length === 6) {
        const unit = arg(args, 5);
        if (isWord(unit, 'bit')) isBit = true;
        else if (!isWord(unit, 'byte')) throw ERRORS.syntax();
      }
      if (args.length >= 5) {
        end = intArgClamped(arg(args, 4));
        endGiven = true;
      } else {
        end = isBit ? total * 8 + 7 : total - 1;
      }
      if (isBit) total *= 8;
      ({ start, end, firstMask, lastMask } = byteRange(start, end, total, isBit));
    } else if (args.length === 3) {
      start = 0;
      end = p.length - 1;
    } else {
      throw ERRORS.syntax();
    }
    if (start > end) return ctx.reply.integer(-1);
    let bytes = end - start + 1;
    let pos: number;
    const one = new Uint8Array(1);
    done: {
      if (firstMask !== 0) {
        let t = bit ? (p[start] as number) & ~firstMask & 0xff : (p[start] as number) | firstMask;
        if (lastMask !== 0 && bytes === 1) t = bit ? t & ~lastMask & 0xff : t | lastMask;
        one[0] = t;
        pos = bitposIn(one, 0, 1, bit);
        if (bytes === 1 || (pos !== -1 && pos !== 8)) break done;
        start++;
        bytes--;
      }
      const cur = bytes - (lastMask !== 0 ? 1 : 0);
      if (cur > 0) {
        pos = bitposIn(p, start, cur, bit);
        if (bytes === cur || (pos !== -1 && pos !== cur * 8)) break done;
        start += cur;
        bytes -= cur;
      }
      one[0] = bit ? (p[end] as number) & ~lastMask & 0xff : (p[end] as number) | lastMask;
      pos = bitposIn(one, 0, 1, bit);
    }
    if (endGiven && bit === 0 && pos === bytes * 8) return ctx.reply.integer(-1);
    if (pos !== -1) pos += start * 8;
    ctx.reply.integer(pos);
  });
}

function bitop(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const opArg = arg(args, 1);
  const op = isWord(opArg, 'and') ? 'and' : isWord(opArg, 'or') ? 'or' : isWord(opArg, 'xor') ? 'xor' : isWord(opArg, 'not') ? 'not' : undefined;
  if (op === undefined) throw ERRORS.syntax();
  if (op === 'not' && args.length !== 4) throw ERRORS.invalid('BITOP NOT must be called with a single source key.');
  const dest = keyArg(args, 2);
  const sources: string[] = [];
  for (let i = 3; i < args.length; i++) sources.push(keyArg(args, i));
  return then(
    ctx.store.updateMany([dest, ...sources], (cur) => {
      const srcs = cur.slice(1).map((e) => e?.value ?? Buffer.alloc(0));
      const maxlen = Math.max(0, ...srcs.map((b) => b.length));
      const writes: KeyWrite[] = cur.map((): KeyWrite => undefined);
      if (maxlen === 0) {
        writes[0] = cur[0] !== undefined ? { kind: 'delete' } : undefined;
        // A destination that is also a source: the delete must win over "leave as is".
        return { writes, result: 0 };
      }
      const out = Buffer.alloc(maxlen);
      for (let j = 0; j < maxlen; j++) {
        let acc = j < (srcs[0] as Buffer).length ? ((srcs[0] as Buffer)[j] as number) : 0;
        if (op === 'not') acc = ~acc & 0xff;
        for (let k = 1; k < srcs.length; k++) {
          const src = srcs[k] as Buffer;
          const b = j < src.length ? (src[j] as number) : 0;
          if (op === 'and') acc &= b;
          else if (op === 'or') acc |= b;
          else acc ^= b;
        }
        out[j] = acc;
      }
      writes[0] = { kind: 'put', value: out, expiresAtMs: 0 };
      return { writes, result: maxlen };
    }),
    (n) => ctx.reply.integer(n),
  );
}

export const bitCommands: CommandSpec[] = [
  spec({ name: 'setbit', arity: 4, flags: ['write', 'denyoom'], categories: ['@write', '@bitmap', '@slow'], summary: 'Sets or clears the bit at offset in the string value stored at key', since: '2.2.0', group: 'bitmap', handler: setbit }),
  spec({ name: 'getbit', arity: 3, flags: ['readonly', 'fast'], categories: ['@read', '@bitmap', '@fast'], summary: 'Returns the bit value at offset in the string value stored at key', since: '2.2.0', group: 'bitmap', handler: getbit }),
  spec({ name: 'bitpos', arity: -3, flags: ['readonly'], categories: ['@read', '@bitmap', '@slow'], summary: 'Find first bit set or clear in a string', since: '2.8.7', group: 'bitmap', handler: bitpos }),
  spec({ name: 'bitop', arity: -4, flags: ['write', 'denyoom'], firstKey: 2, lastKey: -1, categories: ['@write', '@bitmap', '@slow'], summary: 'Perform bitwise operations between strings', since: '2.6.0', group: 'bitmap', handler: bitop }),
  spec({ name: 'bitcount', arity: -2, flags: ['readonly'], categories: ['@read', '@bitmap', '@slow'], summary: 'Count set bits in a string', since: '2.6.0', group: 'bitmap', handler: bitcount }),
];
