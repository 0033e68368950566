/**
 * Number parsing and formatting with Redis 7.0's exact rules, so replies and errors match Redis
 * byte for byte:
 * - integers follow string2ll: optional '-', no '+', no spaces, no leading zeros, "-0" rejected,
 *   at most 20 chars, range of a signed 64-bit integer;
 * - INCRBYFLOAT operands follow strtold's grammar (decimal, exponent, inf/infinity, hex floats
 *   rejected), with no leading space and nothing trailing;
 * - INCRBYFLOAT results are printed like ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros
 *   (and a bare '.') trimmed and "-0" printed as "0".
 *
 * Redis adds in the x87 80-bit long double of x86-64. We emulate that type exactly with BigInt
 * (64-bit mantissa, round to nearest even on parse, add and print), so results are byte-identical
 * to Redis's, "1000 + 0.1 = 1000.09999999999999998" included.
 */

export const I64_MAX = 9223372036854775807n;
export const I64_MIN = -9223372036854775808n;

const ZERO = 48;
const NINE = 57;
const MINUS = 45;

/**
 * string2ll. Returns a number when the value is a safe integer (the common case, no BigInt),
 * a bigint otherwise, undefined when the bytes are not a valid 64-bit integer.
 */
export function parseI64(b: Buffer | string): number | bigint | undefined {
  return typeof b === 'string' ? parseI64Bytes(Buffer.from(b, 'latin1')) : parseI64Bytes(b);
}

function parseI64Bytes(b: Buffer): number | bigint | undefined {
  const len = b.length;
  if (len === 0 || len >= 21) return undefined;
  const c0 = b[0] as number;
  if (len === 1 && c0 === ZERO) return 0;
  let i = 0;
  const negative = c0 === MINUS;
  if (negative) {
    if (len === 1) return undefined;
    i = 1;
  }
  const first = b[i] as number;
  if (first < ZERO + 1 || first > NINE) return undefined;
  let v = 0;
  // Up to 15 digits always fits a double exactly.
  if (len - i <= 15) {
    for (; i < len; i++) {
      const c = b[i] as number;
      if (c < ZERO || c > NINE) return undefined;
      v = v * 10 + (c - ZERO);
    }
    return negative ? -v : v;
  }
  for (let j = i; j < len; j++) {
    const c = b[j] as number;
    if (c < ZERO || c > NINE) return undefined;
  }
  const big = BigInt(b.toString('latin1'));
  if (big > I64_MAX || big < I64_MIN) return undefined;
  return Number.isSafeInteger(Number(big)) ? Number(big) : big;
}

/** string2ll into a bigint (for range checks against LLONG_MAX and friends). */
export function parseI64Big(b: Buffer | string): bigint | undefined {
  const v = parseI64(b);
  return v === undefined ? undefined : BigInt(v);
}

