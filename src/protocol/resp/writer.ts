/**
 * RespWriter: the ReplyWriter of one connection, encoding RESP2 or RESP3 into an output buffer
 * that the connection drains to the socket once per read batch (cork-like), not per reply.
 *
 * Buffering: replies are written into a slab; `drain` hands out views of the slab and never
 * writes into a region it handed out (a full slab is replaced, not reused), so the socket may
 * hold those views as long as it likes without a copy. Bulk payloads of BIG_BULK_BYTES or more
 * are handed out as they are (zero-copy): callers must not mutate a Buffer after passing it.
 *
 * Reply boundaries: the connection calls `beginReply()` before a handler and `endReply()` after
 * it; they nest (EXEC's reply holds its commands' replies). `rollback()` discards whatever was
 * written since the innermost `beginReply()` (so a handler throwing after an array header
 * cannot corrupt the stream), and `drain` never sends bytes of an unfinished outermost reply.
 *
 * Strings are byte strings: every `string` argument is encoded latin1 (one char = one byte), the
 * same convention as storage Keys, so text built from client bytes round-trips exactly. Text
 * with characters above U+00FF must be passed as a Buffer.
 *
 * Doubles use Redis 7.0's `%.17g` (RESP2 bulk, RESP3 `,`), with inf/-inf/nan spelled out.
 */
import type { RingkvError } from '../../errors/index.js';
import type { ReplyWriter } from './reply-writer.js';

const SLAB_BYTES = 16 * 1024;
const BIG_BULK_BYTES = 32 * 1024;
/** Below this, strings are copied byte by byte in JS (cheaper than a native write call). */
const SHORT_STRING_CHARS = 64;

const CRLF_NIL2 = Buffer.from('$-1\r\n');
const NIL3 = Buffer.from('_\r\n');
const NIL_ARRAY2 = Buffer.from('*-1\r\n');

/** Whoever decides the protocol (the connection's client state; HELLO changes it). */
export interface ProtocolHolder {
  protocol: 2 | 3;
}

export class RespWriter implements ReplyWriter {
  private readonly holder: ProtocolHolder;
  private readonly slabBytes: number;

  /** `slabBytes`: smaller for a writer that holds one pipelined reply (see appendFrom). */
  constructor(holder: ProtocolHolder = { protocol: 2 }, slabBytes = SLAB_BYTES) {
    this.holder = holder;
    this.slabBytes = slabBytes;
  }

  get protocol(): 2 | 3 {
    return this.holder.protocol;
  }

  /** Bytes drained so far (INFO total_net_output_bytes). */
  bytesWritten = 0;
  /** Called with every error line written (INFO errorstats). */
  onErrorReply: ((line: string) => void) | undefined;

  private slab: Buffer = Buffer.allocUnsafeSlow(0);
  private pos = 0;
  /** Start of the not yet drained part of the slab. */
  private flushed = 0;
  /** Finished pieces (old slab tails, big payloads) waiting to be drained, in order. */
  private readonly chunks: Buffer[] = [];

  /**
   * Reply marks, innermost last: replies nest (EXEC's array holds one reply per queued
   * command), each level can be rolled back on its own. Index 0 is the outermost reply.
   */
  private depth = 0;
  private readonly markSlab: Buffer[] = [];
  private readonly markPos: number[] = [];
  private readonly markChunks: number[] = [];
  private readonly markFlushed: number[] = [];

  // ---- reply boundaries -------------------------------------------------------------------

  beginReply(): void {
    const d = this.depth++;
    this.markSlab[d] = this.slab;
    this.markPos[d] = this.pos;
    this.markChunks[d] = this.chunks.length;
    this.markFlushed[d] = this.flushed;
  }

  endReply(): void {
    if (this.depth === 0) throw new RangeError('endReply without beginReply');
    this.depth--;
  }

  /** Discards everything written since the innermost beginReply(). */
  rollback(): void {
    const d = this.depth - 1;
    if (d < 0) throw new RangeError('rollback without beginReply');
    this.slab = this.markSlab[d] as Buffer;
    this.pos = this.markPos[d] as number;
    this.flushed = this.markFlushed[d] as number;
    this.chunks.length = this.markChunks[d] as number;
  }

  /** True when something was written since the innermost beginReply(). */
  get replyStarted(): boolean {
    const d = this.depth - 1;
    if (d < 0) return false;
    return this.pos !== this.markPos[d] || this.slab !== this.markSlab[d] || this.chunks.length !== this.markChunks[d];
  }

  /** True when there is something to drain. */
  get pending(): boolean {
    return this.chunks.length > 0 || this.pos > this.flushed;
  }

