/**
 * LocalKvStore: limits, OOM before writes, expiry against the injected clock, the synchronous
 * hot path on the memory engine, SCAN cursors, and per-key serialisation on an asynchronous
 * engine (concurrent INCR-style updates lose nothing).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { ScanCursors } from '../../src/data/scan-cursors.js';
import { RingkvError } from '../../src/errors/index.js';
import type { BatchOp, Key, ScanOptions, StorageEngine, StoredRecord } from '../../src/storage/engine.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';
import { isPromise } from '../../src/util/maybe-promise.js';

const config = configSchema.parse({ engine: 'memory', maxKeyBytes: 8, maxValueBytes: 16 });

/** Wraps the memory engine so every operation resolves later, after a random short delay. */
class SlowEngine implements StorageEngine {
  readonly name = 'slow';
  readonly capabilities = { durable: false, eviction: false };
  reserveCalls = 0;
  failReserve = false;
  constructor(private readonly inner: MemoryEngine, private readonly rand: () => number) {}
  private later<T>(f: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        try {
          resolve(f());
        } catch (e) {
          reject(e);
        }
      }, Math.floor(this.rand() * 3));
    });
  }
  open(): Promise<void> { return this.inner.open(); }
  get(key: Key): Promise<StoredRecord | undefined> { return this.later(() => this.inner.get(key) as StoredRecord | undefined); }
  put(key: Key, record: StoredRecord): Promise<void> { return this.later(() => this.inner.put(key, record) as void); }
  delete(key: Key): Promise<boolean> { return this.later(() => this.inner.delete(key) as boolean); }
  batch(ops: readonly BatchOp[]): Promise<void> { return this.later(() => this.inner.batch(ops) as void); }
  scan(options?: ScanOptions): AsyncIterable<[Key, StoredRecord]> { return this.inner.scan(options); }
  count(): Promise<number> { return this.later(() => this.inner.count() as number); }
  randomKey(): Promise<Key | undefined> { return this.later(() => this.inner.randomKey() as Key | undefined); }
  clear(): Promise<void> { return this.inner.clear(); }
  reserveMemory(): void {
    this.reserveCalls++;
    if (this.failReserve) throw new RingkvError('ERR_OOM', "OOM command not allowed when used memory > 'maxmemory'.");
  }
  expireCycle(nowMs: number): number { return this.inner.expireCycle(nowMs) as number; }
  stats() { return this.inner.stats(); }
  close(): Promise<void> { return this.inner.close(); }
}

