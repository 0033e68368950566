/**
 * The durable storage engine on RocksDB (@nxtedition/rocksdb). Data lives in `${dataDir}/db`,
 * WAL on; layout and record header are in record-codec.ts.
 *
 * Write path. The binding's batch write runs rocksdb::DB::Write on the calling thread, so every
 * write is applied (memtable + unsynced WAL append) synchronously, in call order. That gives
 * per-key order and read-your-writes for free: no pending-write overlay is needed, and a get
 * issued after a put returns — even before the put's promise settles — sees it.
 * Durability then only decides when a write's result is delivered:
 * - none:  put/delete/batch return synchronously; the WAL is synced on close only.
 * - batch: as none, plus a WAL sync every batchSyncIntervalMs while there are unsynced writes.
 * - fsync: they return a promise that settles after the WAL has been synced. GROUP COMMIT: the
 *   first write of an event-loop turn schedules a sync (setImmediate), and every write made
 *   before that sync starts shares it (one promise per group, not per write). The sync runs on
 *   the thread pool (WalSyncer: fdatasync of the WAL files), so the event loop keeps serving
 *   while it is in flight; writes arriving meanwhile form the next group, whose sync starts as
 *   soon as the current one completes. At most one sync is in flight.
 *   (Option walSync: 'inline' instead syncs with an empty sync:true batch on the main thread,
 *   blocking the loop for each fdatasync; kept for comparison and as a fallback.)
 *
 * Read-before-write: each write reads the key's current record (main thread; memtable, block
 * cache or bloom filter in the common case) to keep the expiry index exact (the old index entry
 * is deleted in the same batch) and the key counter exact. Consequences: count() is exact —
 * the counter minus index entries already due, O(due entries) — at the cost of one point read
 * per write. The counters survive a clean close in a metadata record (see record-codec.ts);
 * after a crash open() recounts by scanning the keys (measured ~9 us per key on a loaded
 * 2-core machine, i.e. ~2 s per 200k keys).
 *
 * Reads are synchronous too (get answers from memtable/block cache/OS page cache on the main
 * thread): cheaper than a thread-pool round trip when the working set is cached, at the price
 * of blocking the loop on a cold disk read. scan() uses the binding's async iterator.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RocksLevel, type RocksChainedBatch, type RocksIterator, type RocksOpenOptions } from '@nxtedition/rocksdb';
import type { Config } from '../../config/schema.js';
import { RingkvError } from '../../errors/index.js';
import { WalSyncer } from './wal-syncer.js';
import type { BatchOp, EngineCapabilities, EngineStats, Key, ScanOptions, StorageEngine, StoredRecord } from '../engine.js';
import {
  FORMAT_VERSION, INDEX_START, META_COUNTS_KEY, META_FORMAT_KEY, RECORDS_END, RECORDS_START, decodeCounts, decodeIndexKey,
  decodeRecord, decodeRecordKey, encodeCounts, encodeIndexKey, encodeRecord, encodeRecordKey, indexUpperBound, recordExpiry,
} from './record-codec.js';

export type RocksdbEngineConfig = Pick<Config, 'dataDir' | 'durability' | 'batchSyncIntervalMs' | 'rocksdb'>;

export interface RocksdbEngineOptions {
  /** How a group's WAL sync runs: on the thread pool (default) or blocking the main thread. */
  walSync?: 'threadpool' | 'inline';
  /** Unix ms; defaults to Date.now. */
  now?: () => number;
  /** In [0, 1); defaults to Math.random (randomKey). */
  random?: () => number;
  /** Most index entries one expireCycle processes. */
  expireCycleKeysMax?: number;
}

/** Rows fetched per iterator step. */
const SCAN_CHUNK = 256;
const COUNT_CHUNK = 10_000;
/** Bytes of random seek target for randomKey. */
const RANDOM_SEEK_BYTES = 4;
/** The binding reads cacheSize as uint32. */
const CACHE_BYTES_MAX = 2 ** 32 - 1;

/** A scan's iterator and its pending thread-pool read, which close() must wait for. */
interface OpenScan {
  it: RocksIterator;
  inFlight: Promise<unknown> | undefined;
}

interface Group {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function storageError(e: unknown): RingkvError {
  return e instanceof RingkvError ? e : new RingkvError('ERR_INTERNAL', 'storage error', { cause: e });
}

export class RocksdbEngine implements StorageEngine {
  readonly name = 'rocksdb';
  readonly capabilities: EngineCapabilities = { durable: true, eviction: false, appliesWritesSynchronously: true };

