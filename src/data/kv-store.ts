/**
 * The data-access boundary. Front ends (RESP, HTTP) talk only to a KvStore, never to a storage
 * engine: a single node serves it with LocalKvStore, the cluster coordinator serves it by
 * quorum over replicas, and the command layer does not change between the two.
 *
 * Atomicity: each method is atomic for one key. `update` is an atomic read-modify-write of
 * one key (locally under the key's turn; in a cluster as a read with context followed by a
 * write conditioned on that context, retried). `updateMany` is atomic across its keys on a
 * single node; in a cluster it is atomic only when the keys share a slot (hash tag).
 *
 * Results are MaybePromise so the in-memory path answers without allocating promises.
 */
import type { Key } from '../storage/engine.js';
import type { MaybePromise } from '../util/maybe-promise.js';

export type { Key };

/** ONE, TWO, QUORUM, ALL or an explicit replica count. */
export type ConsistencyLevel = 'one' | 'two' | 'quorum' | 'all' | number;

export interface KvEntry {
  value: Buffer;
  /** Absolute expiry, Unix ms; 0 = none. */
  expiresAtMs: number;
}

export interface ReadOptions {
  consistency?: ConsistencyLevel;
}

/**
 * Per-connection consistency levels (RESP CONSISTENCY): a mutable object the connection owns;
 * a store view made with `withConsistency` reads it on every call, so a change applies to the
 * next command. Absent levels fall back to the store's defaults; a per-call option wins.
 */
export interface ConsistencyScope {
  read?: ConsistencyLevel;
  write?: ConsistencyLevel;
}

export type Expiry =
  | { kind: 'none' }
  | { kind: 'keep' }
  | { kind: 'at'; atMs: number };

export interface WriteOptions {
  consistency?: ConsistencyLevel;
  /** Default: none (a plain SET clears any TTL, as in Redis). */
  expiry?: Expiry;
  /** nx: only if absent; xx: only if present. */
  condition?: 'nx' | 'xx';
  /** Return the entry the write replaced (SET ... GET, GETSET). */
  returnPrevious?: boolean;
}

export interface PutResult {
  /** False when the condition did not hold (nothing was written). */
  written: boolean;
  previous?: KvEntry | undefined;
}

/** What an update function decides for one key. */
export type KeyWrite =
  | undefined // leave as is
  | { kind: 'put'; value: Buffer; expiresAtMs: number }
  | { kind: 'delete' };

export interface UpdateDecision<R> {
  write: KeyWrite;
  result: R;
}

export interface UpdateManyDecision<R> {
  /** One entry per key passed in, same order. */
  writes: KeyWrite[];
  result: R;
}

export interface ScanPage {
  /** '0' when the scan is complete (Redis's convention). */
  cursor: string;
  keys: Key[];
}

export interface KvStats {
  keys: number;
  keysWithExpiry: number;
  usedBytes: number;
  expiredKeys: number;
  evictedKeys: number;
}

export interface KvStore {
  get(key: Key, options?: ReadOptions): MaybePromise<KvEntry | undefined>;
  getMany(keys: readonly Key[], options?: ReadOptions): MaybePromise<(KvEntry | undefined)[]>;
  put(key: Key, value: Buffer, options?: WriteOptions): MaybePromise<PutResult>;
  /** Writes all pairs (MSET). Atomic on one node. */
  putMany(entries: readonly (readonly [Key, Buffer])[], options?: WriteOptions): MaybePromise<void>;
  /** Returns the number of keys that existed and were removed. */
  delete(keys: readonly Key[], options?: ReadOptions & { consistency?: ConsistencyLevel }): MaybePromise<number>;

  /**
   * Atomic read-modify-write of one key. `fn` must be pure: a cluster implementation may call
   * it more than once. A thrown RingkvError aborts with no write.
   */
  update<R>(key: Key, fn: (current: KvEntry | undefined) => UpdateDecision<R>, options?: ReadOptions): MaybePromise<R>;
  updateMany<R>(keys: readonly Key[], fn: (current: (KvEntry | undefined)[]) => UpdateManyDecision<R>, options?: ReadOptions): MaybePromise<R>;

  /** Existence without fetching values where the engine allows; counts duplicates (EXISTS k k). */
  exists(keys: readonly Key[]): MaybePromise<number>;
  /** Marks keys accessed (LRU/LFU); returns how many exist. */
  touch(keys: readonly Key[]): MaybePromise<number>;

  /**
   * One page of keys; cursor '0' starts and ends. `count` is a hint, as in Redis. `pattern`
   * (a glob) is a hint too: a store may leave out keys that do not match (the cluster store
   * filters on the nodes, so KEYS/SCAN MATCH do not ship every key); callers still filter.
   */
  scan(cursor: string, count: number, pattern?: string): MaybePromise<ScanPage>;
  count(): MaybePromise<number>;
  randomKey(): MaybePromise<Key | undefined>;
  flush(): Promise<void>;
  stats(): KvStats;
  /**
   * A view of this store whose reads and writes default to `scope`'s levels (cluster mode).
   * Absent where levels mean nothing (a single node): callers use the store itself.
   */
  withConsistency?(scope: ConsistencyScope): KvStore;
}

/**
 * The absolute expiry of a putMany (MSET, MSET with a TTL), 0 = none; conditions, GET and
 * KEEPTTL belong to updateMany, so a caller passing them has a bug (TypeError).
 */
export function putManyExpiry(options: WriteOptions | undefined): number {
  if (options?.condition !== undefined || options?.returnPrevious === true || options?.expiry?.kind === 'keep') {
    throw new TypeError('putMany supports only an absolute expiry; use updateMany for conditions');
  }
  const expiry = options?.expiry;
  return expiry !== undefined && expiry.kind === 'at' ? expiry.atMs : 0;
}
