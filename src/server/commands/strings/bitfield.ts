/**
 * BITFIELD and BITFIELD_RO: GET / SET / INCRBY on signed (i1..i64) and unsigned (u1..u63)
 * integers at any bit offset (or "#n" = n * width), with OVERFLOW WRAP | SAT | FAIL applying to
 * the operations after it. Ported from bitops.c with BigInt standing in for int64/uint64 and the
 * same overflow arithmetic (checkSignedBitfieldOverflow / checkUnsignedBitfieldOverflow), so
 * wrap-around and saturation values match Redis exactly. A write grows the string with zero
 * bytes to the farthest bit written and keeps the key's TTL.
 */
import { parseI64 } from '../../../data/redis-number.js';
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArg, isWord, keyArg, spec } from './common.js';

type Overflow = 'wrap' | 'sat' | 'fail';

interface FieldOp {
  opcode: 'get' | 'set' | 'incrby';
  signed: boolean;
  bits: number;
  offset: number;
  value: bigint;
  overflow: Overflow;
}

const TYPE_ERROR = 'Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.';

function fieldType(b: Buffer): { signed: boolean; bits: number } {
  const c = b[0];
  const signed = c === 105; // 'i'
  if (!signed && c !== 117) throw ERRORS.invalid(TYPE_ERROR); // 'u'
  const n = parseI64(b.subarray(1));
  if (n === undefined || typeof n === 'bigint' || n < 1 || (signed && n > 64) || (!signed && n > 63)) throw ERRORS.invalid(TYPE_ERROR);
  return { signed, bits: n };
}

function fieldOffset(b: Buffer, bits: number, maxBytes: number): number {
  const hash = b[0] === 35; // '#'
  let v = parseI64(hash ? b.subarray(1) : b);
  if (v !== undefined && hash) v = typeof v === 'bigint' ? v * BigInt(bits) : v * bits;
  if (v === undefined || v < 0 || (typeof v === 'bigint' ? v / 8n >= BigInt(maxBytes) : Math.floor(v / 8) >= maxBytes)) {
    throw ERRORS.invalid('bit offset is not an integer or out of range');
  }
  return Number(v);
}

function getUnsigned(p: Uint8Array, offset: number, bits: number): bigint {
  let v = 0n;
  for (let j = 0; j < bits; j++) {
    const pos = offset + j;
    const byte = pos >> 3;
    const bit = byte < p.length ? ((p[byte] as number) >> (7 - (pos & 7))) & 1 : 0;
    v = (v << 1n) | BigInt(bit);
  }
  return v;
}

function getSigned(p: Uint8Array, offset: number, bits: number): bigint {
  return BigInt.asIntN(bits, getUnsigned(p, offset, bits));
}

function setField(p: Uint8Array, offset: number, bits: number, value: bigint): void {
  const u = BigInt.asUintN(bits, value);
  for (let j = 0; j < bits; j++) {
    const bit = Number((u >> BigInt(bits - 1 - j)) & 1n);
    const pos = offset + j;
    const byte = pos >> 3;
    const mask = 1 << (7 - (pos & 7));
    p[byte] = bit ? (p[byte] as number) | mask : (p[byte] as number) & ~mask;
  }
}

const i64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);

/** checkUnsignedBitfieldOverflow: [overflowed, limit value to store when it did]. */
function unsignedOverflow(value: bigint, incr: bigint, bits: number, ow: Overflow): [boolean, bigint | undefined] {
  const max = (1n << BigInt(bits)) - 1n;
  const maxincr = i64(max - value);
  const minincr = i64(-value);
  const wrap = (): bigint => u64(value + incr) & max;
  if (value > max || (incr > 0n && incr > maxincr)) return [true, ow === 'wrap' ? wrap() : ow === 'sat' ? max : undefined];
  if (incr < 0n && incr < minincr) return [true, ow === 'wrap' ? wrap() : ow === 'sat' ? 0n : undefined];
  return [false, undefined];
}

/** checkSignedBitfieldOverflow. */
function signedOverflow(value: bigint, incr: bigint, bits: number, ow: Overflow): [boolean, bigint | undefined] {
  const max = bits === 64 ? (1n << 63n) - 1n : (1n << BigInt(bits - 1)) - 1n;
  const min = -max - 1n;
  const maxincr = i64(u64(max) - u64(value));
  const minincr = i64(min - value);
  const wrap = (): bigint => {
    let c = u64(value + incr);
    if (bits < 64) {
      const msb = 1n << BigInt(bits - 1);
      const mask = u64(-1n << BigInt(bits));
      c = (c & msb) !== 0n ? c | mask : c & ~mask & (2n ** 64n - 1n);
    }
    return i64(c);
  };
  if (value > max || (bits !== 64 && incr > maxincr) || (value >= 0n && incr > 0n && incr > maxincr)) {
    return [true, ow === 'wrap' ? wrap() : ow === 'sat' ? max : undefined];
  }
  if (value < min || (bits !== 64 && incr < minincr) || (value < 0n && incr < 0n && incr < minincr)) {
    return [true, ow === 'wrap' ? wrap() : ow === 'sat' ? min : undefined];
  }
  return [false, undefined];
}

