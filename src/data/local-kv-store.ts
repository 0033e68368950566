/**
 * LocalKvStore: the KvStore of a single node, on one StorageEngine.
 *
 * Invariants:
 * - no key longer than maxKeyBytes and no value larger than maxValueBytes is ever written
 *   (ERR_KEY_TOO_LARGE / ERR_VALUE_TOO_LARGE, nothing written);
 * - engine.reserveMemory() runs before every write that may grow memory, so an ERR_OOM refusal
 *   happens before anything changed;
 * - a record whose expiry is at or before the injected clock's now is never returned, whatever
 *   the engine's own clock says (tests move time through the clock);
 * - operations on one key are serialised (KeyQueue): with the memory engine everything completes
 *   synchronously, so the queue is never used and the hot path allocates no promise; with an
 *   asynchronous engine (rocksdb) each read-modify-write runs alone on its keys, in submission
 *   order, so concurrent INCRs never lose an update. An engine that declares
 *   `appliesWritesSynchronously` (reads answer at once, writes are applied before they return
 *   and only their durability is awaited, e.g. rocksdb with fsync group commit) needs the queue
 *   only for operations whose read was asynchronous: a hot key is then not serialised behind
 *   each write's fsync.
 *
 * SCAN cursors are unsigned 64-bit integers as in Redis (see scan-cursors.ts): short keys are
 * encoded in the cursor itself, longer ones through a bounded cursor table.
 */
import type { Config } from '../config/schema.js';
import { RingkvError } from '../errors/index.js';
import type { BatchOp, Key, StorageEngine, StoredRecord } from '../storage/engine.js';
import { isPromise, then, type MaybePromise } from '../util/maybe-promise.js';
import {
  putManyExpiry, type KeyWrite, type KvEntry, type KvStats, type KvStore, type PutResult, type ReadOptions, type ScanPage,
  type UpdateDecision, type UpdateManyDecision, type WriteOptions,
} from './kv-store.js';
import { KeyQueue } from './key-queue.js';
import { ScanCursors } from './scan-cursors.js';

export interface LocalKvStoreOptions {
  engine: StorageEngine;
  config: Pick<Config, 'maxKeyBytes' | 'maxValueBytes'> & Partial<Pick<Config, 'busyKeysMax' | 'scanCursorsMax'>>;
  /** Wall clock, Unix ms. Default Date.now. */
  now?: () => number;
  /** Bound on keys with operations in flight (asynchronous engines only); default config.busyKeysMax. */
  busyKeysMax?: number;
}

const WRITTEN: PutResult = Object.freeze({ written: true }) as PutResult;
const NOT_WRITTEN: PutResult = Object.freeze({ written: false }) as PutResult;
const RANDOM_KEY_TRIES = 8;
const SCAN_CURSORS_MAX_DEFAULT = 100_000;
const toWritten = (): PutResult => WRITTEN;

export class LocalKvStore implements KvStore {
  private readonly engine: StorageEngine;
  private readonly maxKeyBytes: number;
  private readonly maxValueBytes: number;
  private readonly now: () => number;
  private readonly queue: KeyQueue;
  private readonly syncApply: boolean;
  private readonly cursors: ScanCursors;
  /** Set when a read of the current operation went asynchronous (see KeyQueue's mustTrack). */
  private readWentAsync = false;

  constructor(options: LocalKvStoreOptions) {
    this.engine = options.engine;
    this.maxKeyBytes = options.config.maxKeyBytes;
    this.maxValueBytes = options.config.maxValueBytes;
    this.now = options.now ?? Date.now;
    this.syncApply = options.engine.capabilities.appliesWritesSynchronously === true;
    this.cursors = new ScanCursors(options.config.scanCursorsMax ?? SCAN_CURSORS_MAX_DEFAULT, this.now());
    this.queue = new KeyQueue(
      options.busyKeysMax ?? options.config.busyKeysMax,
      () => { this.readWentAsync = false; },
      () => !this.syncApply || this.readWentAsync,
    );
  }

  /** Keys with an operation in flight (0 with a synchronous engine). */
  get busyKeys(): number {
    return this.queue.busyKeys;
  }

  checkKey(key: Key): void {
    if (key.length > this.maxKeyBytes) {
      throw new RingkvError('ERR_KEY_TOO_LARGE', 'ERR key exceeds maximum allowed size');
    }
  }

  checkValue(value: Buffer): void {
    if (value.length > this.maxValueBytes) {
      throw new RingkvError('ERR_VALUE_TOO_LARGE', 'ERR string exceeds maximum allowed size (proto-max-bulk-len)');
    }
  }

  // ---- reads ---------------------------------------------------------------------------

