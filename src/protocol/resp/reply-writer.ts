/**
 * Command handlers answer by writing into a ReplyWriter rather than returning reply objects:
 * the writer encodes straight into the connection's output buffer, so a GET costs no reply
 * allocation. The writer knows the connection's protocol (2 or 3) and picks the encoding:
 * `nil` is `$-1` in RESP2 and `_` in RESP3, `map(n)` is a flat array of 2n in RESP2, etc.
 *
 * A handler writes exactly one complete reply (an aggregate header followed by its elements
 * counts as one) before its returned MaybePromise settles.
 */
import type { RingkvError } from '../../errors/index.js';

export interface ReplyWriter {
  readonly protocol: 2 | 3;
  simple(s: string): void;
  /** `-` + line; the line starts with its prefix ("ERR ...", "WRONGTYPE ..."). */
  errorLine(line: string): void;
  error(e: RingkvError): void;
  integer(n: number | bigint): void;
  bulk(b: Buffer | string): void;
  nil(): void;
  /** RESP3 `,`; RESP2 bulk string of the same text. */
  double(n: number): void;
  /** RESP3 `#`; RESP2 integer 1/0. */
  boolean(b: boolean): void;
  /** Header of an array of n elements; write the n elements next. */
  array(n: number): void;
  /** RESP2: `*-1`; RESP3: `_`. */
  nilArray(): void;
  /** RESP3 `%n`; RESP2 array of 2n. Write n key, value pairs next. */
  map(n: number): void;
  /** RESP3 `~n`; RESP2 array of n. */
  set(n: number): void;
  /** RESP3 verbatim string (`=`) with format "txt"; RESP2 bulk. */
  verbatim(s: string): void;
  /** A RESP3 push (`>n`); RESP2 array. */
  push(n: number): void;
}
