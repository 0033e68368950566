/**
 * Streaming RESP request decoder (sans-IO): feed it socket chunks, pull complete commands.
 *
 * Behaviour follows Redis 7.0's networking.c (processMultibulkBuffer / processInlineBuffer):
 * - a request starting with '*' is a multibulk; anything else is an inline command split with
 *   Redis's sdssplitargs quoting rules;
 * - `*0` and negative counts are ignored; empty inline lines are ignored;
 * - limits and error texts are Redis's: multibulk count > 1024*1024, bulk length < 0 or above
 *   proto-max-bulk-len, header lines or inline requests over 64 KB without a terminator, and the
 *   pre-authentication limits (count > 10, bulk > 16384) when `authRequired()` says so.
 * After a protocol error the decoder is poisoned: every later `next()` throws the same error,
 * and the caller replies it and closes the connection (as Redis does).
 *
 * Memory: nothing is ever allocated from a length the client announced, except an argument
 * array of at most PREALLOC_ARGS_MAX slots for small multibulk counts. A partial request is
 * kept in a buffer that grows (at most doubling) only as bytes arrive, so `$536870000\r\n`
 * followed by silence costs a few bytes, not 512 MB.
 *
 * Zero-copy: multibulk arguments are `subarray` views of the socket chunk (or of the decoder's
 * own buffer when a request spans chunks). Those bytes are never overwritten afterwards, so a
 * view stays valid forever; the price is that a view pins the whole chunk it points into. The
 * memory engine copies small views of large buffers before storing them, so stored values do
 * not pin socket chunks; anyone else keeping an argument long-term should copy it.
 */
import { RingkvError } from '../../errors/index.js';

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
const MINUS = 45;

/** Header lines are scanned for CR in JS up to this many bytes before falling back to indexOf. */
const HEADER_SCAN_BYTES = 24;
/** Redis's PROTO_INLINE_MAX_SIZE. */
export const INLINE_MAX_BYTES = 64 * 1024;
/** Redis 7.0's limit on the element count of a multibulk request. */
export const MULTIBULK_MAX = 1024 * 1024;
/** Redis's limits for clients that still have to authenticate. */
const UNAUTH_MULTIBULK_MAX = 10;
const UNAUTH_BULK_MAX = 16384;

const EMPTY = Buffer.alloc(0);
/** Placeholder between commands; multibulkHeader always installs a fresh array before use. */
const NO_ARGS: Buffer[] = [];
/** Multibulk counts up to this are allocated at their announced size (bounded, so still safe). */
const PREALLOC_ARGS_MAX = 64;

/** A malformed request. `message` is "Protocol error: ..." exactly as Redis words it. */
export class RespProtocolError extends RingkvError {
  constructor(detail: string) {
    super('ERR_PROTOCOL', `Protocol error: ${detail}`);
  }
}

export interface RespDecoderOptions {
  /** Largest bulk argument accepted (config.protoMaxBulkLen). */
  protoMaxBulkLen: number;
  /** When it returns true, Redis's tighter pre-auth limits apply. */
  authRequired?: () => boolean;
}

export class RespDecoder {
  /** Unconsumed bytes are buf[start, end). */
  private buf: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  /** True when buf is our own growable buffer (bytes past `end` are free to write). */
  private owned = false;
  /** Bytes after `start` already known to hold no line terminator (saves rescans). */
  private scanned = 0;

  /** Multibulk in progress: elements still to read, elements read, next bulk length (-1 = header). */
  private argsLeft = 0;
  private args: Buffer[] = NO_ARGS;
  /** Elements of the multibulk in progress stored so far. */
  private argsRead = 0;
  private bulkLen = -1;

  private failure: RespProtocolError | undefined;
  protoMaxBulkLen: number;
  private readonly authRequired: (() => boolean) | undefined;

  constructor(options: RespDecoderOptions) {
    this.protoMaxBulkLen = options.protoMaxBulkLen;
    this.authRequired = options.authRequired;
  }