  get(key: Key, _options?: ReadOptions): MaybePromise<KvEntry | undefined> {
    if (this.queue.idle) {
      // Hot path: no closure; an asynchronous read still becomes the key's tail.
      const r = this.readLive(key);
      if (isPromise(r)) this.queue.track1(key, r);
      return r;
    }
    return this.queue.run1(key, () => this.readLive(key));
  }

  getMany(keys: readonly Key[], _options?: ReadOptions): MaybePromise<(KvEntry | undefined)[]> {
    return this.queue.run(keys, () => this.readMany(keys));
  }

  exists(keys: readonly Key[]): MaybePromise<number> {
    return then(this.getMany(keys), (entries) => {
      let n = 0;
      for (const e of entries) if (e !== undefined) n++;
      return n;
    });
  }

  touch(keys: readonly Key[]): MaybePromise<number> {
    // engine.get marks access for LRU/LFU engines.
    return this.exists(keys);
  }

  count(): MaybePromise<number> {
    return this.engine.count();
  }

  randomKey(): MaybePromise<Key | undefined> {
    return this.randomKeyTry(RANDOM_KEY_TRIES);
  }

  private randomKeyTry(tries: number): MaybePromise<Key | undefined> {
    return then(this.engine.randomKey(), (key) => {
      if (key === undefined) return undefined;
      return then(this.readLive(key), (e) => {
        if (e !== undefined) return key;
        return tries > 1 ? this.randomKeyTry(tries - 1) : undefined;
      });
    });
  }

  async scan(cursor: string, count: number): Promise<ScanPage> {
    const after = this.cursors.decode(cursor);
    const limit = Math.max(1, Math.floor(count));
    const now = this.now();
    const keys: Key[] = [];
    let last: Key | undefined;
    let seen = 0;
    const options = after === undefined ? { limit } : { gte: after + '\x00', limit };
    for await (const [k, rec] of this.engine.scan(options)) {
      seen++;
      last = k;
      if (rec.expiresAtMs === 0 || rec.expiresAtMs > now) keys.push(k);
      if (seen >= limit) break;
    }
    return { cursor: seen >= limit && last !== undefined ? this.cursors.encode(last) : '0', keys };
  }

  stats(): KvStats {
    const s = this.engine.stats();
    return {
      keys: s.keys,
      keysWithExpiry: s.keysWithExpiry,
      usedBytes: s.usedBytes,
      expiredKeys: s.expiredKeys,
      evictedKeys: s.evictedKeys,
    };
  }

  // ---- writes --------------------------------------------------------------------------

  put(key: Key, value: Buffer, options?: WriteOptions): MaybePromise<PutResult> {
    this.checkKey(key);
    this.checkValue(value);
    if (options === undefined || (options.condition === undefined && options.returnPrevious !== true && options.expiry?.kind !== 'keep')) {
      const expiry = options?.expiry;
      const expiresAtMs = expiry !== undefined && expiry.kind === 'at' ? expiry.atMs : 0;
      if (this.queue.idle) {
        // Hot path (plain SET): no closure, no promise with a synchronous engine.
        const r = this.writePut(key, value, expiresAtMs);
        if (!isPromise(r)) return WRITTEN;
        if (!this.syncApply) this.queue.track1(key, r);
        return r.then(toWritten);
      }
      return this.queue.run1(key, () => then(this.writePut(key, value, expiresAtMs), toWritten));
    }
    return this.queue.run1(key, () => then(this.readLive(key), (current) => {
      const cond = options.condition;
      if ((cond === 'nx' && current !== undefined) || (cond === 'xx' && current === undefined)) {
        return options.returnPrevious === true ? { written: false, previous: current } : NOT_WRITTEN;
      }
      const expiry = options.expiry;
      let expiresAtMs = 0;
      if (expiry !== undefined) {
        switch (expiry.kind) {
          case 'none': break;
          case 'keep': expiresAtMs = current?.expiresAtMs ?? 0; break;
          case 'at': expiresAtMs = expiry.atMs; break;
          default: return assertNever(expiry);
        }
      }
      return then(this.writeOne(key, { kind: 'put', value, expiresAtMs }), () =>
        options.returnPrevious === true ? { written: true, previous: current } : WRITTEN);
    }));
  }

  putMany(entries: readonly (readonly [Key, Buffer])[], options?: WriteOptions): MaybePromise<void> {
    for (const [k, v] of entries) {
      this.checkKey(k);
      this.checkValue(v);
    }
    const expiresAtMs = putManyExpiry(options);
    const keys = entries.map((e) => e[0]);
    return this.queue.run(keys, () => {
      this.engine.reserveMemory();
      const now = this.now();
      const ops: BatchOp[] = entries.map(([key, value]) =>
        expiresAtMs !== 0 && expiresAtMs <= now ? { kind: 'delete', key } : { kind: 'put', key, record: { value, expiresAtMs } });
      return this.engine.batch(ops);
    });
  }