/** Applies writes at once but delivers them later (durability), as rocksdb with fsync does. */
class DeferredDeliveryEngine extends SlowEngine {
  override readonly capabilities = { durable: true, eviction: false, appliesWritesSynchronously: true };
  constructor(private readonly mem: MemoryEngine, rand: () => number) {
    super(mem, rand);
  }
  override get(key: Key): Promise<StoredRecord | undefined> {
    return this.mem.get(key) as unknown as Promise<StoredRecord | undefined>;
  }
  override put(key: Key, record: StoredRecord): Promise<void> {
    this.mem.put(key, record);
    return new Promise((r) => setTimeout(r, 2));
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function incrUpdate(cur: { value: Buffer } | undefined) {
  const n = cur === undefined ? 0 : Number(cur.value.toString());
  return { write: { kind: 'put' as const, value: Buffer.from(String(n + 1)), expiresAtMs: 0 }, result: n + 1 };
}

describe('LocalKvStore', () => {
  it('answers synchronously on the memory engine (no promise on the hot path)', () => {
    const engine = new MemoryEngine(config);
    const store = new LocalKvStore({ engine, config });
    const put = store.put('k', Buffer.from('v'));
    assert.equal(isPromise(put), false);
    const got = store.get('k');
    assert.equal(isPromise(got), false);
    assert.equal((got as { value: Buffer }).value.toString(), 'v');
    assert.equal(isPromise(store.update('n', incrUpdate)), false);
    assert.equal(store.busyKeys, 0);
  });

  it('refuses oversized keys and values with stable codes and writes nothing', () => {
    const engine = new MemoryEngine(config);
    const store = new LocalKvStore({ engine, config });
    assert.throws(() => store.put('123456789', Buffer.from('v')), (e: RingkvError) => e.code === 'ERR_KEY_TOO_LARGE');
    assert.throws(() => store.put('k', Buffer.alloc(17)), (e: RingkvError) =>
      e.code === 'ERR_VALUE_TOO_LARGE' && e.toRespLine() === 'ERR string exceeds maximum allowed size (proto-max-bulk-len)');
    assert.throws(() => store.putMany([['a', Buffer.alloc(1)], ['b', Buffer.alloc(17)]]), (e: RingkvError) => e.code === 'ERR_VALUE_TOO_LARGE');
    assert.equal(store.count(), 0);
  });

  it('calls reserveMemory before a write and propagates OOM with nothing written', async () => {
    const engine = new SlowEngine(new MemoryEngine(config), seeded(1));
    const store = new LocalKvStore({ engine, config });
    await store.put('a', Buffer.from('1'));
    assert.equal(engine.reserveCalls, 1);
    engine.failReserve = true;
    await assert.rejects(async () => store.put('b', Buffer.from('2')), (e: RingkvError) => e.code === 'ERR_OOM');
    await assert.rejects(async () => store.update('a', incrUpdate), (e: RingkvError) => e.code === 'ERR_OOM');
    assert.equal((await store.get('a'))?.value.toString(), '1');
    assert.equal(await store.get('b'), undefined);
    // Deletes never need memory.
    assert.equal(await store.delete(['a']), 1);
  });

  it('hides records expired by the injected clock even if the engine has not expired them', () => {
    let now = 1000;
    const engine = new MemoryEngine(config, { now: () => 0 });
    const store = new LocalKvStore({ engine, config, now: () => now });
    store.put('k', Buffer.from('v'), { expiry: { kind: 'at', atMs: 2000 } });
    assert.ok(store.get('k') !== undefined);
    now = 2000;
    assert.equal(store.get('k'), undefined);
    assert.equal(store.exists(['k']), 0);
  });

  it('conditional put and returnPrevious', () => {
    const store = new LocalKvStore({ engine: new MemoryEngine(config), config });
    assert.deepEqual(store.put('k', Buffer.from('a'), { condition: 'xx' }), { written: false });
    assert.equal((store.put('k', Buffer.from('a'), { condition: 'nx' }) as { written: boolean }).written, true);
    const r = store.put('k', Buffer.from('b'), { condition: 'nx', returnPrevious: true }) as { written: boolean; previous?: { value: Buffer } };
    assert.equal(r.written, false);
    assert.equal(r.previous?.value.toString(), 'a');
  });

  it('an update function that throws aborts with no write', () => {
    const store = new LocalKvStore({ engine: new MemoryEngine(config), config });
    store.put('k', Buffer.from('1'));
    assert.throws(() => store.update('k', () => {
      throw new RingkvError('ERR_NOT_INTEGER', 'ERR value is not an integer or out of range');
    }));
    assert.equal((store.get('k') as { value: Buffer }).value.toString(), '1');
  });

  it('scan cursors are unsigned 64-bit integers that round-trip binary keys; garbage is refused', () => {
    const cursors = new ScanCursors(3, 1_800_000_000_000);
    const longKey = 'a-key-longer-than-seven-bytes\x00\xff';
    for (const k of ['', 'a', '\x00\xff', 'key:1', 'sevenby', longKey, 'x'.repeat(10_000)]) {
      const c = cursors.encode(k);
      assert.match(c, /^[1-9][0-9]*$/);
      assert.ok(BigInt(c) < 1n << 64n, `cursor ${c} fits in 64 bits`);
      assert.equal(cursors.decode(c), k);
    }
    assert.equal(cursors.decode('0'), undefined);
    assert.equal(cursors.decode('000'), undefined);
    for (const bad of ['-1', '5', 'abc', '18446744073709551616', String((1n << 63n) + 12345n)]) {
      assert.throws(() => cursors.decode(bad), (e: RingkvError) => e.code === 'ERR_INVALID_ARGUMENT' && e.message === 'ERR invalid cursor', bad);
    }
  });

  it('scan cursor table is bounded: the oldest long-key cursor is forgotten first', () => {
    const cursors = new ScanCursors(2, 0);
    const first = cursors.encode('first-long-key');
    const second = cursors.encode('second-long-key');
    const third = cursors.encode('third-long-key');
    assert.equal(cursors.size, 2);
    assert.throws(() => cursors.decode(first), /invalid cursor/);
    assert.equal(cursors.decode(second), 'second-long-key');
    assert.equal(cursors.decode(third), 'third-long-key');
  });

  it('scan pages cover every live key exactly once and skip expired ones', async () => {
    let now = 0;
    const store = new LocalKvStore({ engine: new MemoryEngine(config, { now: () => now }), config, now: () => now });
    for (let i = 0; i < 50; i++) store.put(`k${i}`, Buffer.from('v'), i % 5 === 0 ? { expiry: { kind: 'at', atMs: 10 } } : undefined);
    now = 10;
    const seen: string[] = [];
    let cursor = '0';
    do {
      const page = await store.scan(cursor, 7);
      seen.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== '0');
    assert.equal(seen.length, 40);
    assert.equal(new Set(seen).size, 40);
  });

  it('concurrent read-modify-writes on one key through an async engine lose no update', async () => {
    const engine = new SlowEngine(new MemoryEngine(config), seeded(42));
    const store = new LocalKvStore({ engine, config });
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 200; i++) ops.push(Promise.resolve(store.update(i % 2 === 0 ? 'n' : 'm', incrUpdate)));
    const results = await Promise.all(ops);
    assert.equal((await store.get('n'))?.value.toString(), '100');
    assert.equal((await store.get('m'))?.value.toString(), '100');
    // Each update saw a distinct predecessor: the results are exactly 1..100 per key.
    assert.deepEqual(results.filter((_, i) => i % 2 === 0), Array.from({ length: 100 }, (_, i) => i + 1));
    await new Promise((r) => setImmediate(r));
    assert.equal(store.busyKeys, 0, 'the per-key queue is cleaned up once idle');
  });

  it('multi-key operations serialise with single-key ones on an async engine (no deadlock, no lost write)', async () => {
    const engine = new SlowEngine(new MemoryEngine(config), seeded(7));
    const store = new LocalKvStore({ engine, config });
    await store.putMany([['a', Buffer.from('0')], ['b', Buffer.from('0')]]);
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      ops.push(Promise.resolve(store.update('a', incrUpdate)));
      // Moves one unit from a to b and back in the opposite key order, atomically.
      ops.push(Promise.resolve(store.updateMany(i % 2 === 0 ? ['a', 'b'] : ['b', 'a'], (cur) => {
        const vals = cur.map((e) => Number(e?.value.toString() ?? '0'));
        return { writes: vals.map((v) => ({ kind: 'put' as const, value: Buffer.from(String(v + 1)), expiresAtMs: 0 })), result: 0 };
      })));
    }
    await Promise.all(ops);
    assert.equal((await store.get('a'))?.value.toString(), '100');
    assert.equal((await store.get('b'))?.value.toString(), '50');
    await new Promise((r) => setImmediate(r));
    assert.equal(store.busyKeys, 0);
  });

  it('an engine that applies writes synchronously is not serialised behind write delivery', async () => {
    const engine = new DeferredDeliveryEngine(new MemoryEngine(config), seeded(5));
    const store = new LocalKvStore({ engine, config });
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 100; i++) ops.push(Promise.resolve(store.update('n', incrUpdate)));
    // Every update already ran (read and applied its write); only deliveries are pending.
    assert.equal(store.busyKeys, 0);
    assert.equal((store.get('n') as { value: Buffer } | undefined)?.value.toString(), '100');
    assert.deepEqual(await Promise.all(ops), Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('refuses with BUSY, before starting, once busyKeysMax keys have operations in flight', async () => {
    const engine = new SlowEngine(new MemoryEngine(config), seeded(11));
    const store = new LocalKvStore({ engine, config: { ...config, busyKeysMax: 2 } });
    const a = store.update('a', incrUpdate);
    const b = store.update('b', incrUpdate);
    assert.throws(() => store.update('c', incrUpdate), (e: RingkvError) => e.code === 'ERR_OVERLOADED' && e.toRespLine().startsWith('BUSY '));
    await Promise.all([a, b]);
    assert.equal(await store.get('c'), undefined, 'the refused update did not happen');
    await new Promise((r) => setImmediate(r));
    assert.equal(await store.update('c', incrUpdate), 1, 'accepted again once the queue drained');
  });

  it('reads issued after a write on the same key observe it (async engine)', async () => {
    const engine = new SlowEngine(new MemoryEngine(config), seeded(3));
    const store = new LocalKvStore({ engine, config });
    const w = store.put('k', Buffer.from('new'));
    const r = store.get('k');
    await w;
    assert.equal((await r)?.value.toString(), 'new');
  });
});
