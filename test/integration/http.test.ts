/**
 * The HTTP endpoint: routes, status codes and JSON errors from the registry (in-process, on a
 * loopback port), the metrics hook's accounting, and /metrics of a real node after commands.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { HttpServer } from '../../src/server/http.js';
import { silentLogger } from '../../src/server/logger.js';
import { NodeMetrics, UNKNOWN_COMMAND_LABEL } from '../../src/server/metrics.js';
import { freePort, killAll, startRingkv, stop, type RingkvProcess } from './cli-process.js';

after(killAll);

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string; allow: string | null }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text(), allow: r.headers.get('allow') };
}

/** Value of one sample line, e.g. sample(text, 'ringkv_keys') or with a label selector. */
function sample(text: string, nameWithLabels: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(nameWithLabels + ' ')) return Number(line.slice(nameWithLabels.length + 1));
  }
  return undefined;
}

describe('http: in-process', () => {
  let serving = true;
  const metrics = new NodeMetrics({ knownCommands: ['get', 'set'], processMetrics: false });
  metrics.setSources({
    kvStats: () => ({ keys: 7, keysWithExpiry: 2, usedBytes: 1234, expiredKeys: 3, evictedKeys: 1 }),
    connectedClients: () => 5,
  });
  const server = new HttpServer({ metrics, logger: silentLogger(), isServing: () => serving });
  let port = 0;

  before(async () => {
    port = (await server.listen(0, '127.0.0.1')).port;
  });
  after(() => server.close(100));

  it('http: GET /healthz answers 200 {"status":"ok"} while serving and 503 once shutting down', async () => {
    const ok = await get(port, '/healthz');
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^application\/json/);
    assert.deepEqual(JSON.parse(ok.body), { status: 'ok' });
    serving = false;
    try {
      const down = await get(port, '/healthz');
      assert.equal(down.status, 503);
      assert.deepEqual(JSON.parse(down.body), { status: 'shutting_down' });
    } finally {
      serving = true;
    }
  });

  it('http: an unknown route is a 404 JSON error with the registry code', async () => {
    const r = await get(port, '/nope?x=1');
    assert.equal(r.status, 404);
    assert.match(r.type, /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), { error: { code: 'ERR_NOT_FOUND', message: 'no route /nope', retryable: false } });
  });

  it('http: a non-GET method on a known route is 405 with an Allow header', async () => {
    const r = await get(port, '/healthz', 'POST');
    assert.equal(r.status, 405);
    assert.equal(r.allow, 'GET, HEAD');
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'ERR_METHOD_NOT_ALLOWED');
  });

  it('http: HEAD /healthz answers without a body', async () => {
    const r = await get(port, '/healthz', 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
  });

  it('http: /metrics reports command counts, latency histogram and keyspace gauges', async () => {
    metrics.onCommand('get', 20_000, true); // 20 us
    metrics.onCommand('get', 3_000_000, true); // 3 ms
    metrics.onCommand('set', 5_000, false);
    metrics.onCommand('definitely-not-a-command', 1, true);
    const r = await get(port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain/);
    const t = r.body;
    assert.equal(sample(t, 'ringkv_commands_total{command="get",result="ok"}'), 2);
    assert.equal(sample(t, 'ringkv_commands_total{command="set",result="error"}'), 1);
    assert.equal(sample(t, `ringkv_commands_total{command="${UNKNOWN_COMMAND_LABEL}",result="ok"}`), 1);
    assert.equal(sample(t, 'ringkv_command_duration_seconds_bucket{command="get",le="0.000025"}'), 1);
    assert.equal(sample(t, 'ringkv_command_duration_seconds_bucket{command="get",le="0.0025"}'), 1);
    assert.equal(sample(t, 'ringkv_command_duration_seconds_bucket{command="get",le="0.005"}'), 2);
    assert.equal(sample(t, 'ringkv_command_duration_seconds_bucket{command="get",le="+Inf"}'), 2);
    assert.equal(sample(t, 'ringkv_command_duration_seconds_count{command="get"}'), 2);
    assert.ok(Math.abs((sample(t, 'ringkv_command_duration_seconds_sum{command="get"}') ?? 0) - 0.00302) < 1e-9);
    assert.equal(sample(t, 'ringkv_keys'), 7);
    assert.equal(sample(t, 'ringkv_keys_with_expiry'), 2);
    assert.equal(sample(t, 'ringkv_used_memory_bytes'), 1234);
    assert.equal(sample(t, 'ringkv_expired_keys_total'), 3);
    assert.equal(sample(t, 'ringkv_evicted_keys_total'), 1);
    assert.equal(sample(t, 'ringkv_connected_clients'), 5);
    // Scraping twice does not double the mirrored counters.
    const again = (await get(port, '/metrics')).body;
    assert.equal(sample(again, 'ringkv_expired_keys_total'), 3);
  });

  it('http: command labels are bounded by commandLabelsMax', async () => {
    const m = new NodeMetrics({ commandLabelsMax: 2, processMetrics: false });
    for (const name of ['a', 'b', 'c', 'd']) m.onCommand(name, 1, true);
    const t = await m.text();
    assert.equal(sample(t, 'ringkv_commands_total{command="a",result="ok"}'), 1);
    assert.equal(sample(t, 'ringkv_commands_total{command="b",result="ok"}'), 1);
    assert.equal(sample(t, 'ringkv_commands_total{command="c",result="ok"}'), undefined);
    assert.equal(sample(t, `ringkv_commands_total{command="${UNKNOWN_COMMAND_LABEL}",result="ok"}`), 2);
  });
});