/** A bigint in 64-bit range back to the narrowest JS representation. */
export function narrow(v: bigint): number | bigint {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** Bytes of an integer as Redis prints it (ll2string). */
export function formatInt(v: number | bigint): Buffer {
  const s = typeof v === 'number' ? String(v) : v.toString();
  // Short ASCII: filling a small buffer in JS beats the native string encoder.
  const out = Buffer.allocUnsafe(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * An x87 80-bit long double, the type Redis computes INCRBYFLOAT in on x86-64:
 * value = (negative ? -1 : 1) * mantissa * 2^exp, with a 64-bit mantissa (2^63 <= m < 2^64) or
 * mantissa 0 for zero. Rounding is to nearest, ties to even, as the FPU and glibc's strtold do.
 */
export interface LongDouble {
  negative: boolean;
  mantissa: bigint;
  exp: number;
}

export type ParsedFloat = { kind: 'finite'; value: LongDouble } | { kind: 'inf'; negative: boolean };

/** MAX_LONG_DOUBLE_CHARS: strtold's input buffer in string2ld. */
const MAX_FLOAT_CHARS = 5 * 1024;
/** Decimal exponents far outside long double range are refused before any big arithmetic. */
const EXP10_LIMIT = 5000;
/** LDBL_MAX < 2^16384; the smallest subnormal is 2^-16445. */
const LD_MAX_BITS = 16384;
const LD_MIN_BITS = -16445;
const MANTISSA_BITS = 64;

const FLOAT_RE = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const INF_RE = /^([+-]?)(?:inf|infinity)$/i;

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** num/den (num >= 0, den > 0) rounded to a 64-bit mantissa, ties to even. */
function roundRational(negative: boolean, num: bigint, den: bigint): LongDouble {
  if (num === 0n) return { negative, mantissa: 0n, exp: 0 };
  const shift = MANTISSA_BITS + 3 - (bitLength(num) - bitLength(den));
  const n = shift >= 0 ? num << BigInt(shift) : num;
  const d = shift >= 0 ? den : den << BigInt(-shift);
  const q = n / d;
  const sticky = n % d !== 0n;
  const extra = bitLength(q) - MANTISSA_BITS;
  let m = q >> BigInt(extra);
  const rest = q & ((1n << BigInt(extra)) - 1n);
  const half = 1n << BigInt(extra - 1);
  if (rest > half || (rest === half && (sticky || (m & 1n) === 1n))) m += 1n;
  let e = extra - shift;
  if (bitLength(m) > MANTISSA_BITS) {
    m >>= 1n;
    e += 1;
  }
  return { negative, mantissa: m, exp: e };
}

function outOfRange(v: LongDouble): 'overflow' | 'underflow' | undefined {
  if (v.mantissa === 0n) return undefined;
  const top = MANTISSA_BITS + v.exp;
  if (top > LD_MAX_BITS) return 'overflow';
  if (top < LD_MIN_BITS) return 'underflow';
  return undefined;
}

/**
 * string2ld: undefined when Redis would say "value is not a valid float" (empty, too long,
 * leading space, trailing bytes, NaN, overflow or underflow of long double). Hexadecimal floats,
 * which strtold also reads, are refused.
 */
export function parseLongDouble(b: Buffer | string): ParsedFloat | undefined {
  if (b.length === 0 || b.length >= MAX_FLOAT_CHARS) return undefined;
  const s = typeof b === 'string' ? b : b.toString('latin1');
  const inf = INF_RE.exec(s);
  if (inf) return { kind: 'inf', negative: inf[1] === '-' };
  const m = FLOAT_RE.exec(s);
  if (!m) return undefined;
  const negative = m[1] === '-';
  const intPart = m[2] ?? '';
  const fracPart = m[3] ?? m[4] ?? '';
  const expText = m[5];
  let exp = expText === undefined ? 0 : Number(expText);
  const digits = (intPart + fracPart).replace(/^0+/, '');
  if (digits.length === 0) return { kind: 'finite', value: { negative, mantissa: 0n, exp: 0 } };
  exp -= fracPart.length;
  const magnitude = exp + digits.length;
  if (!Number.isFinite(exp) || magnitude > EXP10_LIMIT) return undefined;
  if (magnitude < -EXP10_LIMIT) return undefined;
  const d = BigInt(digits);
  const value = exp >= 0 ? roundRational(negative, d * pow10(exp), 1n) : roundRational(negative, d, pow10(-exp));
  if (outOfRange(value) !== undefined) return undefined;
  return { kind: 'finite', value };
}

/** a + b in long double arithmetic; undefined when the sum overflows to infinity. */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | undefined {
  if (a.mantissa === 0n) return b.mantissa === 0n ? { negative: a.negative && b.negative, mantissa: 0n, exp: 0 } : b;
  if (b.mantissa === 0n) return a;
  const e = Math.min(a.exp, b.exp);
  const sa = (a.negative ? -a.mantissa : a.mantissa) << BigInt(a.exp - e);
  const sb = (b.negative ? -b.mantissa : b.mantissa) << BigInt(b.exp - e);
  const sum = sa + sb;
  if (sum === 0n) return { negative: false, mantissa: 0n, exp: 0 };
  const r = roundRational(sum < 0n, sum < 0n ? -sum : sum, 1n);
  const out = { negative: r.negative, mantissa: r.mantissa, exp: r.exp + e };
  return outOfRange(out) === 'overflow' ? undefined : out;
}

/** snprintf("%.17Lf") with trailing zeros (and a bare '.') trimmed and "-0" as "0". */
export function formatLongDouble(v: LongDouble): string {
  if (v.mantissa === 0n) return '0';
  let text: string;
  if (v.exp >= 0) {
    text = (v.mantissa << BigInt(v.exp)).toString();
  } else {
    const num = v.mantissa * pow10(17);
    const den = 1n << BigInt(-v.exp);
    let q = num / den;
    const r2 = (num % den) * 2n;
    if (r2 > den || (r2 === den && (q & 1n) === 1n)) q += 1n;
    let digits = q.toString();
    if (digits.length <= 17) digits = '0'.repeat(18 - digits.length) + digits;
    const intPart = digits.slice(0, digits.length - 17);
    const frac = digits.slice(digits.length - 17).replace(/0+$/, '');
    text = frac.length > 0 ? `${intPart}.${frac}` : intPart;
  }
  if (text === '0') return '0';
  return v.negative ? '-' + text : text;
}
