/**
 * Real clients against a real ringkv process: ioredis (RESP2), node-redis 6 (RESP3 via HELLO 3),
 * redis-py, redis-cli, and redis-benchmark (which also probes CONFIG GET and inline PING). Each does a
 * round of common commands and checks the answers, not just the absence of errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { killAll, startRingkv, stop, tempDir, type RingkvProcess } from './cli-process.js';

after(killAll);

function run(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} timed out`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('clients', () => {
  let node: RingkvProcess;
  const dir = tempDir('ringkv-clients-');

  before(async () => {
    node = await startRingkv(['--engine', 'rocksdb', '--data-dir', dir.path]);
  });

  after(async () => {
    if (node !== undefined) await stop(node);
    dir.remove();
  });

  it('clients: ioredis does set/get/incr/expire/ttl/mget/mset/del/scan', async () => {
    const c = new Redis({ host: '127.0.0.1', port: node.respPort, maxRetriesPerRequest: 1, lazyConnect: true });
    await c.connect();
    try {
      assert.equal(await c.ping(), 'PONG');
      assert.equal(await c.set('io:a', 'hello'), 'OK');
      assert.equal(await c.get('io:a'), 'hello');
      assert.equal(await c.get('io:missing'), null);
      assert.equal(await c.incr('io:n'), 1);
      assert.equal(await c.incrby('io:n', 41), 42);
      assert.equal(await c.expire('io:a', 100), 1);
      const ttl = await c.ttl('io:a');
      assert.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);
      assert.equal(await c.ttl('io:n'), -1);
      assert.equal(await c.ttl('io:missing'), -2);
      assert.equal(await c.mset('io:x', '1', 'io:y', '2', 'io:z', '3'), 'OK');
      assert.deepEqual(await c.mget('io:x', 'io:missing', 'io:z'), ['1', null, '3']);
      assert.equal(await c.del('io:x', 'io:y', 'io:missing'), 2);
      const seen = new Set<string>();
      let cursor = '0';
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', 'io:*', 'COUNT', 2);
        for (const k of keys) seen.add(k);
        cursor = next;
      } while (cursor !== '0');
      assert.deepEqual([...seen].sort(), ['io:a', 'io:n', 'io:z']);
      // Binary-safe values.
      const bin = Buffer.from([0, 255, 13, 10, 1]);
      await c.set('io:bin', bin);
      assert.deepEqual(await c.getBuffer('io:bin'), bin);
      // A wrong-type style error reaches the client as an error, not a crash.
      await assert.rejects(c.incr('io:a'), /not an integer/);
    } finally {
      c.disconnect();
    }
  });

  it('clients: node-redis with RESP3 does set/get/incr/expire/ttl/mget/mset/del/scan', async () => {
    const c = createClient({ RESP: 3, socket: { host: '127.0.0.1', port: node.respPort, reconnectStrategy: false } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      assert.equal(await c.ping(), 'PONG');
      assert.equal(await c.set('nr:a', 'hello'), 'OK');
      assert.equal(await c.get('nr:a'), 'hello');
      assert.equal(await c.get('nr:missing'), null);
      assert.equal(await c.incr('nr:n'), 1);
      assert.equal(await c.expire('nr:a', 100), 1);
      const ttl = await c.ttl('nr:a');
      assert.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);
      assert.equal(await c.mSet({ 'nr:x': '1', 'nr:y': '2' }), 'OK');
      assert.deepEqual(await c.mGet(['nr:x', 'nr:missing', 'nr:y']), ['1', null, '2']);
      assert.equal(await c.del(['nr:x', 'nr:missing']), 1);
      const seen = new Set<string>();
      for await (const keys of c.scanIterator({ MATCH: 'nr:*', COUNT: 2 })) for (const k of keys) seen.add(k);
      assert.deepEqual([...seen].sort(), ['nr:a', 'nr:n', 'nr:y']);
      const hello = await c.sendCommand(['HELLO', '3']);
      assert.ok(hello !== null && typeof hello === 'object', 'HELLO 3 answers a map');
    } finally {
      c.destroy();
    }
  });

  it('clients: redis-py (Debian python3-redis) does set/get/incr/expire/ttl/mget/mset/del/scan', async () => {
    const script = [
      'import json, sys, redis',
      'r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)',
      'out = {}',
      'out["set"] = r.set("py:a", "hello")',
      'out["get"] = r.get("py:a")',
      'out["incr"] = r.incr("py:n", 5)',
      'out["expire"] = r.expire("py:a", 100)',
      'out["ttl"] = r.ttl("py:a")',
      'out["mset"] = r.mset({"py:x": "1", "py:y": "2"})',
      'out["mget"] = r.mget(["py:x", "py:missing", "py:y"])',
      'out["del"] = r.delete("py:x", "py:missing")',
      'out["scan"] = sorted(r.scan_iter(match="py:*", count=2))',
      'print(json.dumps(out))',
    ].join('\n');
    // The Debian package installs for the system interpreter, which may not be first on PATH.
    const r = await run('/usr/bin/python3', ['-c', script, String(node.respPort)]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out['set'], true);
    assert.equal(out['get'], 'hello');
    assert.equal(out['incr'], 5);
    assert.equal(out['expire'], true);
    assert.ok(typeof out['ttl'] === 'number' && out['ttl'] > 95 && out['ttl'] <= 100);
    assert.equal(out['mset'], true);
    assert.deepEqual(out['mget'], ['1', null, '2']);
    assert.equal(out['del'], 1);
    assert.deepEqual(out['scan'], ['py:a', 'py:n', 'py:y']);
  });

  it('clients: redis-cli sets and gets', async () => {
    const port = String(node.respPort);
    const set = await run('redis-cli', ['-h', '127.0.0.1', '-p', port, 'SET', 'cli:k', 'v 1']);
    assert.equal(set.stdout.trim(), 'OK');
    const get = await run('redis-cli', ['-h', '127.0.0.1', '-p', port, 'GET', 'cli:k']);
    assert.equal(get.stdout.trim(), 'v 1');
  });

  it('clients: redis-benchmark get/set runs without errors and reports throughput', async () => {
    const r = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(node.respPort), '-t', 'get,set', '-n', '20000', '-q']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout + r.stderr;
    assert.doesNotMatch(out, /error|ERR/i, out);
    // -q prints e.g. "SET: 61349.69 requests per second, p50=0.399 msec" per test.
    const rate = (name: string): number => {
      const m = new RegExp(`${name}: ([\\d.]+) requests per second`).exec(out);
      return m ? Number(m[1]) : 0;
    };
    assert.ok(rate('SET') > 0, out);
    assert.ok(rate('GET') > 0, out);
  });
});