  delete(keys: readonly Key[], _options?: ReadOptions): MaybePromise<number> {
    return this.queue.run(keys, () => this.deleteFrom(keys, 0, 0));
  }

  /** Deletes keys[i..] one after another (DEL k k counts k once), summing removals. */
  private deleteFrom(keys: readonly Key[], i: number, removed: number): MaybePromise<number> {
    for (; i < keys.length; i++) {
      const r = this.engine.delete(keys[i] as Key);
      if (isPromise(r)) {
        const next = i + 1;
        return r.then((gone) => this.deleteFrom(keys, next, removed + (gone ? 1 : 0)));
      }
      if (r) removed++;
    }
    return removed;
  }

  update<R>(key: Key, fn: (current: KvEntry | undefined) => UpdateDecision<R>, _options?: ReadOptions): MaybePromise<R> {
    return this.queue.run1(key, () => then(this.readLive(key), (current) => {
      const d = fn(current);
      if (d.write === undefined) return d.result;
      return then(this.writeOne(key, d.write), () => d.result);
    }));
  }

  updateMany<R>(keys: readonly Key[], fn: (current: (KvEntry | undefined)[]) => UpdateManyDecision<R>, _options?: ReadOptions): MaybePromise<R> {
    return this.queue.run(keys, () => then(this.readMany(keys), (current) => {
      const d = fn(current);
      if (d.writes.length !== keys.length) throw new RangeError('updateMany: one write per key expected');
      const ops: BatchOp[] = [];
      let grows = false;
      const now = this.now();
      for (let i = 0; i < keys.length; i++) {
        const w = d.writes[i];
        const key = keys[i] as Key;
        if (w === undefined) continue;
        switch (w.kind) {
          case 'put':
            this.checkKey(key);
            this.checkValue(w.value);
            grows = true;
            ops.push(w.expiresAtMs !== 0 && w.expiresAtMs <= now
              ? { kind: 'delete', key }
              : { kind: 'put', key, record: { value: w.value, expiresAtMs: w.expiresAtMs } });
            break;
          case 'delete':
            ops.push({ kind: 'delete', key });
            break;
          default:
            return assertNever(w);
        }
      }
      if (ops.length === 0) return d.result;
      if (grows) this.engine.reserveMemory();
      return then(this.engine.batch(ops), () => d.result);
    }));
  }

  async flush(): Promise<void> {
    await this.engine.clear();
  }

  // ---- internals -----------------------------------------------------------------------

  private live(rec: StoredRecord | undefined): KvEntry | undefined {
    if (rec === undefined) return undefined;
    return rec.expiresAtMs === 0 || rec.expiresAtMs > this.now() ? rec : undefined;
  }

  private readLive(key: Key): MaybePromise<KvEntry | undefined> {
    const r = this.engine.get(key);
    if (!isPromise(r)) return this.live(r);
    this.readWentAsync = true;
    return r.then((rec) => this.live(rec));
  }

  private readMany(keys: readonly Key[]): MaybePromise<(KvEntry | undefined)[]> {
    const out: (KvEntry | undefined)[] = new Array<KvEntry | undefined>(keys.length);
    let pending: Promise<void>[] | undefined;
    for (let i = 0; i < keys.length; i++) {
      const r = this.engine.get(keys[i] as Key);
      if (isPromise(r)) {
        const idx = i;
        this.readWentAsync = true;
        (pending ??= []).push(r.then((rec) => { out[idx] = this.live(rec); }));
      } else {
        out[i] = this.live(r);
      }
    }
    return pending === undefined ? out : Promise.all(pending).then(() => out);
  }

  /** A put whose expiry already passed deletes instead. Key and value are already checked. */
  private writePut(key: Key, value: Buffer, expiresAtMs: number): MaybePromise<unknown> {
    if (expiresAtMs !== 0 && expiresAtMs <= this.now()) return this.engine.delete(key);
    this.engine.reserveMemory();
    return this.engine.put(key, { value, expiresAtMs });
  }

  /** Applies one decided write. */
  private writeOne(key: Key, w: Exclude<KeyWrite, undefined>): MaybePromise<unknown> {
    switch (w.kind) {
      case 'put':
        this.checkKey(key);
        this.checkValue(w.value);
        return this.writePut(key, w.value, w.expiresAtMs);
      case 'delete':
        return this.engine.delete(key);
      default:
        return assertNever(w);
    }
  }
}

function assertNever(x: never): never {
  throw new TypeError(`unexpected variant ${JSON.stringify(x)}`);
}

