/**
 * The HTTP API of a real standalone node on the rocksdb engine (the default): values written
 * over HTTP are the same keys Redis clients see, conditional writes work on the stored
 * version's digest, and data written over HTTP survives a restart.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RingkvClient } from '../../src/client/index.js';
import { freePort, killAll, startRingkv, stop, tempDir } from './cli-process.js';

after(killAll);

describe('http api: real standalone node (rocksdb)', { timeout: 60_000 }, () => {
  it('http standalone: HTTP and RESP address the same keys; If-Match uses the version digest; data survives a restart', async () => {
    const dir = tempDir('ringkv-http-standalone-');
    const httpPort = await freePort();
    const args = ['--data-dir', dir.path, '--http-port', String(httpPort), '--durability', 'fsync'];
    let node = await startRingkv(args);
    const base = `http://127.0.0.1:${httpPort}`;
    const redis = new Redis({ port: node.respPort, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.connect();
      assert.equal((await fetch(`${base}/v1/kv/caf%C3%A9`, { method: 'PUT', body: 'from http' })).status, 204);
      assert.equal(await redis.get('café'), 'from http');
      await redis.set('from-resp', 'hello');
      const r = await fetch(`${base}/v1/kv/from-resp`);
      assert.equal(await r.text(), 'hello');
      const ctx = r.headers.get('x-ringkv-context') ?? '';
      await redis.set('from-resp', 'changed');
      const stale = await fetch(`${base}/v1/kv/from-resp`, { method: 'PUT', headers: { 'if-match': ctx }, body: 'lost?' });
      assert.equal(stale.status, 412);
      assert.equal(await redis.get('from-resp'), 'changed');

      const client = await new RingkvClient({ seeds: [`127.0.0.1:${httpPort}`] }).connect();
      try {
        assert.equal(client.mode, 'standalone');
        await client.putMany(Array.from({ length: 20 }, (_, i) => ({ key: `bulk:${i}`, value: `v${i}` })));
        const keys: string[] = [];
        for await (const k of client.keys({ match: 'bulk:*', pageSize: 6 })) keys.push(k);
        assert.equal(keys.length, 20);
      } finally {
        client.close();
      }
      redis.disconnect();
      assert.equal((await stop(node)).code, 0);

      node = await startRingkv(args);
      const again = await fetch(`${base}/v1/kv/bulk:7`);
      assert.equal(again.status, 200);
      assert.equal(await again.text(), 'v7');
      assert.equal(await (await fetch(`${base}/v1/kv/caf%C3%A9`)).text(), 'from http');
      const ready = await fetch(`${base}/readyz`);
      assert.deepEqual(await ready.json(), { ready: true, reason: 'ok' });
    } finally {
      redis.disconnect();
      await stop(node).catch(() => undefined);
      dir.remove();
    }
  });
});