  /** Bytes received but not yet consumed by a complete command. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** Size of the buffer currently held (tests check it never follows announced lengths). */
  get capacityBytes(): number {
    return this.buf.length;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  feed(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0 || this.failure !== undefined) return;
    if (this.start >= this.end) {
      // Nothing pending: parse straight out of the chunk (the common, zero-copy case).
      this.buf = chunk;
      this.start = 0;
      this.end = n;
      this.owned = false;
      this.scanned = 0;
      return;
    }
    const have = this.end - this.start;
    const need = have + n;
    // Append in place while it fits, unless the buffer is far larger than what it holds (a big
    // argument went through it): then move to a small one so the big one can be collected.
    if (this.owned && this.buf.length - this.end >= n && this.buf.length <= Math.max(4 * need, 64 * 1024)) {
      chunk.copy(this.buf, this.end);
      this.end += n;
      return;
    }
    // Grow from bytes actually received (at most doubling), never from an announced length.
    // The old buffer is left untouched: views already handed out keep pointing at valid bytes.
    const cap = Math.max(need, have * 2, 4096);
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, this.start, this.end);
    chunk.copy(next, have);
    this.buf = next;
    this.start = 0;
    this.end = need;
    this.owned = true;
  }

  /**
   * The next complete command as its arguments (args[0] is the name), or undefined when more
   * bytes are needed. Throws RespProtocolError on malformed input (and keeps throwing it).
   */
  next(): Buffer[] | undefined {
    if (this.failure !== undefined) throw this.failure;
    for (;;) {
      if (this.argsLeft === 0) {
        if (this.start >= this.end) return undefined;
        if (this.buf[this.start] !== STAR) {
          const r = this.inline();
          if (r === undefined || r.length > 0) return r;
          continue; // empty line: ignored
        }
        if (!this.multibulkHeader()) return undefined;
        if (this.argsLeft === 0) continue; // *0 / *-1: ignored
      }
      // Read the elements of the multibulk in progress.
      while (this.argsLeft > 0) {
        if (this.bulkLen < 0 && !this.bulkHeader()) return undefined;
        const len = this.bulkLen;
        const s = this.start;
        // Like Redis, the two bytes after the payload are skipped without inspection.
        if (this.end - s < len + 2) return undefined;
        this.args[this.argsRead++] = this.buf.subarray(s, s + len);
        this.start = s + len + 2;
        this.scanned = 0;
        this.bulkLen = -1;
        this.argsLeft--;
      }
      const args = this.args;
      this.args = NO_ARGS;
      this.argsRead = 0;
      this.releaseIfDrained();
      return args;
    }
  }

  private releaseIfDrained(): void {
    if (this.start >= this.end) {
      // Drop our reference so a consumed chunk can be collected (views keep what they need).
      this.buf = EMPTY;
      this.start = 0;
      this.end = 0;
      this.owned = false;
      this.scanned = 0;
    }
  }

  private fail(detail: string): never {
    this.failure = new RespProtocolError(detail);
    throw this.failure;
  }

  /** Index of the next `byte` in [start + scanned, end), or -1 (remembering how far we looked). */
  private find(byte: number): number {
    const from = this.start + this.scanned;
    const i = this.buf.indexOf(byte, from);
    if (i === -1 || i >= this.end) {
      this.scanned = this.end - this.start;
      return -1;
    }
    return i;
  }

  /**
   * Index of the CR ending a short header line (`*3`, `$100`), found with a JS loop over at most
   * HEADER_SCAN_BYTES bytes: for these few bytes that is cheaper than the native indexOf call
   * (measured in a pipelined SET/GET profile). Falls back to find() for long or incomplete lines.
   */
  private findHeaderCr(): number {
    const buf = this.buf;
    const from = this.start + this.scanned;
    const stop = Math.min(this.end, from + HEADER_SCAN_BYTES);
    for (let i = from; i < stop; i++) if (buf[i] === CR) return i;
    // Remember how far we looked, as find() does, so a line arriving in pieces is not rescanned.
    this.scanned = stop - this.start;
    return stop === this.end ? -1 : this.find(CR);
  }

  /** Parses `*<count>\r\n`. False when the line is incomplete. */
  private multibulkHeader(): boolean {
    const cr = this.findHeaderCr();
    if (cr === -1) {
      if (this.end - this.start > INLINE_MAX_BYTES) this.fail('too big mbulk count string');
      return false;
    }
    if (cr + 1 >= this.end) return false; // the \n has not arrived yet
    const n = parseLength(this.buf, this.start + 1, cr);
    if (Number.isNaN(n) || n > MULTIBULK_MAX) this.fail('invalid multibulk length');
    if (n > UNAUTH_MULTIBULK_MAX && this.authRequired?.() === true) this.fail('unauthenticated multibulk length');
    this.start = cr + 2;
    this.scanned = 0;
    if (n > 0) {
      // Small counts get an array of exactly their size (growing from [] would allocate a
      // 17-slot backing store per command); large ones grow as elements actually arrive.
      this.args = n <= PREALLOC_ARGS_MAX ? new Array<Buffer>(n) : [];
      this.argsRead = 0;
      this.argsLeft = n;
      this.bulkLen = -1;
    } else {
      this.releaseIfDrained();
    }
    return true;
  }

  /** Parses `$<len>\r\n`. False when the line is incomplete. */
  private bulkHeader(): boolean {
    if (this.start >= this.end) return false;
    const cr = this.findHeaderCr();
    if (cr === -1) {
      if (this.end - this.start > INLINE_MAX_BYTES) this.fail('too big bulk count string');
      return false;
    }
    if (cr + 1 >= this.end) return false;
    const first = this.buf[this.start] ?? 0;
    if (first !== DOLLAR) this.fail(`expected '$', got '${String.fromCharCode(first)}'`);
    const n = parseLength(this.buf, this.start + 1, cr);
    if (Number.isNaN(n) || n < 0 || n > this.protoMaxBulkLen) this.fail('invalid bulk length');
    if (n > UNAUTH_BULK_MAX && this.authRequired?.() === true) this.fail('unauthenticated bulk length');
    this.start = cr + 2;
    this.scanned = 0;
    this.bulkLen = n;
    return true;
  }

  /** One inline command; [] for an empty line; undefined when the line is incomplete. */
  private inline(): Buffer[] | undefined {
    const lf = this.find(LF);
    if (lf === -1) {
      if (this.end - this.start > INLINE_MAX_BYTES) this.fail('too big inline request');
      return undefined;
    }
    let lineEnd = lf;
    if (lineEnd > this.start && this.buf[lineEnd - 1] === CR) lineEnd--;
    const args = splitArgs(this.buf, this.start, lineEnd);
    if (args === undefined) this.fail('unbalanced quotes in request');
    this.start = lf + 1;
    this.scanned = 0;
    this.releaseIfDrained();
    return args;
  }
}

