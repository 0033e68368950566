/**
 * The in-memory storage engine, for cache use: a Map from latin1 Key to an entry holding a
 * Buffer value (off the V8 heap), with Redis's maxmemory policies and active expiry.
 *
 * Invariants (checked by `invariants()` in tests):
 * - every entry is in `map`, and at `entry.slot` in `all` (slot -1 once removed or replaced);
 *   entries with an expiry are also at `entry.ttlSlot` in `volatile` (else ttlSlot = -1). Both
 *   arrays allow O(1) random pick and O(1) removal (swap with last, pop), which is what sampling
 *   (eviction, active expiry, randomKey) needs.
 * - usedBytes = sum over entries of (key.length + value.length + ENTRY_OVERHEAD_BYTES, plus
 *   VOLATILE_OVERHEAD_BYTES when the entry has an expiry).
 * - an entry is never mutated after insertion except its access fields (lru, lfu, lfuMinutes)
 *   and its index slots:
 *   get() hands the entry itself out as the StoredRecord (no allocation per read), so a caller
 *   holding a previous record keeps seeing the old value after an overwrite.
 *
 * Ownership: put() takes ownership of `record.value`; the caller must not mutate it afterwards.
 * A value that is a small view into a much larger buffer (e.g. a slice of a socket read) is
 * copied so it does not pin the whole chunk in memory.
 *
 * Expiry is lazy (get/scan/count/randomKey never return an expired record and delete what they
 * find expired) plus `expireCycle`, a bounded copy of Redis's activeExpireCycle.
 *
 * Costs: get/put/delete O(1); eviction samples maxmemorySamples keys per evicted key.
 * scan() reads a sorted key index (see SortedKeys) built on the first scan, O(n log n) once
 * and in slices that let other work run; afterwards a page costs O(log n + page), plus
 * amortised upkeep of about O(log n) per key inserted since. count() walks the keys with an
 * expiry, O(keys with TTL), deleting expired ones it meets.
 */
import type { Config, MaxmemoryPolicy } from '../../config/schema.js';
import { RingkvError } from '../../errors/index.js';
import type { BatchOp, EngineCapabilities, EngineStats, Key, ScanOptions, StorageEngine, StoredRecord, MemorySettings } from '../engine.js';

/**
 * Fixed per-entry bytes counted in usedBytes besides key and value bytes: the Map slot, the
 * entry object, the key string header, the Buffer object and the `all` array slot. Measured on
 * Node 20 x64 with 1M entries of 16-byte keys and 100-byte values: V8 heap 344 bytes per entry
 * (including the 16 key chars) plus ~5 bytes of value-pool slack, i.e. ~334 bytes over
 * key + value. RSS is higher (~490 bytes per entry in all) because of GC headroom; like Redis's
 * used_memory, usedBytes does not count allocator or GC slack.
 */
export const ENTRY_OVERHEAD_BYTES = 336;
/** Extra bytes of an entry with an expiry: its `volatile` slot and the boxed expiry double (measured ~27). */
export const VOLATILE_OVERHEAD_BYTES = 28;

/** Redis: LFU_INIT_VAL. New keys start here so they are not evicted before they get a chance. */
const LFU_INIT_VAL = 5;
/** Redis: EVPOOL_SIZE. */
const EVICTION_POOL_SIZE = 16;
/** Redis: ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP. */
const EXPIRE_KEYS_PER_LOOP = 20;
/** Keep sampling while more than this share of a sample was expired. */
const EXPIRE_STALE_PERCENT = 25;
/** Bounded retries for randomKey before it purges expired keys and tries once more. */
const RANDOM_KEY_TRIES = 100;

export type MemoryEngineConfig = Pick<Config, 'maxmemory' | 'maxmemoryPolicy' | 'maxmemorySamples' | 'lfuLogFactor' | 'lfuDecayTime'>;

export interface EngineOptions {
  /** Unix ms; defaults to Date.now. Tests inject a fake clock. */
  now?: () => number;
  /** In [0, 1); defaults to Math.random. Tests inject a seeded one. */
  random?: () => number;
  /** Most keys one expireCycle examines (Redis bounds its cycle by time instead). */
  expireCycleKeysMax?: number;
}

const DEFAULT_CONFIG: MemoryEngineConfig = {
  maxmemory: 0,
  maxmemoryPolicy: 'noeviction',
  maxmemorySamples: 5,
  lfuLogFactor: 10,
  lfuDecayTime: 1,
};

