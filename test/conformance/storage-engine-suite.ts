/**
 * The storage engine conformance suite: one set of tests every StorageEngine must pass, run by
 * memory.test.ts and rocksdb.test.ts with their own harness. Engine-specific behaviour is
 * gated on `capabilities` (durable: reopen-persists; eviction: maxmemory policies).
 *
 * Every engine method may return a value or a promise (MaybePromise), so every call is awaited.
 * Time comes from a fake clock owned by each test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { MaxmemoryPolicy } from '../../src/config/schema.js';
import { isRingkvError } from '../../src/errors/index.js';
import { isPromise } from '../../src/util/maybe-promise.js';
import type { EngineCapabilities, Key, StorageEngine, StoredRecord } from '../../src/storage/engine.js';

export interface HarnessOptions {
  now: () => number;
  random?: () => number;
  /** Memory-engine knobs for eviction tests; other engines ignore them. */
  maxmemory?: number;
  maxmemoryPolicy?: MaxmemoryPolicy;
  maxmemorySamples?: number;
  lfuLogFactor?: number;
  lfuDecayTime?: number;
}

export interface OpenedEngine {
  engine: StorageEngine;
  /** Closes the engine and opens a new one on the same data (durable engines). */
  reopen(): Promise<StorageEngine>;
  /** Closes the engine and removes its data. */
  dispose(): Promise<void>;
}

export interface EngineHarness {
  name: string;
  /** Must equal the engine's own `capabilities`; decides which capability-gated tests exist. */
  capabilities: EngineCapabilities;
  open(options: HarnessOptions): Promise<OpenedEngine>;
  /** fast-check runs for the model test; a disk engine affords fewer. */
  propertyRuns: number;
}