  private db: RocksLevel | undefined;
  private state: 'new' | 'open' | 'closed' = 'new';
  /** Reused for every write: all writes are synchronous, so one batch object suffices. */
  private wb: RocksChainedBatch | undefined;
  private syncBatch: RocksChainedBatch | undefined;

  /** Records present (including expired ones not yet collected). */
  private keys = 0;
  /** Expiry index entries = records carrying an expiry. */
  private keysWithExpiry = 0;
  private expiredKeys = 0;
  private syncs = 0;
  /** Writes applied since the last WAL sync. */
  private unsynced = false;
  private group: Group | undefined;
  /** The WAL sync in flight, if any (never rejects). */
  private syncing: Promise<void> | undefined;
  private walSyncer: WalSyncer | undefined;
  private readonly walSyncMethod: 'threadpool' | 'inline';
  private syncTimer: NodeJS.Timeout | undefined;
  private readonly scans = new Set<OpenScan>();
  /**
   * No index entry expires before this (Unix ms). Deleted index entries stay as tombstones
   * until compaction; starting index scans here skips them instead of re-walking every expired
   * entry each cycle. Lowered by every index insert, raised by expireCycle past what it removed.
   */
  private indexFloorMs = 0;

  private readonly cfg: RocksdbEngineConfig;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly expireCycleKeysMax: number;

  constructor(config: RocksdbEngineConfig, options: RocksdbEngineOptions = {}) {
    this.cfg = config;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.expireCycleKeysMax = options.expireCycleKeysMax ?? 2000;
    this.walSyncMethod = options.walSync ?? 'threadpool';
  }

  /** True while a WAL sync is running on the thread pool. */
  get syncInFlight(): boolean {
    return this.syncing !== undefined;
  }

  /** WAL syncs since open (observability; shows group commit at work). */
  get walSyncs(): number {
    return this.syncs;
  }

  get location(): string {
    return join(this.cfg.dataDir, 'db');
  }

  async open(): Promise<void> {
    if (this.state !== 'new') throw new TypeError(`rocksdb engine already ${this.state}`);
    const r = this.cfg.rocksdb;
    const openOptions: RocksOpenOptions = {
      createIfMissing: true,
      cacheSize: Math.min(r.blockCacheBytes, CACHE_BYTES_MAX),
      // The binding only sets write_buffer_size (= memtableMemoryBudget / 4) through its
      // 'level' compaction preset, which also fixes the codec per level: none for L0/L1
      // (recent, hot data), zstd below. Config's `compression` ('zstd' | 'none') turns that on
      // or off; the binding offers no other codec.
      compaction: 'level',
      memtableMemoryBudget: r.writeBufferBytes * 4,
      compression: r.compression !== 'none',
      // An empty policy string means no filter; the binding's default would be a 10-bit bloom.
      filterPolicy: r.bloomBitsPerKey > 0 ? `bloomfilter:${r.bloomBitsPerKey}:false` : '',
      infoLogLevel: null,
    };
    await mkdir(this.location, { recursive: true });
    const db = new RocksLevel(this.location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open(openOptions);
    } catch (e) {
      throw new RingkvError('ERR_INTERNAL', `cannot open rocksdb at ${this.location}`, { cause: e });
    }
    this.db = db;
    const format = db._getManySync([META_FORMAT_KEY])[0];
    if (format === undefined) {
      const b = db._chainedBatch();
      b._put(META_FORMAT_KEY, Buffer.from([FORMAT_VERSION]));
      b._writeSync({ sync: true });
      b._closeSync();
    } else if (format.length !== 1 || format[0] !== FORMAT_VERSION) {
      await db.close();
      this.db = undefined;
      throw new RingkvError('ERR_CONFIG', `unsupported data format ${format.toString('hex')} in ${this.location}`);
    }
    this.wb = db._chainedBatch();
    this.syncBatch = db._chainedBatch();
    const saved = db._getManySync([META_COUNTS_KEY])[0];
    const counts = saved === undefined ? undefined : decodeCounts(saved);
    if (counts !== undefined) {
      // Clean shutdown: trust the saved counters, and delete them durably before any write so
      // that a crash from here on forces the full count below at the next open.
      this.keys = counts.keys;
      this.keysWithExpiry = counts.keysWithExpiry;
      const b = db._chainedBatch();
      b._del(META_COUNTS_KEY);
      b._writeSync({ sync: true });
      b._closeSync();
    } else {
      this.keys = this.countRange(RECORDS_START, RECORDS_END);
      this.keysWithExpiry = this.countRange(INDEX_START, RECORDS_START);
    }
    this.walSyncer = new WalSyncer(this.location);
    this.state = 'open';
    if (this.cfg.durability === 'batch') {
      // A failed sync leaves `unsynced` set, so the next tick retries; close() syncs inline and
      // reports a persistent failure.
      this.syncTimer = setInterval(() => {
        if (this.unsynced) this.startSync();
      }, this.cfg.batchSyncIntervalMs);
      this.syncTimer.unref();
    }
  }

