/**
 * Real clients against a real 3-node cluster (three `ringkv start` processes on loopback, N=3,
 * R=W=2, memory engine): ioredis Cluster, node-redis createCluster (RESP2), redis-py
 * RedisCluster (Debian python3-redis) and plain ioredis against each node each run a workload
 * of writes then verified reads; hash-tagged MSET/MGET; a sibling round trip over RESP; every
 * node answers the same CLUSTER SLOTS; a killed node. Processes come from the shared cluster
 * harness (cluster-harness.ts) and are killed by PID when the file ends.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { createCluster } from 'redis';
import { killAll } from './cli-process.js';
import { LocalCluster } from './cluster-harness.js';

const NODES = 3;
let cluster: LocalCluster;
const clients: Redis[] = [];

/** RESP port of node i (0-based here; the harness numbers nodes from 1). */
const port = (i: number): number => cluster.node(i + 1).respPort;

function plain(i: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port: port(i), maxRetriesPerRequest: 1 });
  // The last test kills a node: its clients' reconnect failures are expected, not news.
  r.on('error', () => undefined);
  clients.push(r);
  return r;
}

/** Node ids seen in a CLUSTER SLOTS reply (the hex ids). */
function idsOf(slots: unknown): Set<string> {
  const ids = new Set<string>();
  for (const range of slots as unknown[][]) for (const n of range.slice(2) as unknown[][]) ids.add(String(n[2]));
  return ids;
}

/** Waits until every node's CLUSTER SLOTS names all three nodes and the maps agree. */
async function waitFormed(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probes = Array.from({ length: NODES }, (_, i) => plain(i));
  let last = '';
  while (Date.now() < deadline) {
    try {
      const maps = await Promise.all(probes.map((r) => r.call('CLUSTER', 'SLOTS')));
      const texts = maps.map((m) => JSON.stringify(m));
      if (maps.every((m) => idsOf(m).size === NODES) && texts.every((t) => t === texts[0])) return;
      last = texts.map((t) => t.slice(0, 120)).join(' / ');
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`cluster did not form in ${timeoutMs} ms: ${last}`);
}

before(async () => {
  // The harness waits until every node holds the 3-member ring; CLUSTER SLOTS must agree too
  // (addresses travel by gossip, a little after the ring).
  cluster = await LocalCluster.start({ nodes: NODES, args: ['--log-level', 'info'] });
  await waitFormed(30_000);
}, { timeout: 90_000 });

after(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.dispose();
  killAll();
});

