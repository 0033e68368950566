/**
 * `ringkv/client`: the TypeScript client of ringkv's HTTP API (one-hop routing over the ring,
 * keep-alive pools, per-call consistency, sibling resolution, typed errors).
 */
export {
  RingkvClient, encodeKeyPath,
  type ClientOptions, type Consistency, type KeyInput, type ReadOptions, type ReadValue, type WriteOptions,
  type BatchWriteItem, type BatchWriteResult, type RequestEvent, type SiblingResolver,
} from './client.js';
export { RingkvClientError, MaybeAppliedError, CLIENT_CODES } from './errors.js';
export type { RingSnapshot } from './ring.js';