/** One stored key. Doubles as the StoredRecord handed to readers. */
class Entry implements StoredRecord {
  constructor(
    readonly key: Key,
    readonly value: Buffer,
    readonly expiresAtMs: number,
    /** Access sequence number at last access (LRU). */
    public lru: number,
    /** Redis's 8-bit logarithmic access counter (LFU). */
    public lfu: number,
    /** Minutes clock at last LFU decrement. */
    public lfuMinutes: number,
    public slot: number,
    public ttlSlot: number,
  ) {}
}

/** Binary search: first index in sorted `arr` whose key is >= `k`. */
function lowerBound(arr: readonly Key[], k: Key): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = arr[mid];
    if (v !== undefined && v < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merges two sorted arrays into a new one, dropping duplicates and keys `keep` rejects. A
 * generator so one loop serves both callers: it pauses every SORT_CHUNK keys, which the
 * synchronous merge ignores and the sliced merge uses to let the event loop run.
 */
function* mergeSortedSteps(a: readonly Key[], b: readonly Key[], keep: (k: Key) => boolean): Generator<void, Key[]> {
  const out: Key[] = [];
  let i = 0;
  let j = 0;
  let prev: Key | undefined;
  let budget = SORT_CHUNK;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    let k: Key;
    if (y === undefined || (x !== undefined && x <= y)) {
      k = x as Key;
      i++;
      if (x === y) j++;
    } else {
      k = y;
      j++;
    }
    if (k !== prev && keep(k)) out.push(k);
    prev = k;
    if (--budget === 0) {
      budget = SORT_CHUNK;
      yield;
    }
  }
  return out;
}

function mergeSorted(a: readonly Key[], b: readonly Key[], keep: (k: Key) => boolean): Key[] {
  const steps = mergeSortedSteps(a, b, keep);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

const keepAll = (): boolean => true;

/** Like mergeSorted (keeping every key), yielding to the event loop every SORT_CHUNK keys. */
async function mergeSortedInSlices(a: readonly Key[], b: readonly Key[]): Promise<Key[]> {
  const steps = mergeSortedSteps(a, b, keepAll);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    await yieldToLoop();
  }
}

/** Keys sorted per step when building the scan index; between steps the event loop runs. */
const SORT_CHUNK = 32_768;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The sorted key index behind scan(), kept only once scan() has been used. `base` is big and
 * rebuilt rarely; `recent` is small and holds keys added since; `added` collects inserts
 * (unsorted) until the next scan. Deleted keys are not removed eagerly: scan skips keys no
 * longer in the map, and the index is rebuilt once they are a large share of it. Arrays are
 * replaced, never mutated, once published, so a suspended scan keeps a consistent snapshot.
 *
 * Building sorts SORT_CHUNK-key runs and merges them pairwise, yielding to the event loop
 * between steps, so a first scan over 1M keys does not stall other clients for the ~2 s a
 * single sort takes; concurrent scans share one build.
 */
class SortedKeys {
  private base: Key[] = [];
  private recent: Key[] = [];
  private added: Key[] = [];
  /** Removals since `base` was built: an upper bound on its stale keys. */
  private removed = 0;
  private state: 'idle' | 'building' | 'built' = 'idle';
  private building: Promise<void> | undefined;

  /** True once a scan has asked for the index: inserts must then be recorded. */
  get active(): boolean {
    return this.state !== 'idle';
  }

  /** Returns false when the caller should drop the index (too many pending inserts). */
  onInsert(key: Key): boolean {
    this.added.push(key);
    return this.added.length <= Math.max(65_536, this.base.length);
  }

  onRemove(): void {
    this.removed++;
  }

  /** Brings the index up to date and returns the two sorted runs to merge while scanning. */
  async runs(allKeys: () => Iterable<Key>, has: (k: Key) => boolean): Promise<[readonly Key[], readonly Key[]]> {
    if (this.state === 'built' && this.removed > this.base.length / 2 + 1024) this.state = 'idle';
    if (this.state !== 'built') {
      // build() may finish synchronously (small maps), so only this caller clears `building`.
      this.building ??= this.build(allKeys).finally(() => {
        this.building = undefined;
      });
      await this.building;
    }
    if (this.added.length > 0) {
      const add = this.added.sort();
      this.added = [];
      this.recent = mergeSorted(this.recent, add, has);
      if (this.recent.length > Math.max(4096, this.base.length / 16)) {
        this.base = mergeSorted(this.base, this.recent, this.removed > 0 ? has : keepAll);
        this.recent = [];
        this.removed = 0;
      }
    }
    return [this.base, this.recent];
  }