/**
 * Redis's string2ll over buf[from, to): optional '-', no leading zeros, no '+', no spaces, must
 * fit in a signed 64-bit integer. NaN when invalid. Values beyond 2^53 lose precision, which
 * does not matter: every caller rejects anything that large.
 */
export function parseLength(buf: Buffer, from: number, to: number): number {
  const len = to - from;
  if (len <= 0 || len > 20) return Number.NaN;
  let i = from;
  let negative = false;
  if (buf[i] === MINUS) {
    negative = true;
    i++;
    if (i === to) return Number.NaN;
  }
  const first = buf[i] ?? 0;
  if (first === 48) return len === 1 ? 0 : Number.NaN; // "0" only; "-0", "01" are invalid
  if (first < 49 || first > 57) return Number.NaN;
  if (to - i > 19) return Number.NaN;
  let v = 0;
  for (; i < to; i++) {
    const d = (buf[i] ?? 0) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  if (v > 9223372036854775807) return Number.NaN;
  return negative ? -v : v;
}

function isSpace(c: number): boolean {
  // C isspace(): space, \t, \n, \v, \f, \r
  return c === 32 || (c >= 9 && c <= 13);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function hexVal(c: number): number {
  if (c <= 57) return c - 48;
  if (c >= 97) return c - 87;
  return c - 55;
}

/**
 * Redis's sdssplitargs over buf[from, to): whitespace-separated tokens; "..." with \n \r \t \b
 * \a \\ \" and \xHH escapes; '...' with \' only; a closing quote must be followed by a space or
 * the end. Undefined for unbalanced quotes. Like the C original, a NUL byte ends the line.
 */
export function splitArgs(buf: Buffer, from: number, to: number): Buffer[] | undefined {
  const nul = buf.indexOf(0, from);
  if (nul !== -1 && nul < to) to = nul;
  const at = (i: number): number => (i < to ? (buf[i] ?? 0) : 0);
  const out: Buffer[] = [];
  let p = from;
  for (;;) {
    while (p < to && isSpace(at(p))) p++;
    if (p >= to) return out;
    let inq = false;
    let insq = false;
    let done = false;
    const cur: number[] = [];
    while (!done) {
      const c = at(p);
      if (inq) {
        if (c === 92 && at(p + 1) === 120 && isHex(at(p + 2)) && isHex(at(p + 3))) {
          cur.push(hexVal(at(p + 2)) * 16 + hexVal(at(p + 3)));
          p += 3;
        } else if (c === 92 && p + 1 < to) {
          p++;
          const e = at(p);
          switch (e) {
            case 110: cur.push(10); break; // n
            case 114: cur.push(13); break; // r
            case 116: cur.push(9); break; // t
            case 98: cur.push(8); break; // b
            case 97: cur.push(7); break; // a
            default: cur.push(e);
          }
        } else if (c === 34) {
          if (p + 1 < to && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (p >= to) {
          return undefined;
        } else {
          cur.push(c);
        }
      } else if (insq) {
        if (c === 92 && at(p + 1) === 39) {
          p++;
          cur.push(39);
        } else if (c === 39) {
          if (p + 1 < to && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (p >= to) {
          return undefined;
        } else {
          cur.push(c);
        }
      } else if (p >= to) {
        done = true;
      } else {
        switch (c) {
          case 32: case 10: case 13: case 9:
            done = true;
            break;
          case 34:
            inq = true;
            break;
          case 39:
            insq = true;
            break;
          default:
            cur.push(c);
        }
      }
      if (p < to) p++;
    }
    out.push(Buffer.from(cur));
  }
}
