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
 * Redis adds in 80-bit long double. We add exactly in decimal instead (BigInt mantissa and a
 * power-of-ten scale) and round to 17 fractional digits, which prints what Redis prints for every
 * operand with fewer than ~19 significant digits ("0.1 + 0.2" gives "0.3", as in Redis) and never
 * accumulates binary rounding error.
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
  const s = typeof b === 'string' ? b : undefined;
  const len = b.length;
  if (len === 0 || len >= 21) return undefined;
  const at = (i: number): number => (s !== undefined ? s.charCodeAt(i) : (b as Buffer)[i] as number);
  let i = 0;
  let negative = false;
  if (len === 1 && at(0) === ZERO) return 0;
  if (at(0) === MINUS) {
    negative = true;
    i = 1;
    if (len === 1) return undefined;
  }
  const first = at(i);
  if (first < ZERO + 1 || first > NINE) return undefined;
  // Up to 15 digits always fits a double exactly.
  if (len - i <= 15) {
    let v = 0;
    for (; i < len; i++) {
      const c = at(i);
      if (c < ZERO || c > NINE) return undefined;
      v = v * 10 + (c - ZERO);
    }
    return negative ? -v : v;
  }
  for (let j = i; j < len; j++) {
    const c = at(j);
    if (c < ZERO || c > NINE) return undefined;
  }
  const text = s !== undefined ? s : (b as Buffer).toString('latin1');
  const big = BigInt(text);
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
  return Buffer.from(typeof v === 'number' ? String(v) : v.toString(), 'latin1');
}

/** An exact decimal: value = mantissa * 10^exp. */
export interface Decimal {
  mantissa: bigint;
  exp: number;
}

export type ParsedFloat = { kind: 'finite'; value: Decimal } | { kind: 'inf'; negative: boolean };

/** Beyond this decimal exponent the value is outside long double range (about 1e±4932). */
const EXP_LIMIT = 4950;
/** Largest decimal exponent of a finite long double (LDBL_MAX is about 1.19e4932). */
const LONG_DOUBLE_MAX_EXP10 = 4931;
/** MAX_LONG_DOUBLE_CHARS: strtold's input buffer in string2ld. */
const MAX_FLOAT_CHARS = 5 * 1024;

const FLOAT_RE = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const INF_RE = /^([+-]?)(?:inf|infinity)$/i;

/**
 * string2ld: undefined when Redis would say "value is not a valid float" (empty, too long,
 * leading space, trailing bytes, NaN, overflow or underflow of long double).
 */
export function parseLongDouble(b: Buffer | string): ParsedFloat | undefined {
  if (b.length === 0 || b.length >= MAX_FLOAT_CHARS) return undefined;
  const s = typeof b === 'string' ? b : b.toString('latin1');
  const inf = INF_RE.exec(s);
  if (inf) return { kind: 'inf', negative: inf[1] === '-' };
  const m = FLOAT_RE.exec(s);
  if (!m) return undefined;
  const intPart = m[2] ?? '';
  const fracPart = m[3] ?? m[4] ?? '';
  const expText = m[5];
  let exp = expText === undefined ? 0 : Number(expText);
  if (!Number.isFinite(exp)) return undefined;
  const digits = (intPart + fracPart).replace(/^0+/, '');
  exp -= fracPart.length;
  if (digits.length === 0) return { kind: 'finite', value: { mantissa: 0n, exp: 0 } };
  // Magnitude check (decimal exponent of the leading digit).
  const magnitude = exp + digits.length - 1;
  if (magnitude > EXP_LIMIT || magnitude < -EXP_LIMIT) return undefined;
  let mantissa = BigInt(digits);
  if (m[1] === '-') mantissa = -mantissa;
  return { kind: 'finite', value: { mantissa, exp } };
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

export function addDecimal(a: Decimal, b: Decimal): Decimal {
  if (a.exp === b.exp) return { mantissa: a.mantissa + b.mantissa, exp: a.exp };
  if (a.exp < b.exp) return { mantissa: a.mantissa + b.mantissa * pow10(b.exp - a.exp), exp: a.exp };
  return { mantissa: a.mantissa * pow10(a.exp - b.exp) + b.mantissa, exp: b.exp };
}

/** True when the value is beyond long double range (where Redis's sum would be inf). */
export function decimalOverflows(d: Decimal): boolean {
  if (d.mantissa === 0n) return false;
  const digits = (d.mantissa < 0n ? -d.mantissa : d.mantissa).toString().length;
  return d.exp + digits - 1 > LONG_DOUBLE_MAX_EXP10;
}

/** "%.17Lf" with trailing zeros trimmed and "-0" as "0" (ld2string LD_STR_HUMAN). */
export function formatDecimal(d: Decimal): string {
  let { mantissa, exp } = d;
  // Round half to even at 17 fractional digits.
  if (exp < -17) {
    const div = pow10(-17 - exp);
    const neg = mantissa < 0n;
    const abs = neg ? -mantissa : mantissa;
    let q = abs / div;
    const r = abs % div;
    const twice = r * 2n;
    if (twice > div || (twice === div && (q & 1n) === 1n)) q += 1n;
    mantissa = neg ? -q : q;
    exp = -17;
  }
  const neg = mantissa < 0n;
  let digits = (neg ? -mantissa : mantissa).toString();
  let out: string;
  if (exp >= 0) {
    out = mantissa === 0n ? '0' : digits + '0'.repeat(exp);
  } else {
    const frac = -exp;
    if (digits.length <= frac) digits = '0'.repeat(frac - digits.length + 1) + digits;
    const intPart = digits.slice(0, digits.length - frac);
    const fracPart = digits.slice(digits.length - frac).replace(/0+$/, '');
    out = fracPart.length > 0 ? `${intPart}.${fracPart}` : intPart;
  }
  if (out === '0') return '0';
  return neg ? '-' + out : out;
}