  /** Bytes waiting to be drained (finished or not). */
  get pendingBytes(): number {
    let n = this.pos - this.flushed;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  /**
   * Passes every finished reply byte to `sink`, in order. While a reply is in progress only the
   * bytes before it are drained, and only when that can be done without splitting it.
   * Returns the number of buffers passed.
   */
  drain(sink: (b: Buffer) => void): number {
    if (this.depth > 0) {
      // Only the common case: the unfinished outermost reply still sits in the same slab, after
      // everything that is finished. Otherwise wait for it to finish.
      const markPos = this.markPos[0] as number;
      const markChunks = this.markChunks[0] as number;
      if (this.slab !== this.markSlab[0] || this.chunks.length !== markChunks) return 0;
      let n = 0;
      for (const c of this.chunks) {
        this.bytesWritten += c.length;
        sink(c);
        n++;
      }
      this.chunks.length = 0;
      if (markPos > this.flushed) {
        this.bytesWritten += markPos - this.flushed;
        sink(this.slab.subarray(this.flushed, markPos));
        n++;
      }
      this.flushed = markPos;
      // Inner marks were taken later in the same slab with no chunk added: keep them in step.
      for (let d = 0; d < this.depth; d++) {
        this.markChunks[d] = 0;
        this.markFlushed[d] = markPos;
      }
      return n;
    }
    let n = 0;
    for (const c of this.chunks) {
      this.bytesWritten += c.length;
      sink(c);
      n++;
    }
    this.chunks.length = 0;
    if (this.pos > this.flushed) {
      this.bytesWritten += this.pos - this.flushed;
      sink(this.slab.subarray(this.flushed, this.pos));
      n++;
      this.flushed = this.pos;
    }
    return n;
  }

  /**
   * Moves every finished reply of `other` to the end of this writer, in order: a command that
   * ran concurrently with others of its connection wrote its reply apart, and it joins the
   * connection's output once every earlier reply has. Must not be called inside an open reply.
   */
  appendFrom(other: RespWriter): void {
    if (this.depth > 0) throw new RangeError('appendFrom inside an open reply');
    other.drain((b) => {
      if (b.length >= BIG_BULK_BYTES) {
        this.cut();
        this.chunks.push(b);
      } else {
        this.raw(b);
      }
    });
  }

  // ---- ReplyWriter ------------------------------------------------------------------------

  simple(s: string): void {
    this.line(43, s); // +
  }

  errorLine(line: string): void {
    this.onErrorReply?.(line);
    this.line(45, line); // -
  }

  error(e: RingkvError): void {
    this.errorLine(e.toRespLine());
  }

  integer(n: number | bigint): void {
    if (typeof n === 'number' && Number.isSafeInteger(n)) {
      this.ensure(24);
      this.slab[this.pos++] = 58; // :
      this.digits(n);
      this.crlf();
    } else if (typeof n === 'bigint') {
      this.ascii(`:${n.toString()}\r\n`);
    } else {
      // A non-integral or unsafe number here is a handler bug; never emit "1e+21" or "NaN".
      if (!Number.isFinite(n)) throw new RangeError(`integer reply must be finite, got ${n}`);
      this.ascii(`:${BigInt(Math.trunc(n)).toString()}\r\n`);
    }
  }

  bulk(b: Buffer | string): void {
    if (typeof b === 'string') {
      const len = b.length;
      this.ensure(len + 16);
      this.slab[this.pos++] = 36; // $
      this.digits(len);
      this.crlf();
      if (len <= SHORT_STRING_CHARS) {
        const slab = this.slab;
        let p = this.pos;
        for (let i = 0; i < len; i++) slab[p++] = b.charCodeAt(i);
        this.pos = p;
      } else {
        this.pos += this.slab.write(b, this.pos, len, 'latin1');
      }
      this.crlf();
      return;
    }
    const len = b.length;
    if (len >= BIG_BULK_BYTES) {
      this.ensure(16);
      this.slab[this.pos++] = 36;
      this.digits(len);
      this.crlf();
      this.cut();
      this.chunks.push(b);
      this.ensure(2);
      this.crlf();
      return;
    }
    this.ensure(len + 16);
    this.slab[this.pos++] = 36;
    this.digits(len);
    this.crlf();
    b.copy(this.slab, this.pos);
    this.pos += len;
    this.crlf();
  }

  nil(): void {
    this.raw(this.protocol === 3 ? NIL3 : CRLF_NIL2);
  }

  double(n: number): void {
    if (this.protocol === 3) {
      this.ascii(`,${formatDouble(n)}\r\n`);
    } else {
      this.bulk(formatDouble(n));
    }
  }

  boolean(b: boolean): void {
    if (this.protocol === 3) this.ascii(b ? '#t\r\n' : '#f\r\n');
    else this.ascii(b ? ':1\r\n' : ':0\r\n');
  }

  array(n: number): void {
    this.header(42, n); // *
  }

  nilArray(): void {
    this.raw(this.protocol === 3 ? NIL3 : NIL_ARRAY2);
  }

  map(n: number): void {
    if (this.protocol === 3) this.header(37, n); // %
    else this.header(42, n * 2);
  }

  set(n: number): void {
    this.header(this.protocol === 3 ? 126 : 42, n); // ~
  }

  verbatim(s: string): void {
    if (this.protocol === 2) {
      this.bulk(s);
      return;
    }
    const len = s.length + 4;
    this.ensure(len + 16);
    this.slab[this.pos++] = 61; // =
    this.digits(len);
    this.crlf();
    this.pos += this.slab.write('txt:', this.pos, 4, 'latin1');
    if (s.length > 0) this.pos += this.slab.write(s, this.pos, s.length, 'latin1');
    this.crlf();
  }

  push(n: number): void {
    this.header(this.protocol === 3 ? 62 : 42, n); // >
  }

  // ---- encoding helpers -------------------------------------------------------------------

  private header(type: number, n: number): void {
    this.ensure(24);
    this.slab[this.pos++] = type;
    this.digits(n);
    this.crlf();
  }

  /** A status or error line; CR and LF become spaces, as Redis does, to keep the stream valid. */
  private line(type: number, s: string): void {
    const len = s.length;
    this.ensure(len + 3);
    const slab = this.slab;
    slab[this.pos++] = type;
    if (len <= SHORT_STRING_CHARS) {
      // Short lines (PONG, OK, most errors): one pass copies and sanitizes, no native call.
      let p = this.pos;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        slab[p++] = c === 13 || c === 10 ? 32 : c;
      }
      this.pos = p;
    } else {
      const text = s.includes('\r') || s.includes('\n') ? s.replace(/[\r\n]/g, ' ') : s;
      this.pos += slab.write(text, this.pos, len, 'latin1');
    }
    this.crlf();
  }