  private async build(allKeys: () => Iterable<Key>): Promise<void> {
    this.state = 'building';
    // Keys inserted from here on land in `added`; the snapshot below has the rest.
    this.added = [];
    this.recent = [];
    this.removed = 0;
    const keys = [...allKeys()];
    let sortedRuns: Key[][] = [];
    for (let i = 0; i < keys.length; i += SORT_CHUNK) {
      sortedRuns.push(keys.slice(i, i + SORT_CHUNK).sort());
      if (keys.length > SORT_CHUNK) await yieldToLoop();
    }
    while (sortedRuns.length > 1) {
      const next: Key[][] = [];
      for (let i = 0; i < sortedRuns.length; i += 2) {
        const x = sortedRuns[i] ?? [];
        const y = sortedRuns[i + 1];
        next.push(y === undefined ? x : await mergeSortedInSlices(x, y));
      }
      sortedRuns = next;
    }
    this.base = sortedRuns[0] ?? [];
    this.state = 'built';
  }
}

export class MemoryEngine implements StorageEngine {
  readonly name = 'memory';
  readonly capabilities: EngineCapabilities = { durable: false, eviction: true, appliesWritesSynchronously: true };

  private readonly map = new Map<Key, Entry>();
  private all: Entry[] = [];
  private volatile: Entry[] = [];
  private usedBytes = 0;
  private expiredKeys = 0;
  private evictedKeys = 0;
  private accessSeq = 0;
  /**
   * Eviction pool (Redis's EVPOOL): parallel arrays sorted by ascending score, no allocation.
   * Holds entries, not keys: identity compares are cheap, and an entry that was removed or
   * replaced since it was sampled has slot -1, so it is skipped without a Map lookup.
   */
  private readonly poolEntries: (Entry | undefined)[] = new Array<Entry | undefined>(EVICTION_POOL_SIZE).fill(undefined);
  private readonly poolScores = new Float64Array(EVICTION_POOL_SIZE);
  private poolSize = 0;
  private sortedKeys = new SortedKeys();

  private cfg: MemoryEngineConfig;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly expireCycleKeysMax: number;
  private trackLfu: boolean;

  constructor(config: Partial<MemoryEngineConfig> = {}, options: EngineOptions = {}) {
    this.cfg = { ...DEFAULT_CONFIG, ...config };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.expireCycleKeysMax = options.expireCycleKeysMax ?? 2000;
    this.trackLfu = this.cfg.maxmemoryPolicy === 'allkeys-lfu' || this.cfg.maxmemoryPolicy === 'volatile-lfu';
    if (this.cfg.maxmemorySamples < 1) throw new RangeError('maxmemorySamples must be >= 1');
  }

  async open(): Promise<void> {}

  reconfigure(settings: MemorySettings): void {
    if (settings.maxmemorySamples < 1) throw new RangeError('maxmemorySamples must be >= 1');
    const wasLfu = this.trackLfu;
    this.cfg = { ...this.cfg, ...settings };
    this.trackLfu = this.cfg.maxmemoryPolicy === 'allkeys-lfu' || this.cfg.maxmemoryPolicy === 'volatile-lfu';
    // Counters were not kept under the old policy: start every key where a new key starts, so
    // switching policy does not make all existing keys look coldest (O(keys), admin-only path).
    if (this.trackLfu && !wasLfu) {
      const minutes = Math.floor(this.now() / 60_000);
      for (const e of this.all) {
        e.lfu = LFU_INIT_VAL;
        e.lfuMinutes = minutes;
      }
    }
    this.poolSize = 0; // pooled scores were computed under the old policy
    this.poolEntries.fill(undefined);
  }