function parseOps(ctx: CommandContext, args: Buffer[]): FieldOp[] {
  const ops: FieldOp[] = [];
  let overflow: Overflow = 'wrap';
  for (let j = 2; j < args.length; j++) {
    const rem = args.length - j - 1;
    const sub = arg(args, j);
    let opcode: FieldOp['opcode'];
    if (isWord(sub, 'get') && rem >= 2) opcode = 'get';
    else if (isWord(sub, 'set') && rem >= 3) opcode = 'set';
    else if (isWord(sub, 'incrby') && rem >= 3) opcode = 'incrby';
    else if (isWord(sub, 'overflow') && rem >= 1) {
      const t = arg(args, j + 1);
      j++;
      if (isWord(t, 'wrap')) overflow = 'wrap';
      else if (isWord(t, 'sat')) overflow = 'sat';
      else if (isWord(t, 'fail')) overflow = 'fail';
      else throw ERRORS.invalid('Invalid OVERFLOW type specified');
      continue;
    } else throw ERRORS.syntax();
    const { signed, bits } = fieldType(arg(args, j + 1));
    const offset = fieldOffset(arg(args, j + 2), bits, ctx.config.maxValueBytes);
    const value = opcode === 'get' ? 0n : BigInt(intArg(arg(args, j + 3)));
    ops.push({ opcode, signed, bits, offset, value, overflow });
    j += opcode === 'get' ? 2 : 3;
  }
  return ops;
}

type Reply = bigint | null;

function writeReplies(ctx: CommandContext, replies: readonly Reply[]): void {
  ctx.reply.array(replies.length);
  for (const r of replies) {
    if (r === null) ctx.reply.nil();
    else ctx.reply.integer(Number.isSafeInteger(Number(r)) ? Number(r) : r);
  }
}

function runGet(p: Uint8Array, op: FieldOp): bigint {
  return op.signed ? getSigned(p, op.offset, op.bits) : getUnsigned(p, op.offset, op.bits);
}

function bitfieldGeneric(readonlyCommand: boolean): CommandSpec['handler'] {
  return (ctx: CommandContext, args: Buffer[]) => {
    const ops = parseOps(ctx, args);
    const key = keyArg(args, 1);
    const writes = ops.some((o) => o.opcode !== 'get');
    if (!writes) {
      return then(ctx.store.get(key), (e) => {
        const p = e?.value ?? new Uint8Array(0);
        writeReplies(ctx, ops.map((op) => runGet(p, op)));
      });
    }
    if (readonlyCommand) throw ERRORS.invalid('BITFIELD_RO only supports the GET subcommand');
    let highest = 0;
    for (const op of ops) if (op.opcode !== 'get' && op.offset + op.bits - 1 > highest) highest = op.offset + op.bits - 1;
    return then(
      ctx.store.update(key, (cur) => {
        const old = cur?.value;
        const len = Math.max(old?.length ?? 0, (highest >> 3) + 1);
        const dirty = old === undefined || len !== old.length;
        const p = Buffer.alloc(len);
        if (old !== undefined) old.copy(p, 0);
        const replies: Reply[] = [];
        let changes = 0;
        for (const op of ops) {
          if (op.opcode === 'get') {
            replies.push(runGet(p, op));
            continue;
          }
          const oldval = runGet(p, op);
          let newval: bigint;
          let retval: bigint;
          let overflowed: boolean;
          let limit: bigint | undefined;
          if (op.signed) {
            if (op.opcode === 'incrby') {
              [overflowed, limit] = signedOverflow(oldval, op.value, op.bits, op.overflow);
              newval = overflowed ? (limit ?? 0n) : oldval + op.value;
              retval = newval;
            } else {
              newval = op.value;
              [overflowed, limit] = signedOverflow(newval, 0n, op.bits, op.overflow);
              if (overflowed) newval = limit ?? 0n;
              retval = oldval;
            }
          } else if (op.opcode === 'incrby') {
            newval = u64(oldval + op.value);
            [overflowed, limit] = unsignedOverflow(oldval, op.value, op.bits, op.overflow);
            if (overflowed) newval = limit ?? 0n;
            retval = newval;
          } else {
            newval = u64(op.value);
            [overflowed, limit] = unsignedOverflow(newval, 0n, op.bits, op.overflow);
            if (overflowed) newval = limit ?? 0n;
            retval = oldval;
          }
          if (overflowed && op.overflow === 'fail') {
            replies.push(null);
            continue;
          }
          replies.push(retval);
          setField(p, op.offset, op.bits, newval);
          if (dirty || oldval !== runGet(p, op)) changes++;
        }
        const write = dirty || changes > 0
          ? { kind: 'put' as const, value: p, expiresAtMs: cur?.expiresAtMs ?? 0 }
          : undefined;
        return { write, result: replies };
      }),
      (replies) => writeReplies(ctx, replies),
    );
  };
}

export const bitfieldCommands: CommandSpec[] = [
  spec({ name: 'bitfield', arity: -2, flags: ['write', 'denyoom'], categories: ['@write', '@bitmap', '@slow'], summary: 'Perform arbitrary bitfield integer operations on strings', since: '3.2.0', group: 'bitmap', handler: bitfieldGeneric(false) }),
  spec({ name: 'bitfield_ro', arity: -2, flags: ['readonly', 'fast'], categories: ['@read', '@bitmap', '@fast'], summary: 'Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD', since: '6.0.0', group: 'bitmap', handler: bitfieldGeneric(true) }),
];
