/**
 * RocksDB-engine specifics beyond the conformance suite: durability modes and group commit,
 * read-your-writes and per-key order before a write's promise settles, close semantics, the
 * on-disk format (record codec, index order, format version) and recovery after SIGKILL.
 *
 * When RINGKV_CRASH_CHILD is set this file runs as the child of the crash test instead: it
 * writes in fsync mode, reports each acknowledged key on stdout, and is killed mid-stream.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { RocksLevel } from '@nxtedition/rocksdb';
import { configSchema, type Durability } from '../../src/config/schema.js';
import { isRingkvError } from '../../src/errors/index.js';
import { isPromise } from '../../src/util/maybe-promise.js';
import { RocksdbEngine } from '../../src/storage/rocksdb/rocksdb-engine.js';
import {
  META_COUNTS_KEY, META_FORMAT_KEY, decodeIndexKey, decodeRecord, encodeIndexKey, encodeRecord,
} from '../../src/storage/rocksdb/record-codec.js';

const rec = (v: string, expiresAtMs = 0) => ({ value: Buffer.from(v), expiresAtMs });

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ringkv-rocksdb-unit-'));
  dirs.push(d);
  return d;
}

function config(dataDir: string, durability: Durability, batchSyncIntervalMs = 100) {
  return configSchema.parse({ dataDir, durability, batchSyncIntervalMs, rocksdb: { blockCacheBytes: 8 * 1024 * 1024, writeBufferBytes: 4 * 1024 * 1024 } });
}

async function openEngine(durability: Durability, dataDir = tempDir(), batchSyncIntervalMs = 100, walSync: 'threadpool' | 'inline' = 'threadpool'): Promise<RocksdbEngine> {
  const e = new RocksdbEngine(config(dataDir, durability, batchSyncIntervalMs), { walSync });
  await e.open();
  return e;
}

/** WAL files of `dir` this process holds open (from /proc/self/fd). */
function openWalFiles(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir) && /\.log( \(deleted\))?$/.test(target)) out.push(target);
    } catch {
      // fd closed while listing
    }
  }
  return out;
}

async function crashChild(): Promise<void> {
  const dataDir = process.env.RINGKV_CRASH_CHILD ?? '';
  const e = new RocksdbEngine(config(dataDir, 'fsync'));
  await e.open();
  for (let i = 0; ; i++) {
    const writes: Promise<void>[] = [];
    for (let j = 0; j < 10; j++) {
      const p = e.put(`k${i}-${j}`, rec(`v${i}-${j}`));
      if (isPromise(p)) writes.push(p);
    }
    await Promise.all(writes);
    process.stdout.write(`${i}\n`);
  }
}