  get(key: Key): StoredRecord | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAtMs !== 0 && e.expiresAtMs <= this.now()) {
      this.remove(e);
      this.expiredKeys++;
      return undefined;
    }
    this.touchEntry(e);
    return e;
  }

  put(key: Key, record: StoredRecord): void {
    const expiresAtMs = record.expiresAtMs;
    if (expiresAtMs !== 0 && expiresAtMs <= this.now()) {
      // Writing an already-expired record is a delete (Redis: SET ... PXAT <past>).
      const old = this.map.get(key);
      if (old !== undefined) this.remove(old);
      return;
    }
    let value = record.value;
    if (value.byteLength < value.buffer.byteLength && value.buffer.byteLength > Buffer.poolSize) {
      value = Buffer.from(value); // do not pin a large foreign buffer
    }
    const old = this.map.get(key);
    let lfu = 0;
    let lfuMinutes = 0;
    if (this.trackLfu) {
      // Like Redis (lookupKeyWrite + dbSetValue): an overwrite counts as an access and keeps
      // the key's frequency; a new key starts at LFU_INIT_VAL.
      if (old === undefined) {
        lfu = LFU_INIT_VAL;
        lfuMinutes = Math.floor(this.now() / 60_000);
      } else {
        this.touchEntry(old);
        lfu = old.lfu;
        lfuMinutes = old.lfuMinutes;
      }
    }
    // An overwrite reuses the stored key string (the Map keeps its first key anyway), so the
    // caller's fresh copy dies young instead of being promoted with the entry.
    const e = new Entry(old === undefined ? key : old.key, value, expiresAtMs, ++this.accessSeq, lfu, lfuMinutes, -1, -1);
    if (old === undefined) {
      if (this.sortedKeys.active && !this.sortedKeys.onInsert(key)) this.sortedKeys = new SortedKeys();
      e.slot = this.all.length;
      this.all.push(e);
      this.usedBytes += key.length + ENTRY_OVERHEAD_BYTES;
    } else {
      e.slot = old.slot;
      this.all[old.slot] = e;
      old.slot = -1; // replaced: no longer indexed
      this.usedBytes -= old.value.length;
      if (old.ttlSlot !== -1) this.dropVolatile(old);
    }
    this.usedBytes += value.length;
    if (expiresAtMs !== 0) {
      e.ttlSlot = this.volatile.length;
      this.volatile.push(e);
      this.usedBytes += VOLATILE_OVERHEAD_BYTES;
    }
    this.map.set(key, e);
  }

  delete(key: Key): boolean {
    const e = this.map.get(key);
    if (e === undefined) return false;
    this.remove(e);
    if (e.expiresAtMs !== 0 && e.expiresAtMs <= this.now()) {
      this.expiredKeys++;
      return false;
    }
    return true;
  }

  batch(ops: readonly BatchOp[]): void {
    // Nothing below can fail part-way for valid input, so applying in order is all-or-nothing.
    for (const op of ops) {
      if (op.kind !== 'put' && op.kind !== 'delete') throw new TypeError(`unknown batch op ${(op as { kind: string }).kind}`);
    }
    for (const op of ops) {
      switch (op.kind) {
        case 'put': this.put(op.key, op.record); break;
        case 'delete': this.delete(op.key); break;
        default: { const never: never = op; throw new TypeError(`unknown batch op ${String(never)}`); }
      }
    }
  }

  async *scan(options: ScanOptions = {}): AsyncIterable<[Key, StoredRecord]> {
    const { gte, lt } = options;
    const limit = options.limit ?? Infinity;
    if (limit <= 0) return;
    const map = this.map;
    const [base, recent] = await this.sortedKeys.runs(() => map.keys(), (k) => map.has(k));
    let i = gte === undefined ? 0 : lowerBound(base, gte);
    let j = gte === undefined ? 0 : lowerBound(recent, gte);
    let prev: Key | undefined;
    let n = 0;
    while (i < base.length || j < recent.length) {
      const x = base[i];
      const y = recent[j];
      let k: Key;
      if (y === undefined || (x !== undefined && x <= y)) {
        k = x as Key;
        i++;
        if (x === y) j++;
      } else {
        k = y;
        j++;
      }
      if (lt !== undefined && k >= lt) return;
      if (k === prev) continue;
      prev = k;
      // Read at yield time: the consumer may write between iterations.
      const e = map.get(k);
      if (e === undefined) continue;
      if (e.expiresAtMs !== 0 && e.expiresAtMs <= this.now()) {
        this.remove(e);
        this.expiredKeys++;
        continue;
      }
      yield [k, e];
      if (++n >= limit) return;
    }
  }

  count(): number {
    this.purgeExpired();
    return this.map.size;
  }

  randomKey(): Key | undefined {
    for (let i = 0; i < RANDOM_KEY_TRIES && this.all.length > 0; i++) {
      const e = this.pick(this.all);
      if (e.expiresAtMs === 0 || e.expiresAtMs > this.now()) return e.key;
      this.remove(e);
      this.expiredKeys++;
    }
    if (this.all.length === 0) return undefined;
    this.purgeExpired();
    return this.all.length === 0 ? undefined : this.pick(this.all).key;
  }

  async clear(): Promise<void> {
    this.map.clear();
    this.sortedKeys = new SortedKeys();
    this.all = [];
    this.volatile = [];
    this.poolEntries.fill(undefined);
    this.poolSize = 0;
    this.usedBytes = 0;
  }

  reserveMemory(): void {
    const cap = this.cfg.maxmemory;
    if (cap === 0 || this.usedBytes <= cap) return;
    while (this.usedBytes > cap) {
      if (!this.evictOne()) {
        throw new RingkvError('ERR_OOM', "command not allowed when used memory > 'maxmemory'.");
      }
    }
  }

  expireCycle(nowMs: number): number {
    let expired = 0;
    let examined = 0;
    while (this.volatile.length > 0 && examined < this.expireCycleKeysMax) {
      const sample = Math.min(EXPIRE_KEYS_PER_LOOP, this.volatile.length);
      let hits = 0;
      for (let i = 0; i < sample && this.volatile.length > 0; i++) {
        const e = this.pick(this.volatile);
        examined++;
        if (e.expiresAtMs <= nowMs) {
          this.remove(e);
          hits++;
        }
      }
      expired += hits;
      if (hits * 100 <= sample * EXPIRE_STALE_PERCENT) break;
    }
    this.expiredKeys += expired;
    return expired;
  }

  stats(): EngineStats {
    return {
      keys: this.map.size,
      keysWithExpiry: this.volatile.length,
      usedBytes: this.usedBytes,
      expiredKeys: this.expiredKeys,
      evictedKeys: this.evictedKeys,
    };
  }

  async close(): Promise<void> {}

  /** Test hook: throws when an index invariant is broken. O(n). */
  invariants(): void {
    if (this.all.length !== this.map.size) throw new Error(`all.length ${this.all.length} != map.size ${this.map.size}`);
    let bytes = 0;
    let vol = 0;
    for (const [k, e] of this.map) {
      if (e.key !== k || this.all[e.slot] !== e) throw new Error(`slot broken for ${JSON.stringify(k)}`);
      if (e.expiresAtMs !== 0) {
        vol++;
        if (this.volatile[e.ttlSlot] !== e) throw new Error(`ttlSlot broken for ${JSON.stringify(k)}`);
        bytes += VOLATILE_OVERHEAD_BYTES;
      } else if (e.ttlSlot !== -1) throw new Error(`non-volatile entry has ttlSlot ${JSON.stringify(k)}`);
      bytes += k.length + e.value.length + ENTRY_OVERHEAD_BYTES;
    }
    if (vol !== this.volatile.length) throw new Error('volatile length mismatch');
    if (bytes !== this.usedBytes) throw new Error(`usedBytes ${this.usedBytes} != ${bytes}`);
  }

  // --- internals ---

  private touchEntry(e: Entry): void {
    e.lru = ++this.accessSeq;
    if (this.trackLfu) {
      const nowMin = Math.floor(this.now() / 60_000);
      let c = this.lfuDecayed(e, nowMin);
      // Redis LFULogIncr: the higher the counter, the less likely it grows.
      if (c < 255) {
        const base = Math.max(0, c - LFU_INIT_VAL);
        if (this.random() < 1 / (base * this.cfg.lfuLogFactor + 1)) c++;
      }
      e.lfu = c;
      e.lfuMinutes = nowMin;
    }
  }

  /** Redis LFUDecrAndReturn: one decrement per lfuDecayTime minutes idle. */
  private lfuDecayed(e: Entry, nowMin: number): number {
    const decay = this.cfg.lfuDecayTime;
    if (decay === 0) return e.lfu;
    const periods = Math.floor((nowMin - e.lfuMinutes) / decay);
    return periods > 0 ? Math.max(0, e.lfu - periods) : e.lfu;
  }

  private pick(arr: Entry[]): Entry {
    const e = arr[Math.floor(this.random() * arr.length)];
    if (e === undefined) throw new Error('pick from empty array');
    return e;
  }

  private remove(e: Entry): void {
    this.map.delete(e.key);
    if (this.sortedKeys.active) this.sortedKeys.onRemove();
    const last = this.all.pop();
    if (last !== undefined && last !== e) {
      this.all[e.slot] = last;
      last.slot = e.slot;
    }
    e.slot = -1; // no longer indexed (eviction pool entries check this)
    if (e.ttlSlot !== -1) this.dropVolatile(e);
    this.usedBytes -= e.key.length + e.value.length + ENTRY_OVERHEAD_BYTES;
  }

  private dropVolatile(e: Entry): void {
    this.usedBytes -= VOLATILE_OVERHEAD_BYTES;
    const last = this.volatile.pop();
    if (last !== undefined && last !== e) {
      this.volatile[e.ttlSlot] = last;
      last.ttlSlot = e.ttlSlot;
    }
    e.ttlSlot = -1;
  }

  private purgeExpired(): void {
    if (this.volatile.length === 0) return;
    const nowMs = this.now();
    // Walk backwards so swap-with-last removals never skip an unvisited entry.
    for (let i = this.volatile.length - 1; i >= 0; i--) {
      const e = this.volatile[i];
      if (e !== undefined && e.expiresAtMs <= nowMs) {
        this.remove(e);
        this.expiredKeys++;
      }
    }
  }

  /** Evicts one key per policy; false when no key qualifies. */
  private evictOne(): boolean {
    const policy: MaxmemoryPolicy = this.cfg.maxmemoryPolicy;
    switch (policy) {
      case 'noeviction':
        return false;
      case 'allkeys-random':
      case 'volatile-random': {
        const arr = policy === 'allkeys-random' ? this.all : this.volatile;
        if (arr.length === 0) return false;
        this.evict(this.pick(arr));
        return true;
      }
      case 'allkeys-lru':
      case 'allkeys-lfu':
      case 'volatile-lru':
      case 'volatile-lfu':
      case 'volatile-ttl':
        return this.evictFromPool(policy);
      default: {
        const never: never = policy;
        throw new TypeError(`unknown policy ${String(never)}`);
      }
    }
  }

  private evict(e: Entry): void {
    this.remove(e);
    this.evictedKeys++;
  }

  /**
   * Redis's evictionPoolPopulate + pick: sample maxmemorySamples keys into a pool of the best
   * 16 candidates seen so far (kept across calls), evict the best one still present.
   */
  private evictFromPool(policy: 'allkeys-lru' | 'allkeys-lfu' | 'volatile-lru' | 'volatile-lfu' | 'volatile-ttl'): boolean {
    const volatileOnly = policy !== 'allkeys-lru' && policy !== 'allkeys-lfu';
    const arr = volatileOnly ? this.volatile : this.all;
    const lfu = policy === 'allkeys-lfu' || policy === 'volatile-lfu';
    for (;;) {
      if (arr.length === 0) return false;
      const nowMin = lfu ? Math.floor(this.now() / 60_000) : 0;
      for (let i = 0; i < this.cfg.maxmemorySamples; i++) {
        const e = this.pick(arr);
        let score: number;
        if (policy === 'volatile-ttl') score = -e.expiresAtMs;
        else if (lfu) score = 255 - this.lfuDecayed(e, nowMin);
        else score = this.accessSeq - e.lru;
        this.poolInsert(e, score);
      }
      // Best candidates sit at the end; skip ones that vanished or no longer qualify.
      while (this.poolSize > 0) {
        const e = this.poolEntries[--this.poolSize];
        this.poolEntries[this.poolSize] = undefined;
        if (e === undefined || e.slot === -1 || (volatileOnly && e.ttlSlot === -1)) continue;
        this.evict(e);
        return true;
      }
    }
  }

  /** Keeps the pool sorted by ascending score, at most EVICTION_POOL_SIZE keys, keys unique. */
  private poolInsert(entry: Entry, score: number): void {
    const keys = this.poolEntries;
    const scores = this.poolScores;
    let n = this.poolSize;
    for (let i = 0; i < n; i++) {
      if (keys[i] === entry) {
        for (let j = i; j < n - 1; j++) {
          keys[j] = keys[j + 1];
          scores[j] = scores[j + 1] ?? 0;
        }
        keys[--n] = undefined;
        break;
      }
    }
    if (n >= EVICTION_POOL_SIZE) {
      if (score <= (scores[0] ?? 0)) {
        this.poolSize = n;
        return;
      }
      for (let j = 0; j < n - 1; j++) {
        keys[j] = keys[j + 1];
        scores[j] = scores[j + 1] ?? 0;
      }
      keys[--n] = undefined;
    }
    let i = n;
    while (i > 0 && (scores[i - 1] ?? 0) > score) {
      keys[i] = keys[i - 1];
      scores[i] = scores[i - 1] ?? 0;
      i--;
    }
    keys[i] = entry;
    scores[i] = score;
    this.poolSize = n + 1;
  }
}
