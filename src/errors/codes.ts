/**
 * The error registry: every error a client can see has one stable code here, with its
 * RESP prefix, HTTP status and whether retrying may help. Clients match on `code`, never on
 * message text. Edges (RESP server, HTTP app) map codes through this table and nowhere else.
 *
 * "Did not happen" (ERR_UNAVAILABLE) and "may have happened" (ERR_MAYBE_APPLIED) are distinct
 * on purpose: a client may blindly retry the first, but must read before retrying the second.
 */

export interface ErrorSpec {
  /** First word of a RESP error reply ("ERR", "WRONGTYPE", "OOM", ...). */
  readonly respPrefix: string;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly description: string;
}

export const ERROR_CODES = {
  ERR_SYNTAX: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'Malformed command or request.' },
  ERR_WRONG_ARGS: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'Wrong number of arguments for a command.' },
  ERR_UNKNOWN_COMMAND: { respPrefix: 'ERR', httpStatus: 404, retryable: false, description: 'The command does not exist.' },
  ERR_NOT_INTEGER: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'Value is not an integer or out of range.' },
  ERR_NOT_FLOAT: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'Value is not a valid float.' },
  ERR_INVALID_ARGUMENT: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'An argument is out of its allowed range.' },
  ERR_WRONG_TYPE: { respPrefix: 'WRONGTYPE', httpStatus: 409, retryable: false, description: 'Operation against a key holding the wrong kind of value.' },
  ERR_NO_SUCH_KEY: { respPrefix: 'ERR', httpStatus: 404, retryable: false, description: 'The key does not exist.' },
  ERR_KEY_TOO_LARGE: { respPrefix: 'ERR', httpStatus: 413, retryable: false, description: 'Key longer than the configured maximum.' },
  ERR_VALUE_TOO_LARGE: { respPrefix: 'ERR', httpStatus: 413, retryable: false, description: 'Value larger than the configured maximum.' },
  ERR_PROTOCOL: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'Protocol error; the connection is closed.' },
  ERR_MAX_CLIENTS: { respPrefix: 'ERR', httpStatus: 503, retryable: true, description: 'Too many connected clients.' },
  ERR_OOM: { respPrefix: 'OOM', httpStatus: 507, retryable: false, description: "Used memory is above 'maxmemory' and the policy forbids eviction." },
  ERR_NO_AUTH: { respPrefix: 'NOAUTH', httpStatus: 401, retryable: false, description: 'Authentication required.' },
  ERR_WRONG_PASS: { respPrefix: 'WRONGPASS', httpStatus: 401, retryable: false, description: 'Invalid username-password pair.' },
  ERR_NO_PROTO: { respPrefix: 'NOPROTO', httpStatus: 400, retryable: false, description: 'Unsupported RESP protocol version (HELLO).' },
  ERR_EXEC_ABORT: { respPrefix: 'EXECABORT', httpStatus: 409, retryable: false, description: 'EXEC refused: a command failed to queue in the transaction; nothing ran.' },
  ERR_CONDITION_FAILED: { respPrefix: 'ERR', httpStatus: 412, retryable: false, description: 'A conditional write found the key changed.' },
  ERR_TOO_MANY_SIBLINGS: { respPrefix: 'SIBLINGS', httpStatus: 409, retryable: false, description: 'The key holds the maximum number of concurrent versions; write with a context to resolve them.' },
  ERR_UNAVAILABLE: { respPrefix: 'UNAVAILABLE', httpStatus: 503, retryable: true, description: 'Not enough replicas reachable; the operation did not happen.' },
  ERR_MAYBE_APPLIED: { respPrefix: 'MAYBE', httpStatus: 504, retryable: false, description: 'Timed out after some replica applied the write; it may have happened.' },
  ERR_TIMEOUT: { respPrefix: 'TIMEOUT', httpStatus: 504, retryable: true, description: 'A read timed out before enough replicas answered.' },
  ERR_OVERLOADED: { respPrefix: 'BUSY', httpStatus: 503, retryable: true, description: 'Too many requests in flight.' },
  ERR_SHUTTING_DOWN: { respPrefix: 'SHUTDOWN', httpStatus: 503, retryable: true, description: 'The node is shutting down.' },
  ERR_TOPOLOGY_BUSY: { respPrefix: 'TRYAGAIN', httpStatus: 409, retryable: true, description: 'Another ring change is in flight; retry once it commits.' },
  ERR_CLUSTER_DISABLED: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'A cluster command sent to a node running standalone (no cluster node id).' },
  ERR_UNKNOWN_NODE: { respPrefix: 'ERR', httpStatus: 404, retryable: false, description: 'No such cluster member.' },
  ERR_CONFIG: { respPrefix: 'ERR', httpStatus: 400, retryable: false, description: 'Invalid configuration.' },
  ERR_NOT_FOUND: { respPrefix: 'ERR', httpStatus: 404, retryable: false, description: 'No such HTTP route.' },
  ERR_METHOD_NOT_ALLOWED: { respPrefix: 'ERR', httpStatus: 405, retryable: false, description: 'The HTTP route does not accept this method.' },
  ERR_INTERNAL: { respPrefix: 'ERR', httpStatus: 500, retryable: false, description: 'Internal error; details are in the server log.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;
