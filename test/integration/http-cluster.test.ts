/**
 * The HTTP API of a real 3-node cluster (separate `ringkv start` processes, replication factor
 * 2, so a node is not a replica of every slot): every endpoint answers what /openapi.json
 * documents, the siblings round trip (two blind writes through different nodes -> 300 with
 * both -> a write with the context -> one value), conditional writes, batches, key listing,
 * cluster state and the error statuses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OpenApiChecker } from '../unit/http-openapi-check.js';
import { killAll } from './cli-process.js';
import { eventually, LocalCluster } from './cluster-harness.js';

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

const code = (r: Reply): string => (r.json() as { error: { code: string } }).error.code;
const json = { 'content-type': 'application/json' };

describe('http api: real 3-node cluster', { timeout: 120_000 }, () => {
  let c: LocalCluster;
  let oa: OpenApiChecker;
  const base = (i: number): string => `http://127.0.0.1:${c.node(i).httpPort}`;

  before(async () => {
    c = await LocalCluster.start({ nodes: 3, args: ['--cluster-replication-factor', '2', '--max-value-bytes', '4096', '--max-key-bytes', '100'] });
    oa = await OpenApiChecker.fetch(base(1));
  });
  after(async () => {
    await c?.dispose();
    killAll();
  });

  it('http cluster: two concurrent writes through different nodes read back as 300 with both; a write with the context leaves one value', async () => {
    // Concurrent = both writers read the same version and write with its context.
    assert.equal((await call(base(1), 'PUT', '/v1/kv/sib', { body: 'start' })).status, 204);
    const read = (await call(base(1), 'GET', '/v1/kv/sib')).headers.get('x-ringkv-context') ?? '';
    assert.equal((await call(base(1), 'PUT', '/v1/kv/sib', { headers: { 'x-ringkv-context': read }, body: 'from-1' })).status, 204);
    assert.equal((await call(base(2), 'PUT', '/v1/kv/sib', { headers: { 'x-ringkv-context': read }, body: 'from-2' })).status, 204);
    const multi = await eventually('both siblings visible', async () => {
      const r = await call(base(3), 'GET', '/v1/kv/sib');
      return r.status === 300 ? r : undefined;
    }, 10_000);
    oa.check('GET', '/v1/kv/{key}', 300, multi.json());
    const body = multi.json() as { context: string; values: { value: string }[] };
    assert.deepEqual(body.values.map((v) => Buffer.from(v.value, 'base64').toString()).sort(), ['from-1', 'from-2']);
    assert.equal(multi.headers.get('x-ringkv-context'), body.context);
    assert.equal((await call(base(3), 'PUT', '/v1/kv/sib', { headers: { 'x-ringkv-context': body.context }, body: 'resolved' })).status, 204);
    for (const i of [1, 2, 3]) {
      const one = await call(base(i), 'GET', '/v1/kv/sib');
      assert.equal(one.status, 200, `node ${i}`);
      assert.equal(one.body.toString(), 'resolved');
    }
  });

  it('http cluster: GET/PUT/DELETE, TTL, conditional writes and the coordinator header', async () => {
    const put = await call(base(1), 'PUT', '/v1/kv/plain?ttl_ms=60000&w=quorum', { body: Buffer.from([1, 2, 3]) });
    assert.equal(put.status, 204);
    assert.equal(put.headers.get('x-ringkv-coordinator'), 'node-1');
    const get = await call(base(2), 'GET', '/v1/kv/plain?r=all');
    assert.equal(get.status, 200);
    assert.deepEqual([...get.body], [1, 2, 3]);
    assert.ok(Number(get.headers.get('x-ringkv-expires-at-ms')) > Date.now());
    assert.equal(get.headers.get('x-ringkv-coordinator'), 'node-2');
    const asJson = await call(base(2), 'GET', '/v1/kv/plain', { headers: { accept: 'application/json' } });
    oa.check('GET', '/v1/kv/{key}', 200, asJson.json());
    const ctx = get.headers.get('x-ringkv-context') ?? '';
    assert.equal((await call(base(3), 'PUT', '/v1/kv/plain', { headers: { 'if-match': ctx }, body: 'v2' })).status, 204);
    const stale = await call(base(1), 'PUT', '/v1/kv/plain', { headers: { 'if-match': ctx }, body: 'v3' });
    assert.equal(stale.status, 412);
    assert.equal(code(stale), 'ERR_CONDITION_FAILED');
    const exists = await call(base(1), 'PUT', '/v1/kv/plain', { headers: { 'if-none-match': '*' }, body: 'v4' });
    assert.equal(exists.status, 412);
    assert.equal((await call(base(1), 'GET', '/v1/kv/plain')).body.toString(), 'v2');
    assert.equal((await call(base(1), 'DELETE', '/v1/kv/plain')).status, 204);
    const gone = await call(base(3), 'GET', '/v1/kv/plain');
    assert.equal(gone.status, 404);
    oa.check('GET', '/v1/kv/{key}', 404, gone.json());
    // After a delete the key can be created again with If-None-Match.
    assert.equal((await call(base(2), 'PUT', '/v1/kv/plain', { headers: { 'if-none-match': '*' }, body: 'again' })).status, 204);
  });

  it('http cluster: batches and key listing (each key once across the cluster)', async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({ key: `bk:${i}`, text: `v${i}` }));
    const put = await call(base(1), 'POST', '/v1/batch/put', { headers: json, body: JSON.stringify({ items, w: 'quorum' }) });
    assert.equal(put.status, 200);
    oa.check('POST', '/v1/batch/put', 200, put.json());
    assert.ok((put.json() as { results: { ok: boolean }[] }).results.every((r) => r.ok));
    const get = await call(base(2), 'POST', '/v1/batch/get', { headers: json, body: JSON.stringify({ keys: ['bk:0', 'bk:29', 'bk:none'] }) });
    oa.check('POST', '/v1/batch/get', 200, get.json());
    assert.deepEqual((get.json() as { results: { found: boolean }[] }).results.map((r) => r.found), [true, true, false]);
    const seen: string[] = [];
    let cursor: string | null = null;
    let guard = 0;
    do {
      const r = await call(base(3), 'GET', `/v1/keys?match=bk:*&limit=8${cursor === null ? '' : `&cursor=${cursor}`}`);
      assert.equal(r.status, 200);
      oa.check('GET', '/v1/keys', 200, r.json());
      const page = r.json() as { keys: string[]; cursor: string | null };
      seen.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== null && ++guard < 50);
    assert.equal(seen.length, 30);
    assert.deepEqual([...seen].sort(), items.map((i) => i.key).sort());
  });

  it('http cluster: members, ring, ownership, load, hints, anti-entropy, stats, topology and hot keys match the document', async () => {
    for (const p of ['/v1/cluster/members', '/v1/cluster/ring', '/v1/cluster/ownership', '/v1/cluster/load', '/v1/cluster/hints',
      '/v1/cluster/antientropy', '/v1/cluster/stats', '/v1/cluster/topology', '/v1/hotkeys']) {
      const r = await call(base(2), 'GET', p);
      assert.equal(r.status, 200, p);
      oa.check('GET', p, 200, r.json());
    }
    const members = (await call(base(2), 'GET', '/v1/cluster/members')).json() as { members: { id: string; state: string; address: { http_port: number } | null }[] };
    assert.deepEqual(members.members.map((m) => [m.id, m.state]).sort(), [['node-1', 'alive'], ['node-2', 'alive'], ['node-3', 'alive']]);
    for (const m of members.members) assert.equal(m.address?.http_port, c.node(Number(m.id.slice(5))).httpPort);
    const ring = (await call(base(1), 'GET', '/v1/cluster/ring')).json() as { current: { replication_factor: number; ranges: { first: number; last: number; replicas: string[] }[] } };
    assert.equal(ring.current.replication_factor, 2);
    let next = 0;
    for (const r of ring.current.ranges) {
      assert.equal(r.first, next);
      assert.equal(r.replicas.length, 2);
      next = r.last + 1;
    }
    assert.equal(next, 16384);
    const own = (await call(base(1), 'GET', '/v1/cluster/ownership')).json() as { nodes: { percent: number }[] };
    for (const n of own.nodes) assert.ok(Math.abs(n.percent - 100 / 3) < 2, `balanced ownership ${n.percent}`);
    const load = (await call(base(1), 'GET', '/v1/cluster/load')).json() as { nodes: { id: string; keys: number | null }[] };
    assert.equal(load.nodes.length, 3);
    assert.ok(load.nodes.every((n) => typeof n.keys === 'number'));
    const ae = (await call(base(1), 'GET', '/v1/cluster/antientropy')).json() as { stats: Record<string, number> };
    assert.ok('ae_sessionsOpened' in ae.stats, `anti-entropy counters: ${Object.keys(ae.stats).join(',')}`);
    const hints = (await call(base(1), 'GET', '/v1/cluster/hints')).json() as { stats: Record<string, number> };
    assert.ok('hints_held' in hints.stats);
  });

  it('http cluster: health, readiness, metrics and the OpenAPI document', async () => {
    for (const i of [1, 2, 3]) {
      const h = await call(base(i), 'GET', '/healthz');
      assert.equal(h.status, 200);
      const r = await call(base(i), 'GET', '/readyz');
      assert.equal(r.status, 200, `node ${i}: ${r.body.toString()}`);
      oa.check('GET', '/readyz', 200, r.json());
    }
    const m = await call(base(1), 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body.toString(), /^# HELP/m);
    const doc = (await call(base(3), 'GET', '/openapi.json')).json() as { openapi: string; paths: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok('/v1/kv/{key}' in doc.paths && '/v1/admin/join' in doc.paths);
  });

  it('http cluster: errors are registry JSON with their statuses (404, 405, 400, 413, 412) and never a stack', async () => {
    const cases: [string, string, Record<string, string>, string | Buffer | undefined, number, string][] = [
      ['GET', '/v2/none', {}, undefined, 404, 'ERR_NOT_FOUND'],
      ['POST', '/v1/kv/x', {}, undefined, 405, 'ERR_METHOD_NOT_ALLOWED'],
      ['GET', '/v1/kv/x?r=eleven', {}, undefined, 400, 'ERR_INVALID_ARGUMENT'],
      ['PUT', '/v1/kv/x', { 'x-ringkv-context': 'AAAA' }, 'v', 400, 'ERR_INVALID_ARGUMENT'],
      ['PUT', '/v1/kv/x', {}, Buffer.alloc(5000), 413, 'ERR_VALUE_TOO_LARGE'],
      ['GET', `/v1/kv/${'k'.repeat(101)}`, {}, undefined, 413, 'ERR_KEY_TOO_LARGE'],
      ['POST', '/v1/batch/get', json, '{"keys":', 400, 'ERR_SYNTAX'],
      ['POST', '/v1/admin/join', json, '{"id":"bad id"}', 400, 'ERR_INVALID_ARGUMENT'],
    ];
    for (const [method, path, headers, body, status, errCode] of cases) {
      const r = await call(base(1), method, path, { headers, ...(body !== undefined ? { body } : {}) });
      assert.equal(r.status, status, `${method} ${path.slice(0, 40)}`);
      assert.equal(code(r), errCode);
      assert.doesNotMatch(r.body.toString(), /\n\s+at /);
    }
  });

  it('http cluster: admin repair answers 202 and an unknown node cannot be removed', async () => {
    const repair = await call(base(1), 'POST', '/v1/admin/repair');
    assert.equal(repair.status, 202);
    oa.check('POST', '/v1/admin/repair', 202, repair.json());
    assert.equal((repair.json() as { started: boolean }).started, true, 'the node host starts a repair round');
    // Every slot this node replicates reports when it was last in sync (after the round, some have).
    await eventually('a partition synced after the repair', async () => {
      const ae = (await call(base(1), 'GET', '/v1/cluster/antientropy')).json() as { partitions: { slots: number; newest_synced_ms: number | null } | null };
      assert.ok(ae.partitions !== null && ae.partitions.slots > 0, 'per-partition anti-entropy state');
      return ae.partitions.newest_synced_ms ?? undefined;
    }, 30_000);
    const unknown = await call(base(1), 'POST', '/v1/admin/remove', { headers: json, body: JSON.stringify({ id: 'node-9' }) });
    assert.ok(unknown.status >= 400 && unknown.status < 500, `status ${unknown.status}`);
    oa.check('POST', '/v1/admin/remove', unknown.status, unknown.json());
  });
});