if (process.env.RINGKV_CRASH_CHILD !== undefined) {
  await crashChild();
} else {
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  describe('rocksdb engine', () => {
    describe('durability and group commit', () => {
      for (const walSync of ['threadpool', 'inline'] as const) {
        it(`fsync (${walSync} sync): concurrent writes in one event-loop turn share a single WAL sync`, async () => {
          const e = await openEngine('fsync', tempDir(), 100, walSync);
          try {
            const before = e.walSyncs;
            const writes: Promise<void>[] = [];
            for (let i = 0; i < 100; i++) {
              const p = e.put(`k${i}`, rec(String(i)));
              assert.ok(isPromise(p), 'fsync writes return a promise');
              writes.push(p);
            }
            await Promise.all(writes);
            assert.equal(e.walSyncs - before, 1);
            assert.equal(e.count(), 100);
          } finally {
            await e.close();
          }
        });

        it(`fsync (${walSync} sync): sequential awaited writes each wait for their own WAL sync`, async () => {
          const e = await openEngine('fsync', tempDir(), 100, walSync);
          try {
            const before = e.walSyncs;
            for (let i = 0; i < 3; i++) await e.put(`k${i}`, rec('v'));
            assert.equal(await e.delete('k0'), true);
            await e.batch([{ kind: 'delete', key: 'k1' }]);
            assert.equal(e.walSyncs - before, 5);
          } finally {
            await e.close();
          }
        });
      }

      it('fsync: writes arriving while a sync is in flight form the next group and are not acknowledged by the earlier sync', async () => {
        const e = await openEngine('fsync');
        try {
          const before = e.walSyncs;
          let firstSettled = false;
          const p1 = e.put('a', rec('1'));
          assert.ok(isPromise(p1));
          void p1.then(() => { firstSettled = true; });
          for (let i = 0; i < 1000 && !e.syncInFlight; i++) await new Promise((r) => setImmediate(r));
          assert.ok(e.syncInFlight, 'the first sync runs off the event loop');
          assert.equal(firstSettled, false);
          const p2 = e.put('b', rec('2')); // the event loop is free while the sync runs
          const p3 = e.put('c', rec('3'));
          assert.notEqual(p2, p1);
          assert.equal(p3, p2, 'later writes share the next group');
          await Promise.all([p1, p2, p3]);
          assert.equal(e.walSyncs - before, 2);
        } finally {
          await e.close();
        }
      });

      it('the WAL syncer does not accumulate handles on deleted WAL files across roll-overs', async () => {
        const dataDir = tempDir();
        const e = new RocksdbEngine(configSchema.parse({ dataDir, durability: 'fsync', rocksdb: { writeBufferBytes: 256 * 1024 } }));
        await e.open();
        try {
          const value = Buffer.alloc(4096, 1);
          for (let round = 0; round < 20; round++) {
            const writes: (void | Promise<void>)[] = [];
            for (let i = 0; i < 64; i++) writes.push(e.put(`r${round}-${i}`, { value, expiresAtMs: 0 }));
            await Promise.all(writes);
          }
          // 5 MB through 256 KB write buffers: the WAL rolled over several times.
          const walNow = readdirSync(e.location).filter((f) => f.endsWith('.log'));
          const held = openWalFiles(dataDir);
          // RocksDB holds its live WAL files open too. A WAL deleted by a background flush since
          // the last sync keeps our handle until the next sync, so a few stale handles are
          // normal; what must not happen is one per roll-over (~20 here).
          const stale = held.filter((t) => t.endsWith('(deleted)'));
          assert.ok(stale.length <= 4, `stale WAL handles: ${stale.join(' ')}`);
          assert.ok(held.length <= 2 * walNow.length + 4, `holding ${held.length} WAL handles for ${walNow.length} files`);
          assert.equal(e.count(), 20 * 64);
        } finally {
          await e.close();
        }
        assert.deepEqual(openWalFiles(dataDir), []);
      });

      it('fsync: a write is visible to get before its promise settles, and same-key writes apply in call order', async () => {
        const e = await openEngine('fsync');
        try {
          const p1 = e.put('k', rec('first'));
          const p2 = e.put('k', rec('second'));
          assert.equal(e.get('k')?.value.toString(), 'second');
          const p3 = e.delete('k');
          assert.equal(e.get('k'), undefined);
          await Promise.all([p1, p2]);
          assert.equal(await p3, true);
          assert.equal(e.get('k'), undefined);
        } finally {
          await e.close();
        }
      });

      it('none: writes complete synchronously and never sync the WAL before close', async () => {
        const e = await openEngine('none');
        const before = e.walSyncs;
        assert.equal(isPromise(e.put('a', rec('1'))), false);
        assert.equal(e.delete('a'), true);
        assert.equal(isPromise(e.batch([{ kind: 'put', key: 'b', record: rec('2') }])), false);
        await new Promise((r) => setTimeout(r, 30));
        assert.equal(e.walSyncs, before);
        await e.close();
      });

      it('batch: unsynced writes are synced by the interval timer, an idle engine is not', async () => {
        const e = await openEngine('batch', tempDir(), 20);
        try {
          const before = e.walSyncs;
          e.put('a', rec('1'));
          await new Promise((r) => setTimeout(r, 80));
          const afterWrite = e.walSyncs;
          assert.ok(afterWrite - before >= 1, 'a sync happened after the write');
          await new Promise((r) => setTimeout(r, 80));
          assert.equal(e.walSyncs, afterWrite, 'no sync while idle');
        } finally {
          await e.close();
        }
      });

      it('close settles writes waiting for a group sync', async () => {
        const e = await openEngine('fsync');
        const p = e.put('a', rec('1'));
        await e.close();
        await p;
        assert.ok(e.walSyncs >= 1);
      });

      it('acknowledged fsync writes survive SIGKILL of the writing process, and the key count is recounted exactly', async () => {
        const dataDir = tempDir();
        // A clean close first saves the counters; the child's open consumes them, so after the
        // crash the parent's open must recount rather than trust stale counters.
        const pre = await openEngine('none', dataDir);
        for (let i = 0; i < 50; i++) pre.put(`pre${i}`, rec('p', i < 10 ? Date.now() + 3_600_000 : 0));
        await pre.close();
        const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
          env: { ...process.env, RINGKV_CRASH_CHILD: dataDir },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let acked = -1;
        let buf = '';
        await new Promise<void>((resolve, reject) => {
          child.on('error', reject);
          child.on('exit', () => resolve());
          child.stdout.on('data', (d: Buffer) => {
            buf += d.toString();
            const lines = buf.split('\n');
            buf = lines.pop() ?? '';
            for (const l of lines) if (l !== '') acked = Number(l);
            if (acked >= 20 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
          });
        });
        assert.ok(acked >= 20, `child acknowledged ${acked + 1} rounds`);
        const e = await openEngine('none', dataDir);
        try {
          for (let i = 0; i <= acked; i++) {
            for (let j = 0; j < 10; j++) assert.equal(e.get(`k${i}-${j}`)?.value.toString(), `v${i}-${j}`);
          }
          let scanned = 0;
          for await (const _ of e.scan()) scanned++;
          assert.ok(scanned >= 50 + (acked + 1) * 10);
          assert.equal(e.count(), scanned);
          assert.equal(e.stats().keysWithExpiry, 10);
        } finally {
          await e.close();
        }
      });
    });

    describe('lifecycle', () => {
      it('close is idempotent and operations after close fail with ERR_SHUTTING_DOWN', async () => {
        const e = await openEngine('none');
        await e.close();
        await e.close();
        const isShutdown = (err: unknown) => isRingkvError(err) && err.code === 'ERR_SHUTTING_DOWN';
        assert.throws(() => e.get('a'), isShutdown);
        assert.throws(() => e.put('a', rec('1')), isShutdown);
        assert.throws(() => e.count(), isShutdown);
      });

      it('a scan left suspended or with a read in flight at close ends with ERR_SHUTTING_DOWN', async () => {
        const isShutdown = (err: unknown) => isRingkvError(err) && err.code === 'ERR_SHUTTING_DOWN';
        for (const inFlight of [false, true]) {
          const e = await openEngine('none');
          for (let i = 0; i < 600; i++) e.put(`k${String(i).padStart(3, '0')}`, rec('v'));
          const it = e.scan()[Symbol.asyncIterator]();
          assert.deepEqual((await it.next()).value?.[0], 'k000');
          if (inFlight) {
            for (let i = 1; i < 256; i++) await it.next(); // drain the first chunk
            const pending = it.next().then(() => 'yielded', (err: unknown) => (isShutdown(err) ? 'shutdown' : err));
            await e.close();
            assert.equal(await pending, 'shutdown');
          } else {
            await e.close();
            await assert.rejects(it.next(), isShutdown);
          }
        }
      });

      it('opening data written in an unknown format version fails with ERR_CONFIG', async () => {
        const dataDir = tempDir();
        const e = await openEngine('none', dataDir);
        const location = e.location;
        await e.close();
        const raw = new RocksLevel(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
        await raw.open({ createIfMissing: false });
        const b = raw._chainedBatch();
        b._put(META_FORMAT_KEY, Buffer.from([99]));
        b._writeSync({ sync: true });
        b._closeSync();
        await raw.close();
        await assert.rejects(openEngine('none', dataDir), (err: unknown) => isRingkvError(err) && err.code === 'ERR_CONFIG');
      });

      it('counters saved at a clean close are used at the next open and saved again at its close', async () => {
        const dataDir = tempDir();
        const e1 = await openEngine('none', dataDir);
        for (let i = 0; i < 10; i++) e1.put(`k${i}`, rec('v'));
        await e1.close();
        const e2 = await openEngine('none', dataDir);
        assert.equal(e2.count(), 10);
        const location = e2.location;
        await e2.close();
        const raw = new RocksLevel(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
        await raw.open({ createIfMissing: false });
        try {
          assert.ok(raw._getManySync([META_COUNTS_KEY])[0] !== undefined, 'saved again by the second clean close');
        } finally {
          await raw.close();
        }
      });

      it('counters are rebuilt at open, including expired records not yet collected', async () => {
        const dataDir = tempDir();
        let now = 1_000_000;
        const cfg = config(dataDir, 'none');
        const e1 = new RocksdbEngine(cfg, { now: () => now });
        await e1.open();
        for (let i = 0; i < 10; i++) e1.put(`k${i}`, rec('v', i < 4 ? now + 10 : 0));
        await e1.close();
        now += 100;
        const e2 = new RocksdbEngine(cfg, { now: () => now });
        await e2.open();
        try {
          assert.equal(e2.stats().keys, 10);
          assert.equal(e2.stats().keysWithExpiry, 4);
          assert.equal(e2.count(), 6);
          assert.equal(e2.expireCycle(now), 4);
          assert.equal(e2.stats().keys, 6);
        } finally {
          await e2.close();
        }
      });

      it('an expiry earlier than what expireCycle already passed is still counted and collected', async () => {
        let now = 1_000_000;
        const e = new RocksdbEngine(config(tempDir(), 'none'), { now: () => now });
        await e.open();
        try {
          e.put('a', rec('v', now + 10));
          now += 20;
          assert.equal(e.expireCycle(now + 1000), 1); // scans up to a point past the clock
          e.put('b', rec('v', now + 500)); // due before that point
          assert.equal(e.count(), 1);
          now += 600;
          assert.equal(e.count(), 0);
          assert.equal(e.expireCycle(now), 1);
          assert.equal(e.stats().keysWithExpiry, 0);
        } finally {
          await e.close();
        }
      });

      it('expireCycle processes at most expireCycleKeysMax due entries per call, oldest first', async () => {
        let now = 1_000_000;
        const e = new RocksdbEngine(config(tempDir(), 'none'), { now: () => now, expireCycleKeysMax: 10 });
        await e.open();
        try {
          for (let i = 0; i < 25; i++) e.put(`k${String(i).padStart(2, '0')}`, rec('v', now + 1 + (24 - i)));
          now += 1000;
          assert.equal(e.expireCycle(now), 10);
          // Latest-written keys expire first (k24 has the nearest deadline).
          assert.equal(e.stats().keys, 15);
          now -= 1000; // back before any deadline: the remaining keys are visible again
          assert.equal(e.get('k24'), undefined);
          assert.equal(e.get('k00')?.value.toString(), 'v');
          now += 1000;
          assert.equal(e.expireCycle(now), 10);
          assert.equal(e.expireCycle(now), 5);
          assert.equal(e.expireCycle(now), 0);
        } finally {
          await e.close();
        }
      });
    });

    describe('rocksdb options', () => {
      it('bloom bits and write buffer size from config reach RocksDB', async () => {
        const read = async (rocksdb: Record<string, unknown>) => {
          const dataDir = tempDir();
          const e = new RocksdbEngine(configSchema.parse({ dataDir, durability: 'none', rocksdb }));
          await e.open();
          const location = e.location;
          await e.close();
          const file = readdirSync(location).filter((f) => f.startsWith('OPTIONS')).sort().pop() ?? '';
          return readFileSync(join(location, file), 'utf8');
        };
        const a = await read({ bloomBitsPerKey: 14, writeBufferBytes: '8mb' });
        assert.match(a, /filter_policy=bloomfilter:14:false/);
        assert.match(a, /^\s*write_buffer_size=8388608$/m);
        const b = await read({ bloomBitsPerKey: 0 });
        assert.match(b, /filter_policy=nullptr/);
      });

      it('the block cache is sized from config', async () => {
        const e = new RocksdbEngine(configSchema.parse({ dataDir: tempDir(), durability: 'none', rocksdb: { blockCacheBytes: '24mb' } }));
        await e.open();
        try {
          assert.equal(e.property('rocksdb.block-cache-capacity'), String(24 * 1024 * 1024));
        } finally {
          await e.close();
        }
      });
    });

    describe('record codec', () => {
      it('records round-trip value and expiry up to the year 275760', () => {
        fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 8.64e15 }), (bytes, exp) => {
          const r = decodeRecord(encodeRecord({ value: Buffer.from(bytes), expiresAtMs: exp }));
          assert.equal(r.expiresAtMs, exp);
          assert.deepEqual(new Uint8Array(r.value), bytes);
        }));
      });

      it('index keys sort by expiry first, then by key bytes', () => {
        const key = fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b).toString('latin1'));
        const exp = fc.integer({ min: 1, max: 8.64e15 });
        fc.assert(fc.property(exp, key, exp, key, (e1, k1, e2, k2) => {
          const a = encodeIndexKey(e1, k1);
          const b = encodeIndexKey(e2, k2);
          const expected = e1 !== e2 ? Math.sign(e1 - e2) : Math.sign(Buffer.compare(Buffer.from(k1, 'latin1'), Buffer.from(k2, 'latin1')));
          assert.equal(Math.sign(Buffer.compare(a, b)), expected);
          assert.deepEqual(decodeIndexKey(a), { expiresAtMs: e1, key: k1 });
        }));
      });

      it('a record with an unknown format byte is rejected, not misread', () => {
        const b = encodeRecord(rec('v'));
        b[0] = 42;
        assert.throws(() => decodeRecord(b), /corrupt record header/);
      });
    });
  });
}