  get(key: Key): StoredRecord | undefined {
    const db = this.opened();
    const raw = db._getManySync([encodeRecordKey(key)])[0];
    if (raw === undefined) return undefined;
    const rec = decodeRecord(raw);
    if (rec.expiresAtMs !== 0 && rec.expiresAtMs <= this.now()) {
      this.apply((wb) => this.stageDelete(wb, key, rec.expiresAtMs));
      this.expiredKeys++;
      return undefined;
    }
    return rec;
  }

  put(key: Key, record: StoredRecord): void | Promise<void> {
    const db = this.opened();
    const rk = encodeRecordKey(key);
    const old = db._getManySync([rk])[0];
    this.apply((wb) => {
      const oldExpiry = old === undefined ? undefined : recordExpiry(old);
      this.stagePut(wb, key, rk, oldExpiry, record);
    });
    return this.delivered();
  }

  delete(key: Key): boolean | Promise<boolean> {
    const db = this.opened();
    const old = db._getManySync([encodeRecordKey(key)])[0];
    if (old === undefined) return false;
    const oldExpiry = recordExpiry(old);
    this.apply((wb) => this.stageDelete(wb, key, oldExpiry));
    const live = oldExpiry === 0 || oldExpiry > this.now();
    if (!live) this.expiredKeys++;
    const d = this.delivered();
    return d === undefined ? live : d.then(() => live);
  }

