/**
 * Real client libraries against an in-process RespServer: ioredis (RESP2, waits for INFO
 * loading:0), node-redis 6 (RESP3 via HELLO 3), and the Debian redis-cli / redis-benchmark
 * binaries (inline PING, CONFIG GET save/appendonly probes). Each checks answers, not only the
 * absence of errors.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { startServer, type TestServer } from './resp-server-harness.js';

const exec = promisify(execFile);

describe('resp server with real clients', () => {
  let t: TestServer;
  before(async () => {
    t = await startServer();
  });
  after(async () => {
    await t.server.close(1000);
  });

  it('ioredis connects (ready check on INFO) and runs PING, SET/GET, INFO, COMMAND', async () => {
    const r = new Redis({ host: '127.0.0.1', port: t.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      assert.equal(await r.ping(), 'PONG');
      assert.equal(await r.set('io:k', 'v'), 'OK');
      assert.equal(await r.get('io:k'), 'v');
      assert.match(await r.info('persistence'), /loading:0/);
      const count = (await r.call('COMMAND', 'COUNT')) as number;
      assert.ok(count > 10);
      const table = (await r.call('COMMAND')) as unknown[];
      assert.equal(table.length, count);
      const hello = (await r.call('HELLO', '2')) as unknown[];
      assert.deepEqual(hello.slice(0, 4), ['server', 'redis', 'version', '7.0.15']);
      assert.deepEqual(await r.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
    } finally {
      r.disconnect();
    }
  });

  it('node-redis speaks RESP3 (HELLO 3) and gets typed replies', async () => {
    const c = createClient({ socket: { host: '127.0.0.1', port: t.port, reconnectStrategy: false }, RESP: 3 });
    c.on('error', () => {});
    await c.connect();
    try {
      assert.equal(await c.ping(), 'PONG');
      await c.set('nr:k', 'hello');
      assert.equal(await c.get('nr:k'), 'hello');
      assert.equal(await c.get('nr:missing'), null);
      const hello = await c.sendCommand(['HELLO', '3']);
      assert.equal((hello as unknown as Record<string, unknown>)['proto'], 3);
      const info = await c.info('replication');
      assert.match(String(info), /role:master/);
      const cfg = await c.sendCommand(['CONFIG', 'GET', 'appendonly']);
      assert.deepEqual(cfg, { appendonly: 'no' });
      assert.equal(await c.clientId() > 0, true);
      // RESP3 sets and maps nested in COMMAND replies parse in a real RESP3 client.
      const cmdInfo = (await c.sendCommand(['COMMAND', 'INFO', 'get'])) as unknown as unknown[][];
      assert.equal(cmdInfo[0]?.[0], 'get');
      assert.equal(cmdInfo[0]?.[1], 2);
      assert.deepEqual(cmdInfo[0]?.[2], ['readonly', 'fast']);
      const docs = (await c.sendCommand(['COMMAND', 'DOCS', 'get'])) as unknown as Record<string, Record<string, unknown>>;
      assert.equal(docs['get']?.['group'], 'string');
      const table = (await c.sendCommand(['COMMAND'])) as unknown as unknown[];
      assert.equal(table.length, await c.sendCommand(['COMMAND', 'COUNT']));
    } finally {
      c.destroy();
    }
  });

  it('redis-cli runs commands and reads RESP3 with -3', async () => {
    const port = String(t.port);
    const { stdout: pong } = await exec('redis-cli', ['-p', port, 'PING']);
    assert.equal(pong.trim(), 'PONG');
    await exec('redis-cli', ['-p', port, 'SET', 'cli:k', 'v']);
    const { stdout: v } = await exec('redis-cli', ['-3', '--no-raw', '-p', port, 'GET', 'cli:k']);
    assert.equal(v.trim(), '"v"');
    const { stdout: missing } = await exec('redis-cli', ['-3', '--no-raw', '-p', port, 'GET', 'cli:none']);
    assert.equal(missing.trim(), '(nil)');
  });

  it('redis-benchmark completes a short SET/GET/PING run (CONFIG GET probes answered)', async () => {
    const { stdout } = await exec('redis-benchmark', ['-p', String(t.port), '-n', '2000', '-c', '4', '-t', 'ping,set,get', '-q'], {
      timeout: 30_000,
    });
    for (const name of ['PING_INLINE', 'PING_MBULK', 'SET', 'GET']) {
      assert.match(stdout, new RegExp(`${name}: [\\d.]+ requests per second`), stdout);
    }
  });
});