  private ascii(s: string): void {
    this.ensure(s.length);
    this.pos += this.slab.write(s, this.pos, s.length, 'latin1');
  }

  private raw(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.slab, this.pos);
    this.pos += b.length;
  }

  private crlf(): void {
    this.slab[this.pos++] = 13;
    this.slab[this.pos++] = 10;
  }

  /** Writes a safe integer in decimal; room must already be ensured. */
  private digits(n: number): void {
    if (n < 0) {
      this.slab[this.pos++] = 45;
      n = -n;
    }
    if (n < 10) {
      this.slab[this.pos++] = 48 + n;
      return;
    }
    let len = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
    let i = this.pos + len - 1;
    while (n >= 10) {
      const q = Math.floor(n / 10);
      this.slab[i--] = 48 + (n - q * 10);
      n = q;
    }
    this.slab[i] = 48 + n;
    this.pos += len;
  }

  /** Moves the slab's unsent tail to the chunk list (before pushing a zero-copy payload). */
  private cut(): void {
    if (this.pos > this.flushed) this.chunks.push(this.slab.subarray(this.flushed, this.pos));
    this.flushed = this.pos;
  }

  /** Makes room for n more bytes, counting them as written. */
  private ensure(n: number): void {
    if (this.slab.length - this.pos >= n) return;
    this.cut();
    // A fresh slab: the old one's drained regions may still be queued in the socket.
    this.slab = Buffer.allocUnsafeSlow(Math.max(this.slabBytes, n));
    this.pos = 0;
    this.flushed = 0;
  }
}

/**
 * C's printf("%.17g") for a double, as Redis 7.0 replies doubles, with "inf", "-inf", "nan".
 */
export function formatDouble(d: number): string {
  if (Number.isNaN(d)) return 'nan';
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const e = d.toExponential(16); // 17 significant digits, correctly rounded
  const ePos = e.indexOf('e');
  const exp = Number(e.slice(ePos + 1));
  if (exp < -4 || exp >= 17) {
    const mantissa = stripZeros(e.slice(0, ePos));
    const absExp = Math.abs(exp);
    return `${mantissa}e${exp < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
  }
  return stripZeros(d.toFixed(16 - exp));
}

function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  let end = s.length;
  while (s.charCodeAt(end - 1) === 48) end--;
  if (s.charCodeAt(end - 1) === 46) end--;
  return s.slice(0, end);
}