export class FakeClock {
  constructor(public ms = 1_700_000_000_000) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Deterministic PRNG (mulberry32) so sampling-based tests are repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rec = (s: string | Buffer, expiresAtMs = 0): StoredRecord => ({ value: typeof s === 'string' ? Buffer.from(s) : s, expiresAtMs });

async function collect(engine: StorageEngine, options?: Parameters<StorageEngine['scan']>[0]): Promise<[Key, string][]> {
  const out: [Key, string][] = [];
  for await (const [k, r] of engine.scan(options)) out.push([k, r.value.toString('latin1')]);
  return out;
}

async function valueOf(engine: StorageEngine, key: Key): Promise<string | undefined> {
  const r = await engine.get(key);
  return r?.value.toString('latin1');
}

function isOom(e: unknown): boolean {
  return isRingkvError(e) && e.code === 'ERR_OOM' && e.message === "command not allowed when used memory > 'maxmemory'.";
}

export function storageEngineConformance(h: EngineHarness): void {
  /** Opens a fresh engine, runs `body`, always disposes. */
  async function withEngine(options: Partial<HarnessOptions> & { clock?: FakeClock }, body: (e: StorageEngine, clock: FakeClock, opened: OpenedEngine) => Promise<void>): Promise<void> {
    const clock = options.clock ?? new FakeClock();
    const opened = await h.open({ ...options, now: clock.now });
    try {
      await body(opened.engine, clock, opened);
    } finally {
      await opened.dispose();
    }
  }

  describe(`storage conformance: ${h.name}`, () => {
    describe('get/put/delete', () => {
      it('get of a missing key returns undefined', () => withEngine({}, async (e) => {
        assert.equal(await e.get('nope'), undefined);
      }));

      it('put then get returns the value and expiry written', () => withEngine({}, async (e, clock) => {
        await e.put('k', rec('v1'));
        await e.put('t', rec('v2', clock.ms + 10_000));
        const k = await e.get('k');
        const t = await e.get('t');
        assert.equal(k?.value.toString(), 'v1');
        assert.equal(k?.expiresAtMs, 0);
        assert.equal(t?.value.toString(), 'v2');
        assert.equal(t?.expiresAtMs, clock.ms + 10_000);
      }));

      it('overwrite replaces value and expiry, and clearing a TTL makes the key persistent', () => withEngine({}, async (e, clock) => {
        await e.put('k', rec('a', clock.ms + 1000));
        await e.put('k', rec('b'));
        clock.advance(5000);
        const r = await e.get('k');
        assert.equal(r?.value.toString(), 'b');
        assert.equal(r?.expiresAtMs, 0);
        assert.equal(e.stats().keysWithExpiry, 0);
        assert.equal(await e.count(), 1);
      }));

      it('a record returned earlier keeps its value after the key is overwritten', () => withEngine({}, async (e) => {
        await e.put('k', rec('old'));
        const before = await e.get('k');
        await e.put('k', rec('new'));
        assert.equal(before?.value.toString(), 'old');
      }));

      it('delete returns true for a live key and false for a missing one; the key is gone', () => withEngine({}, async (e) => {
        await e.put('k', rec('v'));
        assert.equal(await e.delete('k'), true);
        assert.equal(await e.delete('k'), false);
        assert.equal(await e.delete('never'), false);
        assert.equal(await e.get('k'), undefined);
        assert.equal(await e.count(), 0);
      }));

      it('put of an already-expired record removes the key', () => withEngine({}, async (e, clock) => {
        await e.put('k', rec('v'));
        await e.put('k', rec('w', clock.ms - 1));
        assert.equal(await e.get('k'), undefined);
        assert.equal(await e.count(), 0);
        assert.equal(e.stats().keys, 0);
      }));
    });

    describe('batch', () => {
      it('batch applies every put and delete, later ops on a key win', () => withEngine({}, async (e, clock) => {
        await e.put('gone', rec('x'));
        await e.put('kept', rec('y'));
        await e.batch([
          { kind: 'put', key: 'a', record: rec('1') },
          { kind: 'put', key: 'b', record: rec('2', clock.ms + 1000) },
          { kind: 'delete', key: 'gone' },
          { kind: 'put', key: 'a', record: rec('3') },
          { kind: 'put', key: 'c', record: rec('4') },
          { kind: 'delete', key: 'c' },
          { kind: 'put', key: 'b', record: rec('5', clock.ms + 2000) },
        ]);
        assert.deepEqual(await collect(e), [['a', '3'], ['b', '5'], ['kept', 'y']]);
        assert.equal((await e.get('b'))?.expiresAtMs, clock.ms + 2000);
        assert.equal(await e.count(), 3);
        assert.equal(e.stats().keysWithExpiry, 1);
      }));

      it('a batch with an invalid operation applies none of its operations', () => withEngine({}, async (e) => {
        await e.put('a', rec('old'));
        const bad = [
          { kind: 'put', key: 'a', record: rec('new') },
          { kind: 'put', key: 'b', record: rec('new') },
          { kind: 'merge', key: 'c' },
        ] as unknown as Parameters<StorageEngine['batch']>[0];
        await assert.rejects(async () => e.batch(bad), TypeError);
        assert.equal(await valueOf(e, 'a'), 'old');
        assert.equal(await e.get('b'), undefined);
        assert.equal(await e.count(), 1);
      }));

      it('an empty batch is a no-op', () => withEngine({}, async (e) => {
        await e.batch([]);
        assert.equal(await e.count(), 0);
      }));
    });

    describe('keys and values', () => {
      it('every single-byte key (0x00..0xff) round-trips and scans in byte order', () => withEngine({}, async (e) => {
        const keys: Key[] = [];
        for (let b = 255; b >= 0; b--) keys.push(String.fromCharCode(b));
        for (const k of keys) await e.put(k, rec(Buffer.from([k.charCodeAt(0)])));
        for (const k of keys) assert.equal((await e.get(k))?.value[0], k.charCodeAt(0));
        const scanned = (await collect(e)).map(([k]) => k.charCodeAt(0));
        assert.deepEqual(scanned, Array.from({ length: 256 }, (_, i) => i));
        assert.equal(await e.count(), 256);
      }));

      it('a key holding all 256 byte values round-trips exactly', () => withEngine({}, async (e) => {
        const key = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
        await e.put(key, rec('v'));
        assert.equal(await valueOf(e, key), 'v');
        const [[k]] = (await collect(e)) as [[Key, string]];
        assert.equal(Buffer.from(k, 'latin1').equals(Buffer.from(key, 'latin1')), true);
      }));

      it('the empty key is a valid key', () => withEngine({}, async (e) => {
        await e.put('', rec('empty'));
        await e.put('a', rec('a'));
        assert.equal(await valueOf(e, ''), 'empty');
        assert.deepEqual(await collect(e), [['', 'empty'], ['a', 'a']]);
        assert.equal(await e.delete(''), true);
        assert.equal(await e.get(''), undefined);
      }));

      it('empty and binary values round-trip', () => withEngine({}, async (e) => {
        const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
        await e.put('empty', rec(Buffer.alloc(0)));
        await e.put('bin', rec(bin));
        assert.equal((await e.get('empty'))?.value.length, 0);
        assert.equal((await e.get('bin'))?.value.equals(bin), true);
      }));

      it('a 1 MB value round-trips', () => withEngine({}, async (e) => {
        const big = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
        await e.put('big', rec(big));
        const got = await e.get('big');
        assert.equal(got?.value.length, big.length);
        assert.equal(got?.value.equals(big), true);
      }));
    });

    describe('scan', () => {
      const fill = async (e: StorageEngine): Promise<void> => {
        for (const k of ['b', 'a', 'c', 'ab', 'b\x00', 'ba', '\xff']) await e.put(k, rec(k.toUpperCase()));
      };

      it('scan returns every live record in byte order of key', () => withEngine({}, async (e) => {
        await fill(e);
        assert.deepEqual((await collect(e)).map(([k]) => k), ['a', 'ab', 'b', 'b\x00', 'ba', 'c', '\xff']);
      }));

      it('scan honours an inclusive lower and exclusive upper bound', () => withEngine({}, async (e) => {
        await fill(e);
        assert.deepEqual((await collect(e, { gte: 'ab', lt: 'ba' })).map(([k]) => k), ['ab', 'b', 'b\x00']);
        assert.deepEqual((await collect(e, { gte: 'b\x00' })).map(([k]) => k), ['b\x00', 'ba', 'c', '\xff']);
        assert.deepEqual((await collect(e, { lt: 'b' })).map(([k]) => k), ['a', 'ab']);
        assert.deepEqual(await collect(e, { gte: 'x', lt: 'y' }), []);
        assert.deepEqual(await collect(e, { gte: 'c', lt: 'a' }), []);
      }));

      it('scan stops after limit live records', () => withEngine({}, async (e) => {
        await fill(e);
        assert.deepEqual((await collect(e, { limit: 3 })).map(([k]) => k), ['a', 'ab', 'b']);
        assert.deepEqual((await collect(e, { gte: 'b', limit: 2 })).map(([k]) => k), ['b', 'b\x00']);
        assert.deepEqual(await collect(e, { limit: 0 }), []);
      }));

      it('scan values match get', () => withEngine({}, async (e) => {
        await fill(e);
        for (const [k, v] of await collect(e)) assert.equal(await valueOf(e, k), v);
      }));

      it('scan sees writes whose result was delivered before it started, across many chunks', () => withEngine({}, async (e) => {
        for (let i = 0; i < 1000; i++) await e.put(`k${String(i).padStart(4, '0')}`, rec(String(i)));
        const got = await collect(e);
        assert.equal(got.length, 1000);
        assert.deepEqual(got[999], ['k0999', '999']);
      }));
    });

    describe('expiry', () => {
      it('an expired record is invisible to get, scan, count and randomKey (lazy expiry)', () => withEngine({}, async (e, clock) => {
        await e.put('live', rec('l'));
        await e.put('ttl', rec('t', clock.ms + 1000));
        assert.equal(await valueOf(e, 'ttl'), 't');
        assert.equal(await e.count(), 2);
        clock.advance(1000); // expiry is inclusive: expiresAtMs <= now means expired
        assert.equal(await e.get('ttl'), undefined);
        assert.deepEqual(await collect(e), [['live', 'l']]);
        assert.equal(await e.count(), 1);
        for (let i = 0; i < 20; i++) assert.equal(await e.randomKey(), 'live');
      }));

      it('scan and count skip expired records that no read has touched yet', () => withEngine({}, async (e, clock) => {
        for (let i = 0; i < 10; i++) await e.put(`t${i}`, rec('x', clock.ms + 100 + i));
        await e.put('p', rec('p'));
        clock.advance(105); // t0..t5 expired
        assert.deepEqual((await collect(e)).map(([k]) => k), ['p', 't6', 't7', 't8', 't9']);
        assert.equal(await e.count(), 5);
      }));

      it('expireCycle removes due records, leaves others, and counts them in stats', () => withEngine({}, async (e, clock) => {
        const t0 = clock.ms;
        for (let i = 0; i < 50; i++) await e.put(`due${i}`, rec('x', t0 + 10));
        for (let i = 0; i < 5; i++) await e.put(`later${i}`, rec('y', t0 + 100_000));
        await e.put('persist', rec('z'));
        assert.equal(e.stats().keysWithExpiry, 55);
        clock.advance(10);
        let removed = 0;
        for (let i = 0; i < 50 && removed < 50; i++) removed += await e.expireCycle(clock.ms);
        assert.equal(removed, 50);
        const s = e.stats();
        assert.equal(s.keys, 6);
        assert.equal(s.keysWithExpiry, 5);
        assert.equal(s.expiredKeys, 50);
        assert.equal(await e.count(), 6);
        assert.equal(await e.expireCycle(clock.ms), 0);
        assert.equal(await valueOf(e, 'later0'), 'y');
      }));

      it('expireCycle with nothing due removes nothing', () => withEngine({}, async (e, clock) => {
        await e.put('a', rec('x', clock.ms + 1000));
        assert.equal(await e.expireCycle(clock.ms), 0);
        assert.equal(await e.count(), 1);
      }));

      it('an expired key read lazily is counted in stats.expiredKeys and leaves stats.keys', () => withEngine({}, async (e, clock) => {
        await e.put('a', rec('x', clock.ms + 1));
        clock.advance(2);
        assert.equal(await e.get('a'), undefined);
        assert.equal(e.stats().expiredKeys, 1);
        assert.equal(e.stats().keys, 0);
        assert.equal(e.stats().keysWithExpiry, 0);
      }));

      it('deleting an expired key returns false', () => withEngine({}, async (e, clock) => {
        await e.put('a', rec('x', clock.ms + 1));
        clock.advance(2);
        assert.equal(await e.delete('a'), false);
        assert.equal(await e.count(), 0);
      }));

      it('re-putting a key with a new expiry moves its expiry: the old deadline no longer removes it', () => withEngine({}, async (e, clock) => {
        await e.put('a', rec('x', clock.ms + 10));
        await e.put('a', rec('y', clock.ms + 1000));
        clock.advance(20);
        assert.equal(await e.expireCycle(clock.ms), 0);
        assert.equal(await valueOf(e, 'a'), 'y');
        assert.equal(e.stats().keysWithExpiry, 1);
      }));
    });

    describe('count, randomKey, clear, stats', () => {
      it('count is exact after puts, overwrites and deletes', () => withEngine({}, async (e) => {
        for (let i = 0; i < 100; i++) await e.put(`k${i}`, rec('v'));
        for (let i = 0; i < 50; i++) await e.put(`k${i}`, rec('w'));
        for (let i = 0; i < 100; i += 3) await e.delete(`k${i}`);
        assert.equal(await e.count(), 100 - 34);
        assert.equal(e.stats().keys, 66);
      }));

      it('randomKey returns undefined when empty and, over many calls, every live key', () => withEngine({ random: seededRandom(7) }, async (e) => {
        assert.equal(await e.randomKey(), undefined);
        const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
        for (const k of keys) await e.put(k, rec('v'));
        const seen = new Set<Key>();
        for (let i = 0; i < 300; i++) {
          const k = await e.randomKey();
          assert.ok(k !== undefined && keys.includes(k), `unexpected ${String(k)}`);
          seen.add(k);
        }
        assert.deepEqual([...seen].sort(), keys);
      }));

      it('clear removes every record and the engine stays usable', () => withEngine({}, async (e, clock) => {
        for (let i = 0; i < 20; i++) await e.put(`k${i}`, rec('v', i % 2 === 0 ? 0 : clock.ms + 1000));
        await e.clear();
        assert.equal(await e.count(), 0);
        assert.deepEqual(await collect(e), []);
        assert.equal(await e.randomKey(), undefined);
        assert.equal(e.stats().keys, 0);
        assert.equal(e.stats().keysWithExpiry, 0);
        clock.advance(2000);
        assert.equal(await e.expireCycle(clock.ms), 0);
        await e.put('after', rec('ok'));
        assert.equal(await valueOf(e, 'after'), 'ok');
        assert.equal(await e.count(), 1);
      }));

      it('stats reports keys, keys with expiry and a non-negative usedBytes', () => withEngine({}, async (e, clock) => {
        await e.put('a', rec('1'));
        await e.put('b', rec('2', clock.ms + 1000));
        await e.put('c', rec('3', clock.ms + 1000));
        const s = e.stats();
        assert.equal(s.keys, 3);
        assert.equal(s.keysWithExpiry, 2);
        assert.ok(s.usedBytes >= 0);
        assert.equal(s.evictedKeys, 0);
        assert.equal(s.expiredKeys, 0);
      }));

      it('close is idempotent', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now });
        await opened.engine.put('a', rec('1'));
        await opened.engine.close();
        await opened.engine.close();
        await opened.dispose();
      });
    });

