/**
 * Errors the client library throws. Callers match on `code` (the server's registry codes, plus
 * the transport's own), never on message text.
 *
 * Three outcomes a caller must tell apart:
 * - retryable (`retryable === true`): the operation did not happen (ERR_UNAVAILABLE, ERR_TIMEOUT
 *   on a read, ERR_OVERLOADED, a connection refused before anything was sent); the client has
 *   already retried these up to its limit.
 * - MaybeAppliedError (code ERR_MAYBE_APPLIED): a write may or may not have happened (the
 *   server said so, or the connection broke after the request went out). Read before retrying.
 * - anything else: did not happen, and retrying the same request will fail the same way.
 */
export class RingkvClientError extends Error {
  readonly code: string;
  /** HTTP status of the answer; 0 when no answer arrived. */
  readonly status: number;
  readonly retryable: boolean;
  /** The node that answered or was being asked. */
  readonly node: string | undefined;

  constructor(code: string, message: string, options: { status?: number; retryable?: boolean; node?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RingkvClientError';
    this.code = code;
    this.status = options.status ?? 0;
    this.retryable = options.retryable ?? false;
    this.node = options.node;
  }
}

/** The write may have happened: read the key before deciding to write again. */
export class MaybeAppliedError extends RingkvClientError {
  constructor(message: string, options: { status?: number; node?: string; cause?: unknown } = {}) {
    super('ERR_MAYBE_APPLIED', message, { ...options, retryable: false });
    this.name = 'MaybeAppliedError';
  }
}

/** Transport-level codes (no server answer). */
export const CLIENT_CODES = {
  /** Could not connect (refused, unreachable): nothing was sent. Retryable. */
  connect: 'ERR_UNAVAILABLE',
  /** A read got no answer in time. Retryable. */
  readTimeout: 'ERR_TIMEOUT',
  /** No seed answered the ring request. */
  noSeeds: 'ERR_NO_SEEDS',
  /** The answer was not what the API documents. */
  badResponse: 'ERR_BAD_RESPONSE',
  /** The client was closed. */
  closed: 'ERR_CLOSED',
} as const;
