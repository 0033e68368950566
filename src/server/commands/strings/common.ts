/**
 * Helpers shared by the data commands (strings, expire, keyspace): argument access, option
 * matching, Redis's exact error texts and the expiry-argument rules. Error texts are Redis 7.0's
 * word for word; each maps to a stable code in the error registry.
 */
import { RingkvError } from '../../../errors/index.js';
import type { Key } from '../../../data/kv-store.js';
import { I64_MAX, parseI64 } from '../../../data/redis-number.js';
import type { CommandFlag, CommandSpec } from '../command.js';

export const ERRORS = {
  syntax: (): RingkvError => new RingkvError('ERR_SYNTAX', 'ERR syntax error'),
  notInteger: (): RingkvError => new RingkvError('ERR_NOT_INTEGER', 'ERR value is not an integer or out of range'),
  notFloat: (): RingkvError => new RingkvError('ERR_NOT_FLOAT', 'ERR value is not a valid float'),
  overflow: (): RingkvError => new RingkvError('ERR_INVALID_ARGUMENT', 'ERR increment or decrement would overflow'),
  nanOrInf: (): RingkvError => new RingkvError('ERR_INVALID_ARGUMENT', 'ERR increment would produce NaN or Infinity'),
  expireTime: (command: string): RingkvError =>
    new RingkvError('ERR_INVALID_ARGUMENT', `ERR invalid expire time in '${command}' command`),
  wrongArgs: (command: string): RingkvError =>
    new RingkvError('ERR_WRONG_ARGS', `ERR wrong number of arguments for '${command}' command`),
  noSuchKey: (): RingkvError => new RingkvError('ERR_NO_SUCH_KEY', 'ERR no such key'),
  tooLarge: (): RingkvError =>
    new RingkvError('ERR_VALUE_TOO_LARGE', 'ERR string exceeds maximum allowed size (proto-max-bulk-len)'),
  invalid: (text: string): RingkvError => new RingkvError('ERR_INVALID_ARGUMENT', `ERR ${text}`),
} as const;

/** args[i], which the command's arity guarantees is present. */
export function arg(args: readonly Buffer[], i: number): Buffer {
  const a = args[i];
  if (a === undefined) throw new RangeError(`argument ${i} missing (arity not checked?)`);
  return a;
}

/**
 * Buffer's own latin1 decoder (what toString('latin1') calls after its argument handling).
 * Present on Buffer.prototype in every supported Node major; looked up once, with a fallback.
 */
type Latin1Slice = (this: Buffer, start: number, end: number) => string;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice;

/** A key argument as a binary string (one char per byte). */
export function keyArg(args: readonly Buffer[], i: number): Key {
  const b = arg(args, i);
  // Calling the decoder directly skips toString's encoding dispatch: ~30% cheaper than
  // String.fromCharCode.apply for 16-byte keys (measured, lookup included).
  if (latin1Slice !== undefined) return latin1Slice.call(b, 0, b.length);
  return b.toString('latin1');
}

/** ASCII case-insensitive comparison of an argument with a lower-case word. */
export function isWord(b: Buffer, lower: string): boolean {
  if (b.length !== lower.length) return false;
  for (let i = 0; i < b.length; i++) {
    let c = b[i] as number;
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** getLongLongFromObjectOrReply: a 64-bit integer argument or "value is not an integer...". */
export function intArg(b: Buffer): number | bigint {
  const v = parseI64(b);
  if (v === undefined) throw ERRORS.notInteger();
  return v;
}

/** getLongFromObjectOrReply on 64-bit Linux (same range as long long). */
export const longArg = intArg;

/** An integer argument that must fit a safe JS number (offsets, counts); huge values clamp. */
export function intArgClamped(b: Buffer): number {
  const v = intArg(b);
  return typeof v === 'number' ? v : v > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
}

const I64_MAX_DIV_1000 = I64_MAX / 1000n;

export type ExpireUnit = 'ex' | 'px' | 'exat' | 'pxat';

/**
 * getExpireMillisecondsOrReply (SET, SETEX, PSETEX, GETEX): the absolute expiry in Unix ms, or
 * "invalid expire time in '<command>' command" for a non-positive time or an overflow.
 */
export function expireArgMs(b: Buffer, unit: ExpireUnit, nowMs: number, command: string): number {
  const v = intArg(b);
  let ms = BigInt(v);
  if (ms <= 0n || ((unit === 'ex' || unit === 'exat') && ms > I64_MAX_DIV_1000)) throw ERRORS.expireTime(command);
  if (unit === 'ex' || unit === 'exat') ms *= 1000n;
  if (unit === 'ex' || unit === 'px') ms += BigInt(nowMs);
  if (ms > I64_MAX) throw ERRORS.expireTime(command);
  return Number(ms);
}

export interface SpecInput {
  name: string;
  arity: number;
  flags: readonly CommandFlag[];
  firstKey?: number;
  lastKey?: number;
  keyStep?: number;
  categories: readonly string[];
  summary: string;
  since: string;
  group: string;
  handler: CommandSpec['handler'];
}

/** A CommandSpec with one-key defaults (first = last = 1, step 1). */
export function spec(s: SpecInput): CommandSpec {
  return {
    name: s.name,
    arity: s.arity,
    flags: s.flags,
    firstKey: s.firstKey ?? 1,
    lastKey: s.lastKey ?? 1,
    keyStep: s.keyStep ?? 1,
    categories: s.categories,
    summary: s.summary,
    since: s.since,
    group: s.group,
    handler: s.handler,
  };
}

/** Redis's encoding name for a string value (OBJECT ENCODING). */
export function stringEncoding(value: Buffer, raw = false): 'int' | 'embstr' | 'raw' {
  if (!raw && value.length <= 20 && parseI64(value) !== undefined) return 'int';
  if (raw) return 'raw';
  return value.length <= 44 ? 'embstr' : 'raw';
}

/**
 * The value to store for an argument: argument buffers may be views into a large socket chunk,
 * and storing such a view would keep the whole chunk alive; those are copied. Small views of a
 * pool slab (what Buffer.from gives) are kept as they are.
 */
export function retain(b: Buffer): Buffer {
  return b.buffer.byteLength > 2 * b.length + 8192 ? Buffer.from(b) : b;
}
