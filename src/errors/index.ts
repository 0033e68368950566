export { ERROR_CODES, type ErrorCode, type ErrorSpec } from './codes.js';
export { RingkvError, isRingkvError, toClientError } from './ringkv-error.js';
