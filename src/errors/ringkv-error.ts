/**
 * The one error class that crosses component boundaries. `message` is what a client sees
 * (for RESP it is the text after the prefix, matching Redis 7's wording where Redis has one).
 */
import { ERROR_CODES, type ErrorCode } from './codes.js';

export class RingkvError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RingkvError';
    this.code = code;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }

  /** The full RESP error line without the leading '-' (e.g. "WRONGTYPE Operation against..."). */
  toRespLine(): string {
    const prefix = ERROR_CODES[this.code].respPrefix;
    return this.message.startsWith(prefix + ' ') ? this.message : `${prefix} ${this.message}`;
  }
}

export function isRingkvError(e: unknown): e is RingkvError {
  return e instanceof RingkvError;
}

/** Whatever was thrown, the text a client may see: never a stack trace. */
export function toClientError(e: unknown): RingkvError {
  if (e instanceof RingkvError) return e;
  return new RingkvError('ERR_INTERNAL', 'internal error', { cause: e });
}
