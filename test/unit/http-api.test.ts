/**
 * The HTTP API in-process on loopback ports: standalone over a memory-engine KvStore, and cluster
 * mode over an in-process fake ClusterNode (real dotted version vectors). Every JSON response
 * checked here is also checked against the served /openapi.json.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { createHttpApi, type HttpApi } from '../../src/http/app.js';
import { silentLogger } from '../../src/server/logger.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';
import { FakeCluster } from './http-fake-cluster.js';
import { OpenApiChecker } from './http-openapi-check.js';

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  json(): unknown;
}

async function call(base: string, method: string, path: string, init: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  const r = await fetch(base + path, { method, headers: init.headers, body: init.body, redirect: 'manual' });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, body, json: () => JSON.parse(body.toString('utf8')) as unknown };
}

function errorCode(r: Reply): string {
  return (r.json() as { error: { code: string } }).error.code;
}

const metrics = { contentType: 'text/plain; version=0.0.4', text: () => Promise.resolve('ringkv_up 1\n') };

async function serve(api: HttpApi): Promise<{ server: Server; base: string }> {
  const server = createServer(api.handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('http api: standalone', () => {
  const config = configSchema.parse({ engine: 'memory', maxKeyBytes: 64, maxValueBytes: 1024 });
  const store = new LocalKvStore({ engine: new MemoryEngine(), config });
  let serving = true;
  const api = createHttpApi({ logger: silentLogger(), metrics, isServing: () => serving, store, maxKeyBytes: 64, valueBytesMax: 1024, jsonBytesMax: 64 * 1024 });
  let server: Server;
  let base = '';
  let oa: OpenApiChecker;

  before(async () => {
    ({ server, base } = await serve(api));
    oa = await OpenApiChecker.fetch(base);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('http standalone: PUT binary then GET returns the same bytes with a context and ETag', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const put = await call(base, 'PUT', '/v1/kv/bin', { headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    assert.equal(put.status, 204);
    const get = await call(base, 'GET', '/v1/kv/bin');
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(get.body, bytes);
    const ctx = get.headers.get('x-ringkv-context');
    assert.match(ctx ?? '', /^[A-Za-z0-9_-]{10,}$/);
    assert.equal(get.headers.get('etag'), `"${ctx}"`);
    oa.check('GET', '/v1/kv/{key}', 200, null, 'application/octet-stream');
  });

  it('http standalone: text bodies are stored as UTF-8 bytes and readable as JSON with Accept', async () => {
    assert.equal((await call(base, 'PUT', '/v1/kv/greeting', { headers: { 'content-type': 'text/plain' }, body: 'héllo' })).status, 204);
    const get = await call(base, 'GET', '/v1/kv/greeting', { headers: { accept: 'application/json' } });
    assert.equal(get.status, 200);
    const body = get.json() as { key: string; values: { value: string; expires_at_ms: number }[]; context: string };
    oa.check('GET', '/v1/kv/{key}', 200, body);
    assert.equal(body.key, 'greeting');
    assert.equal(Buffer.from(body.values[0]!.value, 'base64').toString('utf8'), 'héllo');
    assert.equal(body.values[0]!.expires_at_ms, 0);
  });

  it('http standalone: a percent-encoded key addresses the same bytes RESP would (UTF-8 and raw bytes)', async () => {
    assert.equal((await call(base, 'PUT', '/v1/kv/caf%C3%A9/a%2Fb%FF', { body: 'x' })).status, 204);
    const key = Buffer.from([...Buffer.from('café/a/b', 'utf8'), 0xff]).toString('latin1');
    const entry = await store.get(key);
    assert.equal(entry?.value.toString(), 'x');
  });

  it('http standalone: a missing key is 404 ERR_NO_SUCH_KEY; DELETE is 204 and removes the key', async () => {
    const miss = await call(base, 'GET', '/v1/kv/nope');
    assert.equal(miss.status, 404);
    assert.equal(errorCode(miss), 'ERR_NO_SUCH_KEY');
    oa.check('GET', '/v1/kv/{key}', 404, miss.json());
    await call(base, 'PUT', '/v1/kv/gone', { body: 'v' });
    const del = await call(base, 'DELETE', '/v1/kv/gone');
    assert.equal(del.status, 204);
    assert.equal((await call(base, 'GET', '/v1/kv/gone')).status, 404);
  });

  it('http standalone: If-None-Match: * creates only; a second create is 412 ERR_CONDITION_FAILED', async () => {
    const first = await call(base, 'PUT', '/v1/kv/once', { headers: { 'if-none-match': '*' }, body: 'a' });
    assert.equal(first.status, 204);
    const second = await call(base, 'PUT', '/v1/kv/once', { headers: { 'if-none-match': '*' }, body: 'b' });
    assert.equal(second.status, 412);
    assert.equal(errorCode(second), 'ERR_CONDITION_FAILED');
    oa.check('PUT', '/v1/kv/{key}', 412, second.json());
    assert.equal((await call(base, 'GET', '/v1/kv/once')).body.toString(), 'a');
  });

  it('http standalone: If-Match with the current context writes; with a stale one it is 412 and nothing changes', async () => {
    await call(base, 'PUT', '/v1/kv/cas', { body: 'v1' });
    const ctx1 = (await call(base, 'GET', '/v1/kv/cas')).headers.get('x-ringkv-context') ?? '';
    assert.equal((await call(base, 'PUT', '/v1/kv/cas', { headers: { 'if-match': `"${ctx1}"` }, body: 'v2' })).status, 204);
    const stale = await call(base, 'PUT', '/v1/kv/cas', { headers: { 'if-match': ctx1 }, body: 'v3' });
    assert.equal(stale.status, 412);
    assert.equal((await call(base, 'GET', '/v1/kv/cas')).body.toString(), 'v2');
    const staleDelete = await call(base, 'DELETE', '/v1/kv/cas', { headers: { 'if-match': ctx1 } });
    assert.equal(staleDelete.status, 412);
  });

  it('http standalone: ttl_ms (query or header) sets an expiry reported in X-Ringkv-Expires-At-Ms', async () => {
    const t0 = Date.now();
    await call(base, 'PUT', '/v1/kv/ttl?ttl_ms=60000', { body: 'v' });
    const at = Number((await call(base, 'GET', '/v1/kv/ttl')).headers.get('x-ringkv-expires-at-ms'));
    assert.ok(at >= t0 + 60_000 && at <= Date.now() + 60_000, `expiry ${at}`);
    await call(base, 'PUT', '/v1/kv/ttl2', { headers: { 'x-ringkv-ttl-ms': '1' }, body: 'v' });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await call(base, 'GET', '/v1/kv/ttl2')).status, 404);
  });

  it('http standalone: bad options, conflicting option forms, bad contexts and bad If-None-Match are 400', async () => {
    for (const path of ['/v1/kv/k?r=five', '/v1/kv/k?bogus=1', '/v1/kv/k?r=0', '/v1/kv/k?r=one&r=two', '/v1/kv/k?__proto__=x', '/v1/kv/k?constructor=1']) {
      const r = await call(base, 'GET', path);
      assert.equal(r.status, 400, path);
      assert.equal(errorCode(r), 'ERR_INVALID_ARGUMENT', path);
      oa.check('GET', '/v1/kv/{key}', 400, r.json());
    }
    assert.equal((await call(base, 'PUT', '/v1/kv/k?ttl_ms=-5', { body: 'v' })).status, 400);
    assert.equal((await call(base, 'PUT', '/v1/kv/k?w=one', { headers: { 'x-ringkv-w': 'all' }, body: 'v' })).status, 400);
    assert.equal((await call(base, 'PUT', '/v1/kv/k', { headers: { 'x-ringkv-context': 'not base64!' }, body: 'v' })).status, 400);
    assert.equal((await call(base, 'PUT', '/v1/kv/k', { headers: { 'if-none-match': 'abc' }, body: 'v' })).status, 400);
    assert.equal((await call(base, 'DELETE', '/v1/kv/k?ttl_ms=5')).status, 400);
  });

  it('http standalone: an oversize body is 413 ERR_VALUE_TOO_LARGE, an oversize key 413 ERR_KEY_TOO_LARGE, a bad escape 400', async () => {
    const big = await call(base, 'PUT', '/v1/kv/big', { body: Buffer.alloc(2000) });
    assert.equal(big.status, 413);
    assert.equal(errorCode(big), 'ERR_VALUE_TOO_LARGE');
    oa.check('PUT', '/v1/kv/{key}', 413, big.json());
    const longKey = await call(base, 'GET', `/v1/kv/${'k'.repeat(65)}`);
    assert.equal(longKey.status, 413);
    assert.equal(errorCode(longKey), 'ERR_KEY_TOO_LARGE');
    const badEscape = await call(base, 'GET', '/v1/kv/a%zz');
    assert.equal(badEscape.status, 400);
    assert.equal(errorCode(badEscape), 'ERR_SYNTAX');
    const empty = await call(base, 'GET', '/v1/kv/');
    assert.equal(empty.status, 400);
  });

  it('http standalone: batch put then batch get return per-item results in order', async () => {
    const put = await call(base, 'POST', '/v1/batch/put', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ key: 'b1', text: 'one' }, { key: 'b2', value: Buffer.from([9, 8]).toString('base64') }, { key: 'b3', text: 'x', value: 'eA==' }] }),
    });
    assert.equal(put.status, 200);
    oa.check('POST', '/v1/batch/put', 200, put.json());
    const results = (put.json() as { results: { key: string; ok: boolean; error?: { code: string } }[] }).results;
    assert.deepEqual(results.map((r) => [r.key, r.ok]), [['b1', true], ['b2', true], ['b3', false]]);
    assert.equal(results[2]!.error?.code, 'ERR_INVALID_ARGUMENT');
    const get = await call(base, 'POST', '/v1/batch/get', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: ['b1', 'b2', 'missing'] }) });
    assert.equal(get.status, 200);
    oa.check('POST', '/v1/batch/get', 200, get.json());
    const got = (get.json() as { results: { key: string; found: boolean; values?: { value: string }[] }[] }).results;
    assert.deepEqual(got.map((r) => r.found), [true, true, false]);
    assert.equal(Buffer.from(got[0]!.values![0]!.value, 'base64').toString(), 'one');
    assert.deepEqual([...Buffer.from(got[1]!.values![0]!.value, 'base64')], [9, 8]);
  });

  it('http standalone: batch bodies that are not JSON, not matching the schema or too large are 4xx', async () => {
    const notJson = await call(base, 'POST', '/v1/batch/get', { headers: { 'content-type': 'application/json' }, body: '{' });
    assert.equal(notJson.status, 400);
    assert.equal(errorCode(notJson), 'ERR_SYNTAX');
    const wrong = await call(base, 'POST', '/v1/batch/get', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: [] }) });
    assert.equal(wrong.status, 400);
    oa.check('POST', '/v1/batch/get', 400, wrong.json());
    const tooBig = await call(base, 'POST', '/v1/batch/get', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: Array(1000).fill('k'.repeat(70)) }) });
    assert.equal(tooBig.status, 413);
    const badType = await call(base, 'POST', '/v1/batch/get', { headers: { 'content-type': 'text/plain' }, body: '{}' });
    assert.equal(badType.status, 400);
  });

  it('http standalone: key listing pages through every key exactly once', async () => {
    for (let i = 0; i < 25; i++) await call(base, 'PUT', `/v1/kv/list:${i}`, { body: 'v' });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await call(base, 'GET', `/v1/keys?limit=7&match=list:*${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      assert.equal(r.status, 200);
      oa.check('GET', '/v1/keys', 200, r.json());
      const page = r.json() as { keys: string[]; cursor: string | null };
      seen.push(...page.keys);
      cursor = page.cursor;
      pages++;
    } while (cursor !== null && pages < 100);
    assert.deepEqual([...new Set(seen)].sort(), Array.from({ length: 25 }, (_, i) => `list:${i}`).sort());
    assert.equal(seen.length, 25);
  });

  it('http standalone: unknown routes are 404, wrong methods 405 with Allow, cluster routes 404 outside cluster mode', async () => {
    const nf = await call(base, 'GET', '/v2/nothing');
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.json(), { error: { code: 'ERR_NOT_FOUND', message: 'no route /v2/nothing', retryable: false } });
    const wm = await call(base, 'POST', '/v1/kv/x');
    assert.equal(wm.status, 405);
    assert.equal(wm.headers.get('allow'), 'GET, PUT, DELETE, HEAD');
    const cl = await call(base, 'GET', '/v1/cluster/ring');
    assert.equal(cl.status, 404);
    oa.check('GET', '/v1/cluster/ring', 404, cl.json());
  });

  it('http standalone: /healthz, /readyz, /metrics and /openapi.json answer; readiness drops while shutting down', async () => {
    const h = await call(base, 'GET', '/healthz');
    assert.equal(h.status, 200);
    oa.check('GET', '/healthz', 200, h.json());
    const r = await call(base, 'GET', '/readyz');
    assert.deepEqual(r.json(), { ready: true, reason: 'ok' });
    const m = await call(base, 'GET', '/metrics');
    assert.equal(m.body.toString(), 'ringkv_up 1\n');
    serving = false;
    try {
      const down = await call(base, 'GET', '/readyz');
      assert.equal(down.status, 503);
      oa.check('GET', '/readyz', 503, down.json());
      assert.deepEqual(down.json(), { ready: false, reason: 'shutting_down' });
    } finally {
      serving = true;
    }
    const doc = (await call(base, 'GET', '/openapi.json')).json() as { openapi: string; paths: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    for (const route of api.routes) assert.ok(route.path in doc.paths, `${route.path} documented`);
  });

  it('http standalone: the hot keys list counts the most requested keys', async () => {
    for (let i = 0; i < 30; i++) await call(base, 'GET', '/v1/kv/hot');
    const r = await call(base, 'GET', '/v1/hotkeys?limit=3');
    oa.check('GET', '/v1/hotkeys', 200, r.json());
    const top = (r.json() as { keys: { key: string; count: number }[] }).keys;
    assert.equal(top[0]?.key, 'hot');
    assert.ok((top[0]?.count ?? 0) >= 30);
  });
});

describe('http api: cluster mode (in-process fake cluster)', () => {
  const cluster = new FakeCluster(['n1', 'n2', 'n3', 'n4']);
  // n4 exists as a member but is not in the ring yet (joins in a test).
  cluster.ring = new FakeCluster(['n1', 'n2', 'n3']).ring;
  const node = cluster.node('n1');
  const api = createHttpApi({ logger: silentLogger(), metrics, isServing: () => true, cluster: node });
  let server: Server;
  let base = '';
  let oa: OpenApiChecker;

  before(async () => {
    ({ server, base } = await serve(api));
    node.httpPort = Number(new URL(base).port);
    oa = await OpenApiChecker.fetch(base);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('http cluster: two writes with the same read context give 300 with both siblings; a write with the new context resolves to one value', async () => {
    assert.equal((await call(base, 'PUT', '/v1/kv/sib', { body: 'base' })).status, 204);
    const read = (await call(base, 'GET', '/v1/kv/sib')).headers.get('x-ringkv-context') ?? '';
    assert.equal((await call(base, 'PUT', '/v1/kv/sib', { headers: { 'x-ringkv-context': read }, body: 'left' })).status, 204);
    assert.equal((await call(base, 'PUT', '/v1/kv/sib', { headers: { 'x-ringkv-context': read }, body: 'right' })).status, 204);
    const multi = await call(base, 'GET', '/v1/kv/sib');
    assert.equal(multi.status, 300);
    oa.check('GET', '/v1/kv/{key}', 300, multi.json());
    const body = multi.json() as { context: string; values: { value: string }[] };
    assert.deepEqual(body.values.map((v) => Buffer.from(v.value, 'base64').toString()).sort(), ['left', 'right']);
    assert.equal(multi.headers.get('x-ringkv-context'), body.context);
    const resolved = await call(base, 'PUT', '/v1/kv/sib', { headers: { 'x-ringkv-context': body.context }, body: 'merged' });
    assert.equal(resolved.status, 204);
    const one = await call(base, 'GET', '/v1/kv/sib');
    assert.equal(one.status, 200);
    assert.equal(one.body.toString(), 'merged');
  });

  it('http cluster: a write without a context overwrites; overwrite=false is a blind write that adds a sibling', async () => {
    await call(base, 'PUT', '/v1/kv/ow', { body: 'a' });
    await call(base, 'PUT', '/v1/kv/ow', { body: 'b' });
    assert.equal((await call(base, 'GET', '/v1/kv/ow')).body.toString(), 'b');
    assert.deepEqual((cluster.executed.at(-2)?.op as { overwrite?: boolean }).overwrite, true);
    await call(base, 'PUT', '/v1/kv/ow?overwrite=false', { body: 'c' });
    const multi = await call(base, 'GET', '/v1/kv/ow');
    assert.equal(multi.status, 300);
    assert.deepEqual((multi.json() as { values: { value: string }[] }).values.map((v) => Buffer.from(v.value, 'base64').toString()).sort(), ['b', 'c']);
    const both = await call(base, 'PUT', '/v1/kv/ow?overwrite=true', { headers: { 'x-ringkv-context': multi.headers.get('x-ringkv-context') ?? '' }, body: 'd' });
    assert.equal(both.status, 400);
  });

  it('http cluster: every /v1 response names the coordinator and the ring epoch', async () => {
    const r = await call(base, 'GET', '/v1/kv/sib');
    assert.equal(r.headers.get('x-ringkv-coordinator'), 'n1');
    assert.equal(r.headers.get('x-ringkv-ring-epoch'), String(cluster.ring.epoch));
    assert.equal(cluster.executed.at(-1)?.node, 'n1');
  });

  it('http cluster: If-Match with a stale context is 412; with the current one it writes; a malformed context is 400', async () => {
    await call(base, 'PUT', '/v1/kv/cc', { body: 'a' });
    const ctx = (await call(base, 'GET', '/v1/kv/cc')).headers.get('x-ringkv-context') ?? '';
    assert.equal((await call(base, 'PUT', '/v1/kv/cc', { headers: { 'if-match': ctx }, body: 'b' })).status, 204);
    const stale = await call(base, 'PUT', '/v1/kv/cc', { headers: { 'if-match': ctx }, body: 'c' });
    assert.equal(stale.status, 412);
    assert.equal(errorCode(stale), 'ERR_CONDITION_FAILED');
    assert.equal((await call(base, 'GET', '/v1/kv/cc')).body.toString(), 'b');
    const bad = await call(base, 'PUT', '/v1/kv/cc', { headers: { 'x-ringkv-context': 'AAAA' }, body: 'c' });
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), 'ERR_INVALID_ARGUMENT');
    const created = await call(base, 'PUT', '/v1/kv/cc-new', { headers: { 'if-none-match': '*' }, body: 'x' });
    assert.equal(created.status, 204);
    assert.equal((await call(base, 'PUT', '/v1/kv/cc-new', { headers: { 'if-none-match': '*' }, body: 'y' })).status, 412);
  });

  it('http cluster: consistency options reach the core op (r, w, strict, overwrite)', async () => {
    await call(base, 'PUT', '/v1/kv/lv?w=all&strict=true&overwrite=1', { body: 'v' });
    const put = cluster.executed.at(-1)?.op;
    assert.equal(put?.kind, 'put');
    assert.deepEqual(put?.kind === 'put' ? [put.writeQuorum, put.strict, put.overwrite] : [], ['all', true, true]);
    await call(base, 'GET', '/v1/kv/lv', { headers: { 'x-ringkv-r': '2' } });
    const get = cluster.executed.at(-1)?.op;
    assert.deepEqual(get, { kind: 'get', key: 'lv', readQuorum: 2 });
  });

  it('http cluster: members, ring, ownership, hints, anti-entropy, stats and topology match the OpenAPI document', async () => {
    for (const p of ['/v1/cluster/members', '/v1/cluster/ring', '/v1/cluster/ownership', '/v1/cluster/load', '/v1/cluster/hints', '/v1/cluster/antientropy', '/v1/cluster/stats', '/v1/cluster/topology']) {
      const r = await call(base, 'GET', p);
      assert.equal(r.status, 200, p);
      oa.check('GET', p, 200, r.json());
    }
    const ring = (await call(base, 'GET', '/v1/cluster/ring')).json() as { current: { ranges: { first: number; last: number; replicas: string[] }[] }; nodes: Record<string, { http_port: number }> };
    let covered = 0;
    for (const r of ring.current.ranges) {
      assert.equal(r.first, covered);
      assert.equal(r.replicas.length, 3);
      covered = r.last + 1;
    }
    assert.equal(covered, 16384);
    assert.equal(ring.nodes['n1']?.http_port, node.httpPort);
    const own = (await call(base, 'GET', '/v1/cluster/ownership')).json() as { nodes: { id: string; percent: number }[] };
    assert.deepEqual(own.nodes.map((n) => n.id), ['n1', 'n2', 'n3']);
    assert.ok(Math.abs(own.nodes.reduce((a, n) => a + n.percent, 0) - 100) < 0.1);
    const hints = (await call(base, 'GET', '/v1/cluster/hints')).json() as { stats: Record<string, number> };
    assert.deepEqual(hints.stats, { hintsHeld: 2, hintsDelivered: 5 });
    const ae = (await call(base, 'GET', '/v1/cluster/antientropy')).json() as { stats: Record<string, number>; partitions: { slots: number; never_synced: number; oldest_synced_ms: number | null; ranges?: unknown } };
    assert.deepEqual(Object.keys(ae.stats).sort(), ['aeKeysPushed', 'aeSessions']);
    // N=3 of 3 members: this node replicates every slot; the fake marks odd slots never synced.
    assert.deepEqual({ ...ae.partitions }, { slots: 16384, never_synced: 8192, oldest_synced_ms: 1000, newest_synced_ms: 1000 });
    const detail = await call(base, 'GET', '/v1/cluster/antientropy?detail=1');
    oa.check('GET', '/v1/cluster/antientropy', 200, detail.json());
    const ranges = (detail.json() as { partitions: { ranges: { first: number; last: number; last_synced_ms: number | null }[] } }).partitions.ranges;
    assert.equal(ranges.length, 16384);
    assert.deepEqual(ranges.slice(0, 2), [{ first: 0, last: 0, last_synced_ms: 1000 }, { first: 1, last: 1, last_synced_ms: null }]);
    assert.equal((await call(base, 'GET', '/v1/cluster/antientropy?detail=maybe')).status, 400);
  });

  it('http cluster: key listing returns each key once across members', async () => {
    const before = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await call(base, 'PUT', `/v1/kv/many:${i}`, { body: 'v' });
      before.add(`many:${i}`);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let guard = 0;
    do {
      const r = await call(base, 'GET', `/v1/keys?limit=9&match=many:*${cursor === null ? '' : `&cursor=${cursor}`}`);
      assert.equal(r.status, 200);
      const page = r.json() as { keys: string[]; cursor: string | null };
      seen.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== null && ++guard < 100);
    assert.equal(seen.length, 40);
    assert.deepEqual(new Set(seen), before);
    const bad = await call(base, 'GET', '/v1/keys?cursor=zzz');
    assert.equal(bad.status, 400);
  });

  it('http cluster: admin join, decommission and remove answer 202 with progress; unknown node 404, busy 409', async () => {
    const join = await call(base, 'POST', '/v1/admin/join', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'n4' }) });
    assert.equal(join.status, 202);
    oa.check('POST', '/v1/admin/join', 202, join.json());
    assert.ok(cluster.ring.members.some((m) => m.id === 'n4'));
    const dec = await call(base, 'POST', '/v1/admin/decommission', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'n4' }) });
    assert.equal(dec.status, 202);
    assert.deepEqual((dec.json() as { change: unknown }).change, { kind: 'decommission', id: 'n4' });
    const unknown = await call(base, 'POST', '/v1/admin/remove', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'zz' }) });
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), 'ERR_UNKNOWN_NODE');
    oa.check('POST', '/v1/admin/remove', 404, unknown.json());
    cluster.progress = { ...cluster.progress, phase: 'streaming' };
    try {
      const busy = await call(base, 'POST', '/v1/admin/remove', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'n2' }) });
      assert.equal(busy.status, 409);
      assert.equal((busy.json() as { error: { code: string; retryable: boolean } }).error.retryable, true);
    } finally {
      cluster.progress = { ...cluster.progress, phase: 'done' };
    }
    const badBody = await call(base, 'POST', '/v1/admin/join', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'bad id!' }) });
    assert.equal(badBody.status, 400);
  });

  it('http cluster: repair starts an anti-entropy round and reports counters', async () => {
    const r = await call(base, 'POST', '/v1/admin/repair');
    assert.equal(r.status, 202);
    oa.check('POST', '/v1/admin/repair', 202, r.json());
    assert.equal((r.json() as { started: boolean }).started, true);
    assert.equal(cluster.repairs, 1);
  });

  it('http cluster: /readyz is 503 while this node joins or is outside the ring', async () => {
    const saved = cluster.progress;
    cluster.progress = { change: { kind: 'join', id: node.id }, phase: 'streaming', slotsToMove: 5, slotsMoved: 1, keysStreamed: 0, bytesStreamed: 0, message: '' };
    try {
      assert.deepEqual((await call(base, 'GET', '/readyz')).json(), { ready: false, reason: 'joining' });
      cluster.progress = { ...cluster.progress, change: { kind: 'decommission', id: node.id } };
      assert.deepEqual((await call(base, 'GET', '/readyz')).json(), { ready: false, reason: 'draining' });
    } finally {
      cluster.progress = saved;
    }
    assert.deepEqual((await call(base, 'GET', '/readyz')).json(), { ready: true, reason: 'ok' });
  });
});