    describe('model check', () => {
      type Op =
        | { t: 'put'; k: string; v: string; ttl: number }
        | { t: 'del'; k: string }
        | { t: 'get'; k: string }
        | { t: 'batch'; ops: { k: string; v: string | null }[] }
        | { t: 'tick'; ms: number }
        | { t: 'expire' }
        | { t: 'count' }
        | { t: 'scan'; gte: string | null; lt: string | null; limit: number | null };
      const key = fc.constantFrom('', 'a', 'ab', 'b', '\x00', '\xff', 'a\x00', 'zz');
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 5, arbitrary: fc.record({ t: fc.constant('put' as const), k: key, v: fc.string({ maxLength: 8 }), ttl: fc.constantFrom(0, 0, 5, 20, 100) }) },
        { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: key }) },
        { weight: 3, arbitrary: fc.record({ t: fc.constant('get' as const), k: key }) },
        { weight: 1, arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(fc.record({ k: key, v: fc.option(fc.string({ maxLength: 4 })) }), { maxLength: 5 }) }) },
        { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 }) }) },
        { weight: 1, arbitrary: fc.record({ t: fc.constant('expire' as const) }) },
        { weight: 1, arbitrary: fc.record({ t: fc.constant('count' as const) }) },
        { weight: 1, arbitrary: fc.record({ t: fc.constant('scan' as const), gte: fc.option(key), lt: fc.option(key), limit: fc.option(fc.integer({ min: 0, max: 5 })) }) },
      );

      it('random operation sequences agree with a Map model (values, expiry, count, scan)', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now, random: seededRandom(1) });
        const e = opened.engine;
        try {
          await fc.assert(
            fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
              await e.clear();
              const model = new Map<string, { v: string; exp: number }>();
              const live = (k: string): string | undefined => {
                const m = model.get(k);
                return m !== undefined && (m.exp === 0 || m.exp > clock.ms) ? m.v : undefined;
              };
              const liveSorted = (): [string, string][] => [...model.keys()].filter((k) => live(k) !== undefined).sort().map((k) => [k, live(k) ?? '']);
              for (const o of ops) {
                switch (o.t) {
                  case 'put': {
                    const exp = o.ttl === 0 ? 0 : clock.ms + o.ttl;
                    await e.put(o.k, rec(Buffer.from(o.v, 'latin1'), exp));
                    model.set(o.k, { v: o.v, exp });
                    break;
                  }
                  case 'del': {
                    const expected = live(o.k) !== undefined;
                    assert.equal(await e.delete(o.k), expected);
                    model.delete(o.k);
                    break;
                  }
                  case 'get':
                    assert.equal(await valueOf(e, o.k), live(o.k));
                    break;
                  case 'batch':
                    await e.batch(o.ops.map((b) => (b.v === null ? { kind: 'delete' as const, key: b.k } : { kind: 'put' as const, key: b.k, record: rec(Buffer.from(b.v, 'latin1')) })));
                    for (const b of o.ops) {
                      if (b.v === null) model.delete(b.k);
                      else model.set(b.k, { v: b.v, exp: 0 });
                    }
                    break;
                  case 'tick':
                    clock.advance(o.ms);
                    break;
                  case 'expire':
                    await e.expireCycle(clock.ms);
                    break;
                  case 'count':
                    assert.equal(await e.count(), liveSorted().length);
                    break;
                  case 'scan': {
                    const opts = { ...(o.gte === null ? {} : { gte: o.gte }), ...(o.lt === null ? {} : { lt: o.lt }), ...(o.limit === null ? {} : { limit: o.limit }) };
                    let expected = liveSorted().filter(([k]) => (o.gte === null || k >= o.gte) && (o.lt === null || k < o.lt));
                    if (o.limit !== null) expected = expected.slice(0, o.limit);
                    assert.deepEqual(await collect(e, opts), expected);
                    break;
                  }
                  default: {
                    const never: never = o;
                    throw new Error(`unhandled ${String(never)}`);
                  }
                }
              }
              assert.deepEqual(await collect(e), liveSorted());
              assert.equal(await e.count(), liveSorted().length);
            }),
            { numRuns: h.propertyRuns, seed: 20261122 },
          );
        } finally {
          await opened.dispose();
        }
      });
    });

    if (h.capabilities.appliesWritesSynchronously === true) {
      describe('synchronous apply', () => {
        it('get answers synchronously and sees put, batch and delete before their results settle', () => withEngine({}, async (e) => {
          const p1 = e.put('k', rec('1'));
          const g1 = e.get('k');
          assert.equal(isPromise(g1), false);
          assert.equal((g1 as StoredRecord | undefined)?.value.toString(), '1');
          const p2 = e.batch([{ kind: 'put', key: 'k', record: rec('2') }, { kind: 'put', key: 'j', record: rec('3') }]);
          assert.equal((e.get('k') as StoredRecord | undefined)?.value.toString(), '2');
          assert.equal((e.get('j') as StoredRecord | undefined)?.value.toString(), '3');
          const p3 = e.delete('k');
          assert.equal(e.get('k'), undefined);
          await p1;
          await p2;
          assert.equal(await p3, true);
          assert.equal(await e.count(), 1);
        }));
      });
    }

    describe('durability', () => {
      it('the engine declares the capabilities its harness expects', () => withEngine({}, async (e) => {
        assert.deepEqual(e.capabilities, h.capabilities);
      }));

      if (!h.capabilities.durable) {
        it('a non-durable engine starts empty after reopen', async () => {
          const clock = new FakeClock();
          const opened = await h.open({ now: clock.now });
          try {
            await opened.engine.put('a', rec('1'));
            const again = await opened.reopen();
            assert.equal(await again.count(), 0);
          } finally {
            await opened.dispose();
          }
        });
        return;
      }

      it('records, expiries and counts persist across close and reopen', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now });
        try {
          const e = opened.engine;
          await e.put('a', rec('1'));
          await e.put('b', rec('2', clock.ms + 1000));
          await e.put('c', rec('3'));
          await e.delete('c');
          await e.batch([{ kind: 'put', key: '\x00bin\xff', record: rec('4') }]);
          const e2 = await opened.reopen();
          assert.equal(await valueOf(e2, 'a'), '1');
          assert.equal((await e2.get('b'))?.expiresAtMs, clock.ms + 1000);
          assert.equal(await e2.get('c'), undefined);
          assert.equal(await valueOf(e2, '\x00bin\xff'), '4');
          assert.equal(await e2.count(), 3);
          assert.equal(e2.stats().keysWithExpiry, 1);
          clock.advance(1000);
          assert.equal(await e2.expireCycle(clock.ms), 1);
          assert.equal(await e2.count(), 2);
        } finally {
          await opened.dispose();
        }
      });

      it('a cleared keyspace stays empty after reopen', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now });
        try {
          await opened.engine.put('a', rec('1'));
          await opened.engine.clear();
          const e2 = await opened.reopen();
          assert.equal(await e2.count(), 0);
          assert.equal(await e2.get('a'), undefined);
        } finally {
          await opened.dispose();
        }
      });
    });

    describe('maxmemory and eviction', () => {
      /** Puts `n` keys k00..; returns usedBytes per key. */
      async function fill(e: StorageEngine, n: number, ttl: (i: number) => number): Promise<number> {
        for (let i = 0; i < n; i++) await e.put(`k${String(i).padStart(2, '0')}`, rec('x'.repeat(100), ttl(i)));
        return e.stats().usedBytes / n;
      }

      /** Keys evicted (missing) among k00..k(n-1), read without touching LRU/LFU state: via scan. */
      async function present(e: StorageEngine): Promise<Set<Key>> {
        return new Set((await collect(e)).map(([k]) => k));
      }

      let perKey: number | undefined;
      /** usedBytes per key for the keys `fill` writes, measured once on an uncapped engine. */
      async function perKeyBytes(): Promise<number> {
        if (perKey === undefined) {
          const opened = await h.open({ now: new FakeClock().now });
          try {
            perKey = await fill(opened.engine, 20, () => 0);
          } finally {
            await opened.dispose();
          }
        }
        return perKey;
      }

      if (!h.capabilities.eviction) {
        it('reserveMemory never refuses on an engine without eviction', () => withEngine({ maxmemory: 1, maxmemoryPolicy: 'noeviction' }, async (e) => {
          await e.put('a', rec('x'.repeat(1000)));
          e.reserveMemory();
          assert.equal(await e.count(), 1);
          assert.equal(e.stats().evictedKeys, 0);
        }));
        return;
      }

      const evictionIt = it;

      evictionIt('noeviction refuses writes over maxmemory with ERR_OOM and evicts nothing', async () => {
        await withEngine({ maxmemory: 1_000_000, maxmemoryPolicy: 'noeviction' }, async (e) => {
          await fill(e, 10, () => 0);
          e.reserveMemory(); // under the cap: fine
        });
        await withEngine({ maxmemory: 1000, maxmemoryPolicy: 'noeviction' }, async (e) => {
          await fill(e, 10, () => 0);
          assert.throws(() => e.reserveMemory(), isOom);
          assert.equal(await e.count(), 10);
          assert.equal(e.stats().evictedKeys, 0);
        });
      });

      evictionIt('maxmemory 0 means unlimited', async () => {
        await withEngine({ maxmemory: 0, maxmemoryPolicy: 'noeviction' }, async (e) => {
          await fill(e, 50, () => 0);
          e.reserveMemory();
          assert.equal(await e.count(), 50);
        });
      });

      evictionIt('allkeys-lru evicts until under the cap and keeps recently read keys', async () => {
        const cap = Math.floor((await perKeyBytes()) * 10.5);
        await withEngine({ maxmemoryPolicy: 'allkeys-lru', maxmemorySamples: 64, random: seededRandom(3), maxmemory: cap }, async (e) => {
          await fill(e, 20, () => 0);
          for (let i = 0; i < 20; i += 2) await e.get(`k${String(i).padStart(2, '0')}`); // read the even keys
          e.reserveMemory();
          assert.ok(e.stats().usedBytes <= cap);
          const left = await present(e);
          assert.equal(left.size, 10);
          const evens = [...left].filter((k) => Number(k.slice(1)) % 2 === 0).length;
          assert.ok(evens >= 9, `recently read keys kept: ${evens}/10 (${[...left].join(',')})`);
          assert.equal(e.stats().evictedKeys, 10);
        });
      });

      evictionIt('allkeys-lfu keeps frequently read keys', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now, maxmemoryPolicy: 'allkeys-lfu', maxmemorySamples: 64, lfuLogFactor: 0, random: seededRandom(5), maxmemory: Math.floor((await perKeyBytes()) * 10.5) });
        try {
          const e = opened.engine;
          await fill(e, 20, () => 0);
          // The last 10 keys (the most recently written) are read often, the first 10 never.
          for (let r = 0; r < 5; r++) for (let i = 10; i < 20; i++) await e.get(`k${i}`);
          // Then touch the cold keys once, most recently: LRU would now keep them, LFU must not.
          for (let i = 0; i < 10; i++) await e.put(`k${String(i).padStart(2, '0')}`, rec('x'.repeat(100)));
          e.reserveMemory();
          const left = await present(e);
          const hot = [...left].filter((k) => Number(k.slice(1)) >= 10).length;
          assert.ok(hot >= 9, `frequently read keys kept: ${hot}/10 (${[...left].join(',')})`);
        } finally {
          await opened.dispose();
        }
      });

      evictionIt('volatile-lru evicts only keys with an expiry, then refuses with ERR_OOM', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now, maxmemoryPolicy: 'volatile-lru', maxmemorySamples: 8, random: seededRandom(9), maxmemory: Math.floor((await perKeyBytes()) * 10.5) });
        try {
          const e = opened.engine;
          await fill(e, 20, (i) => (i < 8 ? clock.ms + 60_000 : 0)); // 8 volatile, 12 persistent
          assert.throws(() => e.reserveMemory(), isOom);
          const left = await present(e);
          assert.equal(left.size, 12);
          assert.ok([...left].every((k) => Number(k.slice(1)) >= 8));
          assert.equal(e.stats().evictedKeys, 8);
          assert.equal(e.stats().keysWithExpiry, 0);
        } finally {
          await opened.dispose();
        }
      });

      evictionIt('volatile-lfu evicts only keys with an expiry, least frequently used first', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now, maxmemoryPolicy: 'volatile-lfu', maxmemorySamples: 64, lfuLogFactor: 0, random: seededRandom(11), maxmemory: Math.floor((await perKeyBytes()) * 15.5) });
        try {
          const e = opened.engine;
          await fill(e, 20, (i) => (i < 10 ? clock.ms + 60_000 : 0)); // k00..k09 volatile
          for (let r = 0; r < 5; r++) for (let i = 5; i < 10; i++) await e.get(`k0${i}`);
          e.reserveMemory();
          const left = await present(e);
          assert.equal(left.size, 15);
          for (let i = 10; i < 20; i++) assert.ok(left.has(`k${i}`), `persistent k${i} kept`);
          const hotKept = [5, 6, 7, 8, 9].filter((i) => left.has(`k0${i}`)).length;
          assert.ok(hotKept >= 4, `frequently read volatile keys kept: ${hotKept}/5`);
        } finally {
          await opened.dispose();
        }
      });

      evictionIt('volatile-ttl evicts the keys with the nearest expiry first', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now, maxmemoryPolicy: 'volatile-ttl', maxmemorySamples: 64, random: seededRandom(13), maxmemory: Math.floor((await perKeyBytes()) * 15.5) });
        try {
          const e = opened.engine;
          // k00 expires soonest ... k09 latest; k10..k19 persistent.
          await fill(e, 20, (i) => (i < 10 ? clock.ms + 1000 * (i + 1) : 0));
          e.reserveMemory();
          const left = await present(e);
          assert.equal(left.size, 15);
          const gone = ['k00', 'k01', 'k02', 'k03', 'k04', 'k05', 'k06', 'k07', 'k08', 'k09'].filter((k) => !left.has(k));
          assert.equal(gone.length, 5);
          assert.ok(gone.filter((k) => Number(k.slice(1)) < 6).length >= 4, `nearest expiries evicted: ${gone.join(',')}`);
        } finally {
          await opened.dispose();
        }
      });

      evictionIt('allkeys-random evicts until under the cap and counts evictions', async () => {
        const clock = new FakeClock();
        const cap = Math.floor((await perKeyBytes()) * 10.5);
        const opened = await h.open({ now: clock.now, maxmemoryPolicy: 'allkeys-random', random: seededRandom(17), maxmemory: cap });
        try {
          const e = opened.engine;
          await fill(e, 20, (i) => (i % 2 === 0 ? clock.ms + 60_000 : 0));
          e.reserveMemory();
          assert.ok(e.stats().usedBytes <= cap);
          const left = await e.count();
          // Keys with an expiry cost a little more, so 9 or 10 of the 20 fit under the cap.
          assert.ok(left === 9 || left === 10, `left ${left}`);
          assert.equal(e.stats().evictedKeys, 20 - left);
        } finally {
          await opened.dispose();
        }
      });

      evictionIt('volatile-random evicts only keys with an expiry', async () => {
        const clock = new FakeClock();
        const opened = await h.open({ now: clock.now, maxmemoryPolicy: 'volatile-random', random: seededRandom(19), maxmemory: Math.floor((await perKeyBytes()) * 15.5) });
        try {
          const e = opened.engine;
          await fill(e, 20, (i) => (i % 2 === 0 ? clock.ms + 60_000 : 0));
          e.reserveMemory();
          const left = await present(e);
          assert.equal(left.size, 15);
          for (let i = 1; i < 20; i += 2) assert.ok(left.has(`k${String(i).padStart(2, '0')}`));
        } finally {
          await opened.dispose();
        }
      });
    });
  });
}
