/**
 * CONFIG SET of the memory knobs reaches the engine of a running node: lowering maxmemory with
 * an eviction policy evicts, and switching to noeviction refuses writes with Redis's OOM error.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { killAll, startRingkv, stop } from './cli-process.js';

after(killAll);

function infoField(info: string, name: string): number {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  assert.ok(m, `INFO has ${name}`);
  return Number(m[1]);
}

describe('config set: memory settings at runtime', () => {
  it('config set: maxmemory and maxmemory-policy change eviction of a running memory node', async () => {
    const node = await startRingkv(['--engine', 'memory', '--resp-port', '0', '--http-port', '0']);
    const redis = new Redis({ port: node.respPort, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.connect();
      const value = 'x'.repeat(1000);
      const pipe = redis.pipeline();
      for (let i = 0; i < 2000; i++) pipe.set(`k:${i}`, value);
      await pipe.exec();
      assert.equal(await redis.dbsize(), 2000);

      assert.equal(await redis.config('SET', 'maxmemory-policy', 'allkeys-lru'), 'OK');
      assert.equal(await redis.config('SET', 'maxmemory', '1mb'), 'OK');
      await redis.set('trigger', 'y'); // eviction runs before a write, as in Redis
      const info = await redis.info('all');
      assert.ok(infoField(info, 'used_memory') <= 1024 * 1024, 'used memory back under the new cap');
      assert.ok(infoField(info, 'evicted_keys') > 0, 'keys were evicted');
      assert.ok((await redis.dbsize()) < 2000);

      assert.equal(await redis.config('SET', 'maxmemory-policy', 'noeviction'), 'OK');
      assert.equal(await redis.config('SET', 'maxmemory', '1kb'), 'OK');
      await assert.rejects(redis.set('another', value), /^ReplyError: OOM command not allowed when used memory > 'maxmemory'/);
      assert.equal(await redis.get('another'), null, 'the refused write stored nothing');
      assert.equal(await redis.config('SET', 'maxmemory', '0'), 'OK');
      assert.equal(await redis.set('another', value), 'OK', 'writes succeed again once the cap is lifted');
    } finally {
      redis.disconnect();
      await stop(node);
    }
  });
});
