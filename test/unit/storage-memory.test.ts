/**
 * Memory-engine specifics beyond the conformance suite: index invariants under random
 * operations, exact memory accounting, buffer ownership, LFU decay, bounded active expiry and
 * the synchronous (promise-free) hot path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAXMEMORY_POLICIES } from '../../src/config/schema.js';
import { isRingkvError } from '../../src/errors/index.js';
import { isPromise } from '../../src/util/maybe-promise.js';
import { ENTRY_OVERHEAD_BYTES, MemoryEngine, VOLATILE_OVERHEAD_BYTES } from '../../src/storage/memory/memory-engine.js';
import { FakeClock, seededRandom } from '../conformance/storage-engine-suite.js';

const rec = (v: string, expiresAtMs = 0) => ({ value: Buffer.from(v), expiresAtMs });

describe('memory engine', () => {
  it('get, put, delete and batch answer synchronously, without promises', () => {
    const e = new MemoryEngine();
    assert.equal(isPromise(e.put('a', rec('1'))), false);
    const got = e.get('a');
    assert.equal(isPromise(got), false);
    assert.equal(got?.value.toString(), '1');
    assert.equal(e.delete('a'), true);
    assert.equal(isPromise(e.batch([{ kind: 'put', key: 'b', record: rec('2') }])), false);
    assert.equal(e.count(), 1);
  });

  it('usedBytes is key length + value length + the fixed per-entry overhead (+ TTL overhead)', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({}, { now: clock.now });
    e.put('abc', rec('12345'));
    e.put('d', rec(''));
    assert.equal(e.stats().usedBytes, 3 + 5 + 1 + 0 + 2 * ENTRY_OVERHEAD_BYTES);
    e.put('abc', rec('1', clock.ms + 1000));
    assert.equal(e.stats().usedBytes, 3 + 1 + 1 + 2 * ENTRY_OVERHEAD_BYTES + VOLATILE_OVERHEAD_BYTES);
    e.put('abc', rec('1'));
    assert.equal(e.stats().usedBytes, 3 + 1 + 1 + 2 * ENTRY_OVERHEAD_BYTES);
    e.put('d', rec('', clock.ms + 10));
    clock.advance(10);
    e.expireCycle(clock.ms);
    e.delete('abc');
    assert.equal(e.stats().usedBytes, 0);
  });

  it('a value that is a small view of a large buffer is copied; a standalone buffer is kept', () => {
    const e = new MemoryEngine();
    const chunk = Buffer.alloc(64 * 1024, 7);
    const view = chunk.subarray(100, 110);
    e.put('view', { value: view, expiresAtMs: 0 });
    const stored = e.get('view')?.value;
    assert.ok(stored !== undefined && stored.buffer !== chunk.buffer, 'view must not pin the 64 KB chunk');
    assert.deepEqual(stored, view);
    const own = Buffer.alloc(100_000, 1);
    e.put('own', { value: own, expiresAtMs: 0 });
    assert.equal(e.get('own')?.value, own);
  });

  it('index invariants hold under random operations with every maxmemory policy', async () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('put' as const), k: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 0, max: 300 }), ttl: fc.constantFrom(0, 0, 10, 1000) }),
      fc.record({ t: fc.constant('del' as const), k: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ t: fc.constant('get' as const), k: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ t: fc.constant('expire' as const) }),
      fc.record({ t: fc.constant('random' as const) }),
      fc.record({ t: fc.constant('reserve' as const) }),
    );
    await fc.assert(
      fc.property(fc.constantFrom(...MAXMEMORY_POLICIES), fc.array(op, { maxLength: 80 }), (policy, ops) => {
        const clock = new FakeClock();
        const e = new MemoryEngine({ maxmemory: 3000, maxmemoryPolicy: policy, maxmemorySamples: 3 }, { now: clock.now, random: seededRandom(42) });
        for (const o of ops) {
          switch (o.t) {
            case 'put': e.put(`k${o.k}`, { value: Buffer.alloc(o.size), expiresAtMs: o.ttl === 0 ? 0 : clock.ms + o.ttl }); break;
            case 'del': e.delete(`k${o.k}`); break;
            case 'get': e.get(`k${o.k}`); break;
            case 'tick': clock.advance(o.ms); break;
            case 'expire': e.expireCycle(clock.ms); break;
            case 'random': e.randomKey(); break;
            case 'reserve':
              try {
                e.reserveMemory();
                assert.ok(e.stats().usedBytes <= 3000);
              } catch (err) {
                assert.ok(isRingkvError(err) && err.code === 'ERR_OOM');
                assert.ok(policy === 'noeviction' || policy.startsWith('volatile-'));
              }
              break;
            default: {
              const never: never = o;
              throw new Error(String(never));
            }
          }
          e.invariants();
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('volatile policies refuse with ERR_OOM when no key has an expiry', () => {
    for (const policy of ['volatile-lru', 'volatile-lfu', 'volatile-ttl', 'volatile-random'] as const) {
      const e = new MemoryEngine({ maxmemory: 500, maxmemoryPolicy: policy });
      for (let i = 0; i < 5; i++) e.put(`k${i}`, rec('x'.repeat(100)));
      assert.throws(() => e.reserveMemory(), (err: unknown) => isRingkvError(err) && err.code === 'ERR_OOM', policy);
      assert.equal(e.count(), 5, policy);
    }
  });

  /** A cap that holds 'old-hot' or 'new' (1-byte values) but not both. */
  const oneOfTwo = 'old-hot'.length + 'new'.length + 2 + 2 * ENTRY_OVERHEAD_BYTES - 1;

  it('allkeys-lfu: counters decay with idle minutes, so a formerly hot key left idle is evicted before a new one', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({ maxmemory: oneOfTwo, maxmemoryPolicy: 'allkeys-lfu', maxmemorySamples: 64, lfuLogFactor: 0, lfuDecayTime: 1 }, { now: clock.now, random: seededRandom(1) });
    e.put('old-hot', rec('x'));
    for (let i = 0; i < 20; i++) e.get('old-hot'); // counter 5 -> 25 (log factor 0: every access counts)
    clock.advance(30 * 60_000); // 30 idle minutes at one decrement per minute: 25 -> 0
    e.put('new', rec('x')); // starts at LFU_INIT_VAL (5)
    e.reserveMemory();
    assert.equal(e.get('old-hot'), undefined);
    assert.equal(e.get('new')?.value.toString(), 'x');
  });

  it('allkeys-lfu with decay disabled keeps the formerly hot key', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({ maxmemory: oneOfTwo, maxmemoryPolicy: 'allkeys-lfu', maxmemorySamples: 64, lfuLogFactor: 0, lfuDecayTime: 0 }, { now: clock.now, random: seededRandom(1) });
    e.put('old-hot', rec('x'));
    for (let i = 0; i < 20; i++) e.get('old-hot');
    clock.advance(30 * 60_000);
    e.put('new', rec('x'));
    e.reserveMemory();
    assert.equal(e.get('old-hot')?.value.toString(), 'x');
    assert.equal(e.get('new'), undefined);
  });

  it('allkeys-lfu: overwriting a key keeps (and bumps) its access frequency, as in Redis', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({ maxmemory: oneOfTwo, maxmemoryPolicy: 'allkeys-lfu', maxmemorySamples: 64, lfuLogFactor: 0, lfuDecayTime: 0 }, { now: clock.now, random: seededRandom(1) });
    e.put('new', rec('x'));
    e.put('old-hot', rec('x'));
    for (let i = 0; i < 10; i++) e.put('old-hot', rec('y')); // written often, never read
    e.reserveMemory();
    assert.equal(e.get('old-hot')?.value.toString(), 'y');
    assert.equal(e.get('new'), undefined);
  });

  it('expireCycle examines at most expireCycleKeysMax keys per call', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({}, { now: clock.now, random: seededRandom(2), expireCycleKeysMax: 100 });
    for (let i = 0; i < 10_000; i++) e.put(`k${i}`, rec('x', clock.ms + 1));
    clock.advance(10);
    const removed = e.expireCycle(clock.ms);
    assert.ok(removed > 0 && removed <= 100, `removed ${removed}`);
    assert.equal(e.stats().keys, 10_000 - removed);
  });

  it('expireCycle stops sampling when at most 25% of a sample was expired', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({}, { now: clock.now, random: seededRandom(3) });
    for (let i = 0; i < 1000; i++) e.put(`k${i}`, rec('x', clock.ms + (i < 10 ? 1 : 1_000_000)));
    clock.advance(10);
    const removed = e.expireCycle(clock.ms);
    // One sample of 20 keys from 1000 with 1% expired: the loop ends after that sample.
    assert.ok(removed <= 5, `removed ${removed}`);
    e.invariants();
  });

  it('count() removes the expired keys it finds, so stats.keys matches afterwards', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({}, { now: clock.now });
    for (let i = 0; i < 100; i++) e.put(`k${i}`, rec('x', i < 60 ? clock.ms + 5 : 0));
    clock.advance(5);
    assert.equal(e.stats().keys, 100);
    assert.equal(e.count(), 40);
    assert.equal(e.stats().keys, 40);
    assert.equal(e.stats().expiredKeys, 60);
    e.invariants();
  });

  it('randomKey skips expired keys even when most keys have expired', () => {
    const clock = new FakeClock();
    const e = new MemoryEngine({}, { now: clock.now, random: seededRandom(4) });
    for (let i = 0; i < 1000; i++) e.put(`k${i}`, rec('x', clock.ms + 1));
    e.put('live', rec('x'));
    clock.advance(2);
    assert.equal(e.randomKey(), 'live');
    e.invariants();
  });

  describe('scan index', () => {
    async function keysOf(e: MemoryEngine, options: { gte?: string; lt?: string; limit?: number } = {}): Promise<string[]> {
      const out: string[] = [];
      for await (const [k] of e.scan(options)) out.push(k);
      return out;
    }

    /** Full listing by SCAN-style pages of `page` keys, resuming after the last key seen. */
    async function paged(e: MemoryEngine, page: number): Promise<string[]> {
      const out: string[] = [];
      let after: string | undefined;
      for (;;) {
        const got = await keysOf(e, after === undefined ? { limit: page } : { gte: after + '\x00', limit: page });
        out.push(...got);
        if (got.length < page) return out;
        after = got[got.length - 1];
      }
    }

    it('stays exact through inserts, deletes and re-inserts between scans, including index folds and rebuilds', async () => {
      const random = seededRandom(99);
      const e = new MemoryEngine();
      const model = new Set<string>();
      const key = () => `k${Math.floor(random() * 20_000)}`;
      for (let i = 0; i < 5000; i++) {
        const k = key();
        e.put(k, rec('v'));
        model.add(k);
      }
      for (let round = 0; round < 12; round++) {
        // Rounds alternate between insert-heavy (folds `recent` into `base`) and delete-heavy
        // (rebuilds once most of `base` is stale) phases.
        const inserts = round % 3 === 2 ? 500 : 3000;
        const deletes = round % 3 === 2 ? 6000 : 500;
        for (let i = 0; i < inserts; i++) {
          const k = key();
          e.put(k, rec('v'));
          model.add(k);
        }
        for (let i = 0; i < deletes; i++) {
          const k = key();
          e.delete(k);
          model.delete(k);
        }
        const expected = [...model].sort();
        // Joined strings: deepEqual on 10k-element arrays is needlessly slow.
        assert.equal((await keysOf(e)).join(','), expected.join(','), `round ${round}`);
        assert.equal((await paged(e, 997)).join(','), expected.join(','), `round ${round} paged`);
        const lo = expected[Math.floor(expected.length / 3)] ?? '';
        const hi = expected[Math.floor((2 * expected.length) / 3)] ?? '';
        assert.equal((await keysOf(e, { gte: lo, lt: hi })).join(','), expected.filter((k) => k >= lo && k < hi).join(','));
      }
      e.invariants();
    });

    it('stays exact after more inserts without a scan than it keeps pending (index dropped and rebuilt)', async () => {
      const e = new MemoryEngine();
      e.put('first', rec('v'));
      assert.deepEqual(await keysOf(e), ['first']);
      for (let i = 0; i < 70_000; i++) e.put(`k${i}`, rec(''));
      assert.deepEqual(await keysOf(e, { limit: 3 }), ['first', 'k0', 'k1']);
      assert.deepEqual(await keysOf(e, { gte: 'k69999', lt: 'k7' }), ['k69999']);
      assert.deepEqual(await keysOf(e, { gte: 'k3456', lt: 'k34561' }), ['k3456', 'k34560']);
    });

    it('a scan suspended across writes yields no duplicates and no deleted keys', async () => {
      const e = new MemoryEngine();
      for (let i = 0; i < 100; i++) e.put(`k${String(i).padStart(3, '0')}`, rec('v'));
      const seen: string[] = [];
      for await (const [k] of e.scan()) {
        seen.push(k);
        if (k === 'k010') {
          e.delete('k011');
          e.put('k010', rec('w')); // overwrite of the current key
          e.put('k0105', rec('new')); // inserted ahead of the cursor
          e.delete('k050');
        }
      }
      assert.equal(new Set(seen).size, seen.length);
      assert.ok(!seen.includes('k011') && !seen.includes('k050'));
      assert.equal(seen.length, 98);
    });

    it('concurrent first scans share one index build and both see every key', async () => {
      const e = new MemoryEngine();
      for (let i = 0; i < 40_000; i++) e.put(`k${i}`, rec('')); // more than one sort slice
      const [a, b] = await Promise.all([keysOf(e, { limit: 5 }), keysOf(e, { gte: 'k39999', lt: 'k4' })]);
      assert.deepEqual(a, ['k0', 'k1', 'k10', 'k100', 'k1000']);
      assert.deepEqual(b, ['k39999']);
    });

    it('a key inserted while the index is being built is still found', async () => {
      const e = new MemoryEngine();
      for (let i = 0; i < 40_000; i++) e.put(`k${i}`, rec(''));
      const first = keysOf(e, { limit: 1 }); // starts the build, which yields to the loop
      e.put('a-during-build', rec(''));
      await first;
      assert.deepEqual(await keysOf(e, { limit: 1 }), ['a-during-build']);
    });
  });

  it('rejects a maxmemorySamples below 1 as programmer error', () => {
    assert.throws(() => new MemoryEngine({ maxmemorySamples: 0 }), RangeError);
  });
});