  batch(ops: readonly BatchOp[]): void | Promise<void> {
    const db = this.opened();
    for (const op of ops) {
      if (op.kind !== 'put' && op.kind !== 'delete') throw new TypeError(`unknown batch op ${(op as { kind: string }).kind}`);
    }
    if (ops.length === 0) return undefined;
    // Current expiry per key as this batch proceeds (undefined = absent), so repeated keys
    // within one batch see their earlier operations.
    const current = new Map<Key, number | undefined>();
    const rks = ops.map((op) => encodeRecordKey(op.key));
    const olds = db._getManySync(rks);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op !== undefined && !current.has(op.key)) {
        const raw = olds[i];
        current.set(op.key, raw === undefined ? undefined : recordExpiry(raw));
      }
    }
    this.apply((wb) => {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        const rk = rks[i];
        if (op === undefined || rk === undefined) continue;
        const oldExpiry = current.get(op.key);
        switch (op.kind) {
          case 'put': {
            const newExpiry = this.stagePut(wb, op.key, rk, oldExpiry, op.record);
            current.set(op.key, newExpiry);
            break;
          }
          case 'delete':
            if (oldExpiry !== undefined) this.stageDelete(wb, op.key, oldExpiry);
            current.set(op.key, undefined);
            break;
          default: {
            const never: never = op;
            throw new TypeError(`unknown batch op ${String(never)}`);
          }
        }
      }
    });
    return this.delivered();
  }

  async *scan(options: ScanOptions = {}): AsyncIterable<[Key, StoredRecord]> {
    const db = this.opened();
    const limit = options.limit ?? Infinity;
    if (limit <= 0) return;
    const scan: OpenScan = {
      it: db._iterator({
        gte: options.gte === undefined ? RECORDS_START : encodeRecordKey(options.gte),
        lt: options.lt === undefined ? RECORDS_END : encodeRecordKey(options.lt),
        keyEncoding: 'buffer',
        valueEncoding: 'buffer',
      }),
      inFlight: undefined,
    };
    this.scans.add(scan);
    let n = 0;
    try {
      for (;;) {
        // close() may have run while the consumer held this generator suspended.
        if (this.state !== 'open') throw new RingkvError('ERR_SHUTTING_DOWN', 'storage engine is closed');
        const pending = nextv(scan.it, SCAN_CHUNK);
        scan.inFlight = pending;
        const { rows, finished } = await pending;
        scan.inFlight = undefined;
        const nowMs = this.now();
        for (let i = 0; i + 1 < rows.length; i += 2) {
          const k = rows[i];
          const v = rows[i + 1];
          if (k === undefined || v === undefined) continue;
          const rec = decodeRecord(v);
          if (rec.expiresAtMs !== 0 && rec.expiresAtMs <= nowMs) continue;
          if (this.state !== 'open') throw new RingkvError('ERR_SHUTTING_DOWN', 'storage engine is closed');
          yield [decodeRecordKey(k), rec];
          if (++n >= limit) return;
        }
        if (finished) return;
      }
    } finally {
      // Runs only between reads (never while `pending` is in flight). If close() reached this
      // scan first it already closed the iterator, and closing again is a no-op.
      scan.inFlight = undefined;
      this.scans.delete(scan);
      scan.it._closeSync();
    }
  }

  count(): number {
    this.opened();
    // The index is exact, so due index entries are exactly the expired records not yet removed.
    return this.keys - this.countRange(this.indexFloor(), indexUpperBound(this.now()));
  }

  randomKey(): Key | undefined {
    const db = this.opened();
    if (this.keys === 0) return undefined;
    const first = this.edgeKey(false);
    const last = this.edgeKey(true);
    if (first === undefined || last === undefined) return undefined;
    const target = randomTargetBetween(first, last, this.random);
    const nowMs = this.now();
    // From the random point to the end, then wrap around to the start once.
    for (const gte of [target, RECORDS_START]) {
      const it = db._iterator({ gte, lt: RECORDS_END, keyEncoding: 'buffer', valueEncoding: 'buffer' });
      try {
        for (;;) {
          const { rows, finished } = it._nextvSync(SCAN_CHUNK);
          for (let i = 0; i + 1 < rows.length; i += 2) {
            const k = rows[i];
            const v = rows[i + 1];
            if (k === undefined || v === undefined) continue;
            const exp = recordExpiry(v);
            if (exp === 0 || exp > nowMs) return decodeRecordKey(k);
          }
          if (finished) break;
        }
      } finally {
        it._closeSync();
      }
    }
    return undefined;
  }

  async clear(): Promise<void> {
    const db = this.opened();
    await new Promise<void>((resolve, reject) => {
      db._clear({ gte: INDEX_START, lt: RECORDS_END }, (err) => (err ? reject(storageError(err)) : resolve()));
    });
    this.keys = 0;
    this.keysWithExpiry = 0;
    this.unsynced = true;
    if (this.cfg.durability === 'fsync') this.syncWal();
  }

  reserveMemory(): void {
    // RocksDB bounds its own memory (block cache, write buffers); nothing to evict.
  }

  expireCycle(nowMs: number): number {
    const db = this.opened();
    const it = db._iterator({
      gte: this.indexFloor(),
      lt: indexUpperBound(nowMs),
      limit: this.expireCycleKeysMax,
      values: false,
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    });
    const due: { expiresAtMs: number; key: Key }[] = [];
    try {
      for (;;) {
        const { rows, finished } = it._nextvSync(SCAN_CHUNK);
        for (let i = 0; i < rows.length; i += 2) {
          const k = rows[i];
          if (k !== undefined) due.push(decodeIndexKey(k));
        }
        if (finished || rows.length === 0) break;
      }
    } finally {
      it._closeSync();
    }
    if (due.length === 0) {
      if (nowMs + 1 > this.indexFloorMs) this.indexFloorMs = nowMs + 1;
      return 0;
    }
    const olds = db._getManySync(due.map((d) => encodeRecordKey(d.key)));
    let expired = 0;
    this.apply((wb) => {
      for (let i = 0; i < due.length; i++) {
        const d = due[i];
        const raw = olds[i];
        if (d === undefined) continue;
        if (raw !== undefined && recordExpiry(raw) === d.expiresAtMs) {
          this.stageDelete(wb, d.key, d.expiresAtMs);
          expired++;
        } else {
          // Cannot happen while index and records are written together; heal rather than loop.
          wb._del(encodeIndexKey(d.expiresAtMs, d.key));
          this.keysWithExpiry--;
        }
      }
    });
    this.expiredKeys += expired;
    // Every entry due at nowMs is gone when the cycle was not cut short by the limit; otherwise
    // only those before the last one seen (entries sharing its expiry may remain).
    const lastSeen = due[due.length - 1];
    const floor = due.length < this.expireCycleKeysMax ? nowMs + 1 : (lastSeen?.expiresAtMs ?? this.indexFloorMs);
    if (floor > this.indexFloorMs) this.indexFloorMs = floor;
    return expired;
  }

  /** A RocksDB property (e.g. "rocksdb.block-cache-usage") for diagnostics and INFO. */
  property(name: string): string {
    return this.opened().getProperty(name);
  }

  stats(): EngineStats {
    let usedBytes = 0;
    if (this.db !== undefined && this.state === 'open') {
      usedBytes = Number(this.db.getProperty('rocksdb.estimate-live-data-size')) + Number(this.db.getProperty('rocksdb.cur-size-all-mem-tables'));
    }
    return {
      keys: this.keys,
      keysWithExpiry: this.keysWithExpiry,
      usedBytes: Number.isFinite(usedBytes) ? usedBytes : 0,
      expiredKeys: this.expiredKeys,
      evictedKeys: 0,
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const db = this.db;
    this.state = 'closed';
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    this.syncTimer = undefined;
    if (db === undefined) return;
    // Let the sync in flight finish (it settles its own group); no new one starts once closed.
    await this.syncing;
    let failure: unknown;
    try {
      // Saving the counters (synced) also syncs every earlier write in the WAL.
      const b = this.syncBatch;
      if (b === undefined) throw new RingkvError('ERR_SHUTTING_DOWN', 'storage engine is closed');
      b._put(META_COUNTS_KEY, encodeCounts(this.keys, this.keysWithExpiry));
      b._writeSync({ sync: true });
      b._clear();
      this.syncs++;
      this.unsynced = false;
      this.group?.resolve();
    } catch (e) {
      failure = e;
      this.group?.reject(storageError(e));
    }
    this.group = undefined;
    // An iterator must not outlive the database, nor be closed while a thread-pool read uses it.
    for (const scan of this.scans) {
      await scan.inFlight?.catch(() => undefined);
      scan.it._closeSync();
    }
    this.scans.clear();
    await this.walSyncer?.close();
    this.walSyncer = undefined;
    this.wb?._closeSync();
    this.syncBatch?._closeSync();
    this.wb = undefined;
    this.syncBatch = undefined;
    this.db = undefined;
    await db.close();
    if (failure !== undefined) throw storageError(failure);
  }

  // --- internals ---

  private opened(): RocksLevel {
    const db = this.db;
    if (db === undefined || this.state !== 'open') {
      throw new RingkvError('ERR_SHUTTING_DOWN', this.state === 'closed' ? 'storage engine is closed' : 'storage engine is not open');
    }
    return db;
  }

  /** Stages ops into the shared batch and writes it unsynced; counters change only on success. */
  private apply(stage: (wb: RocksChainedBatch) => void): void {
    const wb = this.wb;
    if (wb === undefined) throw new RingkvError('ERR_SHUTTING_DOWN', 'storage engine is closed');
    const keys = this.keys;
    const keysWithExpiry = this.keysWithExpiry;
    try {
      stage(wb);
      wb._writeSync({ sync: false });
      this.unsynced = true;
    } catch (e) {
      this.keys = keys;
      this.keysWithExpiry = keysWithExpiry;
      throw storageError(e);
    } finally {
      wb._clear();
    }
  }

  /** Returns the new record's expiry, or undefined when the put turned into a delete. */
  private stagePut(wb: RocksChainedBatch, key: Key, rk: Buffer, oldExpiry: number | undefined, record: StoredRecord): number | undefined {
    const exp = record.expiresAtMs;
    if (exp !== 0 && exp <= this.now()) {
      // Writing an already-expired record is a delete (Redis: SET ... PXAT <past>).
      if (oldExpiry !== undefined) this.stageDelete(wb, key, oldExpiry);
      return undefined;
    }
    if (oldExpiry === undefined) this.keys++;
    else if (oldExpiry !== 0 && oldExpiry !== exp) {
      wb._del(encodeIndexKey(oldExpiry, key));
      this.keysWithExpiry--;
    }
    wb._put(rk, encodeRecord(record));
    if (exp !== 0 && exp !== oldExpiry) {
      wb._put(encodeIndexKey(exp, key), Buffer.alloc(0));
      this.keysWithExpiry++;
      if (exp < this.indexFloorMs) this.indexFloorMs = exp;
    }
    return exp;
  }

  private stageDelete(wb: RocksChainedBatch, key: Key, oldExpiry: number): void {
    wb._del(encodeRecordKey(key));
    this.keys--;
    if (oldExpiry !== 0) {
      wb._del(encodeIndexKey(oldExpiry, key));
      this.keysWithExpiry--;
    }
  }

  /** What a write returns: nothing, or under fsync the shared promise of the next WAL sync. */
  private delivered(): Promise<void> | undefined {
    if (this.cfg.durability !== 'fsync') return undefined;
    let g = this.group;
    if (g === undefined) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      g = { promise, resolve, reject };
      this.group = g;
      // Gather the rest of this turn's writes first. With a sync in flight, its completion
      // starts the next one instead.
      if (this.syncing === undefined) setImmediate(() => this.startSync());
    }
    return g.promise;
  }

  /** Starts a WAL sync covering every write applied so far and the group waiting for it. */
  private startSync(): void {
    if (this.syncing !== undefined || this.state !== 'open') return;
    if (this.group === undefined && !this.unsynced) return;
    const g = this.group;
    this.group = undefined;
    // Cleared before the sync so a write that lands meanwhile is not taken as synced.
    this.unsynced = false;
    let run: Promise<void>;
    if (this.walSyncMethod === 'inline' || this.walSyncer === undefined) {
      try {
        this.syncWal();
        run = Promise.resolve();
      } catch (e) {
        run = Promise.reject(e);
      }
    } else {
      run = this.walSyncer.sync().then(() => {
        this.syncs++;
      });
    }
    this.syncing = run
      .then(
        () => g?.resolve(),
        (e: unknown) => {
          this.unsynced = true;
          g?.reject(storageError(e));
        },
      )
      .finally(() => {
        this.syncing = undefined;
        // Through the event loop, never straight from here: an inline sync settles in
        // microtasks, and writers awaiting it would otherwise starve timers and I/O.
        if (this.group !== undefined) setImmediate(() => this.startSync());
      });
  }

  private syncWal(): void {
    const b = this.syncBatch;
    if (b === undefined) throw new RingkvError('ERR_SHUTTING_DOWN', 'storage engine is closed');
    // Cleared before the write so a write that lands meanwhile is not marked synced.
    this.unsynced = false;
    try {
      b._writeSync({ sync: true });
      this.syncs++;
    } catch (e) {
      this.unsynced = true;
      throw e;
    }
  }

  private indexFloor(): Buffer {
    return this.indexFloorMs === 0 ? INDEX_START : indexUpperBound(this.indexFloorMs - 1);
  }

  /** First (or last) record key, encoded, expired or not. */
  private edgeKey(last: boolean): Buffer | undefined {
    const it = this.opened()._iterator({
      gte: RECORDS_START,
      lt: RECORDS_END,
      reverse: last,
      limit: 1,
      values: false,
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    });
    try {
      return it._nextvSync(1).rows[0];
    } finally {
      it._closeSync();
    }
  }

  /** Number of keys in [gte, lt), synchronously, keys only. */
  private countRange(gte: Buffer, lt: Buffer): number {
    const db = this.db;
    if (db === undefined) return 0;
    const it = db._iterator({ gte, lt, values: false, keyEncoding: 'buffer', valueEncoding: 'buffer' });
    let n = 0;
    try {
      for (;;) {
        const { rows, finished } = it._nextvSync(COUNT_CHUNK);
        n += rows.length / 2;
        if (finished || rows.length === 0) break;
      }
    } finally {
      it._closeSync();
    }
    return n;
  }
}

/**
 * A seek target spread uniformly over the byte range the keys occupy: the common prefix of
 * first and last, one byte uniform between theirs, then random bytes. Landing on the next key
 * after the target makes each key's chance proportional to the gap before it; for keys sharing
 * a prefix and differing in one position (k0..k9, user:1..) that is close to uniform.
 */
function randomTargetBetween(first: Buffer, last: Buffer, random: () => number): Buffer {
  let p = 0;
  while (p < first.length && p < last.length && first[p] === last[p]) p++;
  const lo = first[p] ?? 0;
  const hi = last[p] ?? 255;
  const t = Buffer.allocUnsafe(p + 1 + RANDOM_SEEK_BYTES);
  first.copy(t, 0, 0, p);
  t[p] = lo + Math.floor(random() * (hi - lo + 1));
  for (let i = p + 1; i < t.length; i++) t[i] = Math.floor(random() * 256);
  return t;
}

function nextv(it: RocksIterator, size: number): Promise<{ rows: Buffer[]; finished: boolean }> {
  return new Promise((resolve, reject) => {
    it._nextvAsync(size, {}, (err, result) => (err ? reject(storageError(err)) : resolve(result)));
  });
}
