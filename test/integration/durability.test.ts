/**
 * Durability of a real `ringkv start --durability fsync --engine rocksdb` process:
 * - kill -9 mid-stream: every SET a client saw acknowledged is there, with its value, after a
 *   restart on the same data directory (writes that were in flight may or may not be);
 * - SIGTERM: the process exits 0 and everything written is there after a restart, also under
 *   durability none, where only the graceful close syncs the WAL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { killAll, startRingkv, stop, tempDir, type RingkvProcess } from './cli-process.js';

after(killAll);

function connect(port: number): Redis {
  // No retries and no offline queue: a command either gets its reply or fails, never replays.
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, lazyConnect: true });
  // Connection resets after the kill are expected; the failed commands are simply not acknowledged.
  c.on('error', () => undefined);
  return c;
}

async function readAll(port: number, keys: readonly string[]): Promise<Map<string, string | null>> {
  const c = connect(port);
  await c.connect();
  const out = new Map<string, string | null>();
  try {
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const values = await c.mget(...chunk);
      chunk.forEach((k, j) => out.set(k, values[j] ?? null));
    }
  } finally {
    c.disconnect();
  }
  return out;
}

describe('durability', () => {
  it('durability: every SET acknowledged under fsync survives kill -9 and restart', async (t) => {
    const dir = tempDir('ringkv-durability-');
    let node: RingkvProcess | undefined;
    try {
      node = await startRingkv(['--durability', 'fsync', '--engine', 'rocksdb', '--data-dir', dir.path]);
      const acked = new Map<string, string>();
      const clientsN = 4;
      const windowN = 8;
      const clients = Array.from({ length: clientsN }, () => connect(node?.respPort ?? 0));
      await Promise.all(clients.map((c) => c.connect()));
      let killed = false;
      const errors: unknown[] = [];

      const writers = clients.map(async (c, ci) => {
        let seq = 0;
        const lane = async (): Promise<void> => {
          while (!killed) {
            const key = `dur:${ci}:${seq}`;
            const value = `v-${ci}-${seq}-${'x'.repeat(seq % 50)}`;
            seq++;
            try {
              const r = await c.set(key, value);
              if (r === 'OK') acked.set(key, value);
            } catch (e) {
              if (!killed) errors.push(e);
              return;
            }
          }
        };
        await Promise.all(Array.from({ length: windowN }, lane));
      });

      // Let a good number of writes be acknowledged, then pull the plug mid-stream.
      const deadline = Date.now() + 15_000;
      while (acked.size < 1500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const ackedBeforeKill = acked.size;
      process.kill(node.pid, 'SIGKILL');
      killed = true;
      const exit = await node.exited;
      assert.equal(exit.signal, 'SIGKILL');
      await Promise.all(writers);
      for (const c of clients) c.disconnect();
      assert.deepEqual(errors, [], 'no client errors before the kill');
      assert.ok(ackedBeforeKill >= 200, `expected a real stream of acknowledged writes, got ${ackedBeforeKill}`);

      node = await startRingkv(['--durability', 'fsync', '--engine', 'rocksdb', '--data-dir', dir.path]);
      const keys = [...acked.keys()];
      const found = await readAll(node.respPort, keys);
      const missing = keys.filter((k) => found.get(k) !== acked.get(k));
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${keys.length} acknowledged writes lost or wrong`);
      t.diagnostic(`${keys.length} acknowledged SETs (${clientsN} clients x ${windowN} in flight) all present after kill -9`);
      assert.equal((await stop(node)).code, 0);
    } finally {
      dir.remove();
    }
  });

  for (const durability of ['none', 'batch'] as const) {
    it(`durability: SIGTERM exits 0 and keeps every write (durability ${durability})`, async () => {
      const dir = tempDir('ringkv-durability-');
      try {
        let node = await startRingkv(['--durability', durability, '--engine', 'rocksdb', '--data-dir', dir.path]);
        const c = connect(node.respPort);
        await c.connect();
        const pairs: [string, string][] = Array.from({ length: 2000 }, (_v, i) => [`term:${i}`, `value-${i}`]);
        const pipe = c.pipeline();
        for (const [k, v] of pairs) pipe.set(k, v);
        const results = await pipe.exec();
        assert.ok(results?.every(([err, r]) => err === null && r === 'OK'));
        await c.set('term:ttl', 'soon', 'EX', 1000);
        c.disconnect();

        const exit = await stop(node, 'SIGTERM');
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.ok(node.stdoutLines.some((l) => l.includes('shutdown complete')), `logs the end of a graceful shutdown: ${node.stdoutLines.join('\n')}`);

        node = await startRingkv(['--durability', durability, '--engine', 'rocksdb', '--data-dir', dir.path]);
        const found = await readAll(node.respPort, pairs.map(([k]) => k));
        assert.ok(pairs.every(([k, v]) => found.get(k) === v), 'every value is there after restart');
        const c2 = connect(node.respPort);
        await c2.connect();
        const ttl = await c2.ttl('term:ttl');
        c2.disconnect();
        assert.ok(ttl > 990 && ttl <= 1000, `expiry survives restart, ttl=${ttl}`);
        assert.equal((await stop(node)).code, 0);
      } finally {
        dir.remove();
      }
    });
  }
});
