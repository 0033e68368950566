/**
 * SCAN cursors work with clients that hold them as unsigned 64-bit integers: `redis-cli --scan`
 * walks every key, long binary-ish names included, exactly as against Redis.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { killAll, startRingkv, stop, tempDir } from './cli-process.js';

after(killAll);
const run = promisify(execFile);

describe('scan: redis-cli --scan', () => {
  for (const engine of ['memory', 'rocksdb'] as const) {
    it(`scan: redis-cli --scan lists every key once on the ${engine} engine`, async () => {
      const dir = tempDir('ringkv-scan-');
      const node = await startRingkv(['--engine', engine, '--resp-port', '0', '--http-port', '0', '--data-dir', dir.path]);
      const redis = new Redis({ port: node.respPort, lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await redis.connect();
        await redis.flushall();
        const expected: string[] = [];
        for (let i = 0; i < 120; i++) expected.push(i % 3 === 0 ? `k${i}` : `a-rather-long-key-name:${i}:${'x'.repeat(i % 40)}`);
        await redis.mset(...expected.flatMap((k) => [k, 'v']));
        const { stdout } = await run('redis-cli', ['-p', String(node.respPort), '--scan'], { timeout: 20_000 });
        const listed = stdout.split('\n').filter((l) => l !== '');
        assert.equal(listed.length, expected.length, 'no key missing or repeated');
        assert.deepEqual([...listed].sort(), [...expected].sort());
        const { stdout: matched } = await run('redis-cli', ['-p', String(node.respPort), '--scan', '--pattern', 'k*'], { timeout: 20_000 });
        assert.equal(matched.split('\n').filter((l) => l !== '').length, 40);
      } finally {
        redis.disconnect();
        await stop(node);
        dir.remove();
      }
    });
  }
});