describe('http: real node', () => {
  let node: RingkvProcess;

  before(async () => {
    node = await startRingkv(['--engine', 'memory', '--http-port', String(await freePort())]);
  });
  after(async () => {
    if (node !== undefined) await stop(node);
  });

  it('http: /healthz of a running node is 200 ok', async () => {
    assert.ok(node.httpPort !== undefined);
    const r = await get(node.httpPort, '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { status: 'ok' });
  });

  it('http: /metrics of a running node shows commands, keys and clients after some traffic', async () => {
    assert.ok(node.httpPort !== undefined);
    const c = new Redis({ host: '127.0.0.1', port: node.respPort, lazyConnect: true, maxRetriesPerRequest: 1 });
    await c.connect();
    try {
      await c.set('m:a', '1');
      await c.set('m:b', '2', 'EX', 100);
      await c.get('m:a');
      await c.get('m:zzz');
      await c.incr('m:a');
      await c.incr('m:b').catch(() => undefined);
      await c.set('m:c', 'x');
      await c.del('m:c');
      const t = (await get(node.httpPort, '/metrics')).body;
      for (const name of [
        'ringkv_commands_total', 'ringkv_command_duration_seconds_bucket', 'ringkv_keys', 'ringkv_keys_with_expiry',
        'ringkv_used_memory_bytes', 'ringkv_expired_keys_total', 'ringkv_evicted_keys_total', 'ringkv_connected_clients',
        'process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes',
      ]) {
        assert.ok(t.includes(`\n${name}`) || t.startsWith(name), `metrics should include ${name}`);
      }
      assert.ok((sample(t, 'ringkv_commands_total{command="set",result="ok"}') ?? 0) >= 3);
      assert.ok((sample(t, 'ringkv_commands_total{command="get",result="ok"}') ?? 0) >= 2);
      assert.equal(sample(t, 'ringkv_keys'), 2);
      assert.equal(sample(t, 'ringkv_keys_with_expiry'), 1);
      assert.ok((sample(t, 'ringkv_used_memory_bytes') ?? 0) > 0);
      assert.ok((sample(t, 'ringkv_connected_clients') ?? 0) >= 1);
    } finally {
      c.disconnect();
    }
  });
});
