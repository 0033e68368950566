/**
 * The storage engine interface: an ordered map from binary keys to records with an optional
 * absolute expiry. Every engine passes the one conformance suite (test/conformance).
 *
 * Keys are `Key` strings: bytes held one per char (latin1), so any binary key round-trips and
 * string comparison equals byte order (scan order is byte order).
 *
 * Laws every engine keeps:
 * - an expired record is never returned by get/scan, whatever active expiry has done so far;
 * - put/delete/batch are atomic and, once their result is delivered, visible to every later get;
 * - `batch` applies all of its operations or none;
 * - durability: a write whose result was delivered survives process crash when the engine is
 *   `durable` and opened with durability 'fsync'.
 *
 * Ownership: records returned by get/scan may be the engine's own objects (the memory engine
 * returns its entry to avoid an allocation per read): callers must not mutate them. put/batch
 * take ownership of `record.value`: callers must not mutate the buffer afterwards.
 */
import type { MaxmemoryPolicy } from '../config/schema.js';
import type { MaybePromise } from '../util/maybe-promise.js';

/** Binary key: one byte per char (latin1). */
export type Key = string;

export interface StoredRecord {
  value: Buffer;
  /** Absolute expiry, Unix ms; 0 = never expires. */
  expiresAtMs: number;
}

export type BatchOp =
  | { kind: 'put'; key: Key; record: StoredRecord }
  | { kind: 'delete'; key: Key };

export interface ScanOptions {
  /** Inclusive lower bound. */
  gte?: Key;
  /** Exclusive upper bound. */
  lt?: Key;
  /** Stop after this many live records. */
  limit?: number;
}

export interface EngineStats {
  /** Live keys (may include not-yet-collected expired keys for engines that say so). */
  keys: number;
  /** Keys carrying an expiry. */
  keysWithExpiry: number;
  /** Approximate bytes used by keys, values and engine overhead. */
  usedBytes: number;
  /** Counters since open. */
  expiredKeys: number;
  evictedKeys: number;
}

/** The runtime-changeable memory knobs (names as in the config schema). */
export interface MemorySettings {
  maxmemory: number;
  maxmemoryPolicy: MaxmemoryPolicy;
  maxmemorySamples: number;
  lfuLogFactor: number;
  lfuDecayTime: number;
}

export interface EngineCapabilities {
  /** Data survives restart. */
  durable: boolean;
  /** Enforces maxmemory with eviction. */
  eviction: boolean;
  /**
   * Writes are applied (visible to every later get) before put/delete/batch return, even when the
   * returned promise settles later for durability, and get answers synchronously. Callers may then
   * skip serialising operations behind a write's delivery (LocalKvStore does). Default false.
   */
  appliesWritesSynchronously?: boolean;
}

export interface StorageEngine {
  readonly name: string;
  readonly capabilities: EngineCapabilities;

  open(): Promise<void>;

  get(key: Key): MaybePromise<StoredRecord | undefined>;
  put(key: Key, record: StoredRecord): MaybePromise<void>;
  /** Resolves true when a live record was removed. */
  delete(key: Key): MaybePromise<boolean>;
  batch(ops: readonly BatchOp[]): MaybePromise<void>;

  /** Live records in byte order of key, within bounds. */
  scan(options?: ScanOptions): AsyncIterable<[Key, StoredRecord]>;
  /** Exact count of live keys (may be O(n) for on-disk engines). */
  count(): MaybePromise<number>;
  /** A uniformly-ish random live key, or undefined when empty. */
  randomKey(): MaybePromise<Key | undefined>;
  /** Removes every record. */
  clear(): Promise<void>;

  /**
   * Called before a write that may grow memory. Engines with a memory cap evict per policy
   * until under the cap, or throw RingkvError('ERR_OOM') under noeviction. Others no-op.
   */
  reserveMemory(): void;
  /**
   * Applies memory settings changed at runtime (CONFIG SET maxmemory, maxmemory-policy, ...).
   * Engines without a memory cap ignore it. Lowering the cap takes effect at the next write.
   */
  reconfigure?(settings: MemorySettings): void;
  /** One bounded active-expiry cycle (Redis's activeExpireCycle); returns keys expired. */
  expireCycle(nowMs: number): MaybePromise<number>;
  stats(): EngineStats;

  /** Flushes anything buffered (WAL sync) and releases resources. Idempotent. */
  close(): Promise<void>;
}
