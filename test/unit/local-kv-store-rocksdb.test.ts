/**
 * LocalKvStore on the real RocksDB engine: every read and write is asynchronous there, so this
 * is where per-key serialisation matters. Concurrent INCRs, MSETNX races and RENAME chains issued
 * without awaiting each other (as many connections would) must lose nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { RocksdbEngine } from '../../src/storage/rocksdb/rocksdb-engine.js';
import type { CommandContext, ServerFacade } from '../../src/server/commands/command.js';
import { commands as stringCommands } from '../../src/server/commands/strings/index.js';
import { RecordingWriter } from './commands-harness.js';

describe('LocalKvStore on rocksdb', () => {
  let dir: string;
  let engine: RocksdbEngine;
  let store: LocalKvStore;
  const config = configSchema.parse({ engine: 'rocksdb', durability: 'none' });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ringkv-kv-'));
    engine = new RocksdbEngine({ ...config, dataDir: dir });
    await engine.open();
    store = new LocalKvStore({ engine, config });
  });

  after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('500 concurrent INCR commands on one key end at 500 with distinct replies', async () => {
    const incr = stringCommands.find((c) => c.name === 'incr');
    assert.ok(incr);
    const writers: RecordingWriter[] = [];
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) {
      const reply = new RecordingWriter();
      writers.push(reply);
      const ctx = {
        store, config, reply, now: Date.now, countHit: () => undefined,
        client: { id: i, name: '', protocol: 2, db: 0, authenticated: true, libName: '', libVersion: '', closeAfterReply: false },
        server: {} as ServerFacade,
      } as CommandContext;
      runs.push(Promise.resolve(incr.handler(ctx, [Buffer.from('incr'), Buffer.from('counter')])));
    }
    await Promise.all(runs);
    assert.equal((await store.get('counter'))?.value.toString(), '500');
    const replies = writers.map((w) => w.top[0]).sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(replies, Array.from({ length: 500 }, (_, i) => i + 1));
  });

  it('racing conditional writes: exactly one SET NX wins', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      Promise.resolve(store.put('once', Buffer.from(String(i)), { condition: 'nx' }))));
    assert.equal(results.filter((r) => r.written).length, 1);
  });

  it('updateMany across keys interleaved with single-key updates keeps every unit', async () => {
    await store.putMany([['x', Buffer.from('0')], ['y', Buffer.from('0')]]);
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      ops.push(Promise.resolve(store.update('x', (cur) => ({
        write: { kind: 'put', value: Buffer.from(String(Number(cur?.value.toString() ?? '0') + 1)), expiresAtMs: 0 }, result: 0,
      }))));
      // Move one unit from x to y atomically.
      ops.push(Promise.resolve(store.updateMany(['x', 'y'], ([cx, cy]) => ({
        writes: [
          { kind: 'put', value: Buffer.from(String(Number(cx?.value.toString() ?? '0') - 1)), expiresAtMs: 0 },
          { kind: 'put', value: Buffer.from(String(Number(cy?.value.toString() ?? '0') + 1)), expiresAtMs: 0 },
        ],
        result: 0,
      }))));
    }
    await Promise.all(ops);
    assert.equal((await store.get('x'))?.value.toString(), '0');
    assert.equal((await store.get('y'))?.value.toString(), '100');
    await new Promise((r) => setImmediate(r));
    assert.equal(store.busyKeys, 0);
  });
});

describe('LocalKvStore on rocksdb with fsync durability (writes delivered after group commit)', () => {
  it('200 concurrent INCR-style updates on one key all land and each sees its predecessor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-kv-'));
    const config = configSchema.parse({ engine: 'rocksdb', durability: 'fsync' });
    const engine = new RocksdbEngine({ ...config, dataDir: dir });
    await engine.open();
    try {
      const store = new LocalKvStore({ engine, config });
      const ops: Promise<number>[] = [];
      for (let i = 0; i < 200; i++) {
        ops.push(Promise.resolve(store.update('n', (cur) => {
          const n = Number(cur?.value.toString() ?? '0') + 1;
          return { write: { kind: 'put', value: Buffer.from(String(n)), expiresAtMs: 0 }, result: n };
        })));
      }
      const results = await Promise.all(ops);
      assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => i + 1));
      assert.equal((await store.get('n'))?.value.toString(), '200');
    } finally {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