describe('cluster clients against 3 real nodes', { timeout: 120_000 }, () => {
  it('every node answers the same CLUSTER SLOTS covering all 16384 slots, and INFO says cluster_enabled:1', async () => {
    const maps = await Promise.all(Array.from({ length: NODES }, (_, i) => plain(i).call('CLUSTER', 'SLOTS')));
    for (const m of maps) assert.deepEqual(m, maps[0]);
    let next = 0;
    for (const range of maps[0] as [number, number, ...unknown[]][]) {
      assert.equal(range[0], next);
      assert.equal(range.length, 2 + 3, 'N=3: a master and two replicas per range');
      next = range[1] + 1;
    }
    assert.equal(next, 16384);
    assert.match(String(await plain(1).info('cluster')), /cluster_enabled:1/);
    assert.match(String(await plain(2).call('CLUSTER', 'INFO')), /cluster_state:ok/);
  });

  it('plain ioredis against each node: writes through every node are read through every other', async () => {
    const rs = Array.from({ length: NODES }, (_, i) => plain(i));
    for (let k = 0; k < 60; k++) assert.equal(await rs[k % NODES]?.set(`plain:${k}`, `v${k}`), 'OK');
    for (let k = 0; k < 60; k++) {
      for (let i = 0; i < NODES; i++) if (i !== k % NODES) assert.equal(await rs[i]?.get(`plain:${k}`), `v${k}`, `key ${k} through node ${i}`);
    }
    assert.equal(await rs[0]?.incrby('plain:ctr', 10), 10);
    assert.equal(await rs[1]?.incr('plain:ctr'), 11);
    assert.equal(await rs[2]?.get('plain:ctr'), '11');
    assert.equal(await rs[2]?.del('plain:0', 'plain:1', 'plain:none'), 2);
    assert.equal(await rs[0]?.exists('plain:0', 'plain:1', 'plain:2'), 1);
  });

  it('ioredis Cluster: a workload of writes then verified reads, and a hash-tagged MSET/MGET', async () => {
    const cl = new Cluster([{ host: '127.0.0.1', port: port(1) }], { slotsRefreshTimeout: 5000 });
    try {
      for (let k = 0; k < 200; k++) await cl.set(`ioc:${k}`, `v${k}`);
      const got = await Promise.all(Array.from({ length: 200 }, (_, k) => cl.get(`ioc:${k}`)));
      assert.deepEqual(got, Array.from({ length: 200 }, (_, k) => `v${k}`));
      assert.equal(await cl.mset('{ioc}a', '1', '{ioc}b', '2', '{ioc}c', '3'), 'OK');
      assert.deepEqual(await cl.mget('{ioc}a', '{ioc}b', '{ioc}c', '{ioc}none'), ['1', '2', '3', null]);
      assert.equal(cl.nodes('master').length, NODES);
    } finally {
      cl.disconnect();
    }
    // Written through the cluster client, visible to a plain client of any node.
    assert.equal(await plain(2).get('ioc:7'), 'v7');
  });

  it('node-redis createCluster (RESP2): a workload of writes then verified reads, and a hash-tagged MSET/MGET', async () => {
    const nr = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${port(2)}` }], RESP: 2 });
    nr.on('error', () => undefined);
    await nr.connect();
    try {
      for (let k = 0; k < 200; k++) await nr.set(`nrc:${k}`, `v${k}`);
      const got = await Promise.all(Array.from({ length: 200 }, (_, k) => nr.get(`nrc:${k}`)));
      assert.deepEqual(got, Array.from({ length: 200 }, (_, k) => `v${k}`));
      assert.equal(await nr.mSet([['{nrc}a', '1'], ['{nrc}b', '2']]), 'OK');
      assert.deepEqual(await nr.mGet(['{nrc}a', '{nrc}b', '{nrc}none']), ['1', '2', null]);
    } finally {
      await nr.close();
    }
    assert.equal(await plain(0).get('nrc:42'), 'v42');
  });

  it('redis-py RedisCluster (Debian python3-redis): a workload of writes then verified reads, and a hash-tagged MSET/MGET', async () => {
    const script = [
      'import json, sys',
      'from redis.cluster import RedisCluster',
      'rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)',
      'for i in range(200): rc.set("pyc:%d" % i, "v%d" % i)',
      'out = {"get": [rc.get("pyc:%d" % i) for i in range(200)]}',
      'out["mset"] = rc.mset_nonatomic({"{pyc}a": "1", "{pyc}b": "2"})',
      'out["mget"] = rc.mget_nonatomic(["{pyc}a", "{pyc}b", "{pyc}none"])',
      'out["nodes"] = len(rc.get_nodes())',
      'print(json.dumps(out))',
    ].join('\n');
    // The Debian package installs for the system interpreter, which may not be first on PATH.
    const r = await promisify(execFile)('/usr/bin/python3', ['-c', script, String(port(0))], { timeout: 60_000 });
    const out = JSON.parse(r.stdout) as { get: string[]; mget: unknown; nodes: number };
    assert.deepEqual(out.get, Array.from({ length: 200 }, (_, k) => `v${k}`));
    assert.deepEqual(out.mget, ['1', '2', null]);
    assert.equal(out.nodes, NODES);
    assert.equal(await plain(1).get('pyc:199'), 'v199');
  });

  it('siblings over RESP: two concurrent blind writes through different nodes -> GETCTX shows 2 values -> SETCTX with the context -> 1 value', async () => {
    const [a, b, c] = [plain(0), plain(1), plain(2)];
    await Promise.all([a.call('SETCTX', 'sib:1', '', 'from-n1'), b.call('SETCTX', 'sib:1', '', 'from-n2')]);
    const [ctx, values] = (await c.call('GETCTX', 'sib:1')) as [string, string[]];
    assert.deepEqual([...values].sort(), ['from-n1', 'from-n2']);
    const picks = await Promise.all([a.get('sib:1'), b.get('sib:1'), c.get('sib:1')]);
    assert.equal(new Set(picks).size, 1, 'a plain GET picks the same sibling on every node');
    assert.equal(await a.call('SETCTX', 'sib:1', ctx, 'resolved'), 'OK');
    const [, after1] = (await b.call('GETCTX', 'sib:1')) as [string, string[]];
    assert.deepEqual(after1, ['resolved']);
  });

  it('fan-out commands count each key once across replicas: DBSIZE, KEYS, SCAN, FLUSHALL', async () => {
    const [a, b, c] = [plain(0), plain(1), plain(2)];
    await a.flushall();
    assert.equal(await b.dbsize(), 0);
    await c.mset(...Array.from({ length: 40 }, (_, k) => [`fan:${k}`, 'v']).flat());
    assert.equal(await a.dbsize(), 40);
    assert.equal((await b.keys('fan:*')).length, 40);
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', 'fan:*', 'COUNT', 7);
      for (const k of keys) seen.add(k);
      cursor = next;
    } while (cursor !== '0');
    assert.equal(seen.size, 40);
  });

  // Last: it kills a node.
  it('with a node killed: CONSISTENCY ALL refuses, ONE and the quorum default still serve, and the topology marks the node failed', async () => {
    const [a, b] = [plain(0), plain(1)];
    assert.equal(await a.set('down:k', 'before'), 'OK');
    await cluster.kill(3);
    assert.equal(await a.call('CONSISTENCY', 'READ', 'ALL'), 'OK');
    await assert.rejects(a.get('down:k'), /^(ReplyError: )?(UNAVAILABLE|TIMEOUT)/);
    assert.equal(await a.call('CONSISTENCY', 'READ', 'ONE', 'WRITE', 'ONE'), 'OK');
    assert.equal(await a.get('down:k'), 'before');
    assert.equal(await a.set('down:k', 'after'), 'OK');
    assert.equal(await b.get('down:k'), 'after', 'the quorum default still has two replicas');
    // Failure detection (SWIM) routes around the dead node: it is listed failed and never as master.
    const killedId = (String(await b.call('CLUSTER', 'NODES')).split('\n').find((l) => l.includes(`:${port(2)}@`)) ?? '').split(' ')[0] ?? '';
    const deadline = Date.now() + 20_000;
    let nodes = '';
    while (Date.now() < deadline) {
      nodes = String(await b.call('CLUSTER', 'NODES'));
      if (nodes.includes('master,fail')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(nodes, new RegExp(`^${killedId} \\S+ master,fail\\?? `, 'm'));
    const slots = (await b.call('CLUSTER', 'SLOTS')) as unknown[][];
    for (const range of slots) assert.notEqual(String((range[2] as unknown[])[2]), killedId, 'a failed node is never a master');
  });
});
