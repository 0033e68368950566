/**
 * Cluster mode over RESP, in one process: three RESP servers, each serving a ClusterKvStore over
 * one node of an in-process 3-node cluster (real core Nodes). Checks the CLUSTER commands'
 * shapes against the ring, CONSISTENCY, GETCTX/SETCTX/DELCTX, INFO's cluster section, standalone
 * refusals, and an ioredis Cluster workload routed by CLUSTER SLOTS.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { createCluster } from 'redis';
import { ClusterKvStore } from '../../src/cluster/kv/cluster-kv-store.js';
import { defaultConfig } from '../../src/config/load.js';
import { keySlot } from '../../src/core/ring/index.js';
import { defaultCommandTable } from '../../src/server/commands/registry.js';
import { RespServer } from '../../src/server/resp-server.js';
import { startServer, type TestServer } from '../integration/resp-server-harness.js';
import { InProcessCluster } from './cluster-kv-harness.js';

const IDS = ['a', 'b', 'c'] as const;
const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

let cluster: InProcessCluster;
const servers: RespServer[] = [];
const ports = new Map<string, number>();
const clients: Redis[] = [];

function client(id: string): Redis {
  const r = new Redis({ host: '127.0.0.1', port: ports.get(id), lazyConnect: false, maxRetriesPerRequest: 0 });
  clients.push(r);
  return r;
}

before(async () => {
  cluster = new InProcessCluster();
  for (const id of IDS) {
    const config = defaultConfig({ respPort: 0, host: '127.0.0.1', engine: 'memory', cluster: { nodeId: id } });
    const store = new ClusterKvStore(cluster.clusterNode(id), config);
    const server = new RespServer({ config, store, commands: defaultCommandTable() });
    const { port } = await server.listen();
    cluster.setRespPort(id, port);
    ports.set(id, port);
    servers.push(server);
  }
});

after(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(servers.map((s) => s.close(1000)));
  cluster.close();
});

type SlotEntry = [number, number, ...[string, number, string][]];

describe('cluster over RESP: topology commands answer from the ring', () => {
  it('CLUSTER SLOTS covers all 16384 slots in order; master = first of the preference list, replicas = the rest', async () => {
    const r = client('a');
    const slots = (await r.call('CLUSTER', 'SLOTS')) as SlotEntry[];
    let next = 0;
    const byPort = new Map([...ports].map(([id, p]) => [p, id]));
    for (const [start, end, ...nodes] of slots) {
      assert.equal(start, next, 'ranges are contiguous');
      assert.ok(end >= start);
      next = end + 1;
      const owners = cluster.ring.owners[start] ?? [];
      assert.deepEqual(nodes.map((n) => byPort.get(n[1])), [...owners], `slot ${start}: nodes in preference order`);
      for (const n of nodes) {
        assert.equal(n[0], '127.0.0.1');
        assert.equal(n[2], sha1(byPort.get(n[1]) ?? ''), 'node ids are sha1 of the ring id');
      }
      // Every slot of the range has the same list.
      assert.deepEqual(cluster.ring.owners[end], owners);
    }
    assert.equal(next, 16384);
  });

  it('CLUSTER NODES lists every member in Redis format with the slots it is master of', async () => {
    const text = String(await client('b').call('CLUSTER', 'NODES'));
    const lines = text.trim().split('\n');
    assert.equal(lines.length, 3);
    let slotsTotal = 0;
    for (const line of lines) {
      const f = line.split(' ');
      assert.match(f[0] ?? '', /^[0-9a-f]{40}$/);
      assert.match(f[1] ?? '', /^127\.0\.0\.1:\d+@\d+$/);
      assert.match(f[2] ?? '', /^(myself,)?master$/);
      assert.equal(f[3], '-');
      assert.equal(f[7], 'connected');
      for (const range of f.slice(8)) {
        const [lo, hi] = range.split('-').map(Number);
        slotsTotal += (hi ?? lo ?? 0) - (lo ?? 0) + 1;
      }
    }
    assert.equal(slotsTotal, 16384, 'every slot has exactly one master');
    const mine = lines.find((l) => l.includes('myself'));
    assert.equal(mine?.split(' ')[0], sha1('b'));
    assert.equal(await client('b').call('CLUSTER', 'MYID'), sha1('b'));
  });

  it('CLUSTER INFO says ok with every slot assigned; KEYSLOT is Redis\'s hash slot with hash tags', async () => {
    const r = client('c');
    await r.set('info:traffic', 'x');
    const info = String(await r.call('CLUSTER', 'INFO'));
    assert.match(info, /cluster_state:ok\r\n/);
    assert.match(info, /cluster_slots_assigned:16384\r\n/);
    assert.match(info, /cluster_slots_ok:16384\r\n/);
    assert.match(info, /cluster_known_nodes:3\r\n/);
    assert.match(info, /cluster_stats_messages_sent:[1-9]/, 'peer traffic counters come from the node stats');
    assert.equal(await r.call('CLUSTER', 'KEYSLOT', 'foo'), 12182);
    assert.equal(await r.call('CLUSTER', 'KEYSLOT', '{user1}:a'), keySlot('user1'));
    assert.match(String(await r.call('INFO', 'cluster')), /cluster_enabled:1/);
    assert.equal(await r.call('READONLY'), 'OK');
    assert.equal(await r.call('READWRITE'), 'OK');
  });

  it('CLUSTER SHARDS groups ranges by node list with master and replica roles', async () => {
    const shards = (await client('a').call('CLUSTER', 'SHARDS')) as unknown[][];
    assert.ok(shards.length >= 1);
    let covered = 0;
    for (const shard of shards) {
      assert.equal(shard[0], 'slots');
      const ranges = shard[1] as number[];
      for (let i = 0; i < ranges.length; i += 2) covered += (ranges[i + 1] ?? 0) - (ranges[i] ?? 0) + 1;
      assert.equal(shard[2], 'nodes');
      const nodes = shard[3] as unknown[][];
      assert.equal(nodes.length, 3);
      assert.deepEqual(nodes.map((n) => n[9]), ['master', 'replica', 'replica']);
    }
    assert.equal(covered, 16384);
  });

  it('CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT count a slot once', async () => {
    const r = client('a');
    await r.set('{cks}1', 'x');
    await r.set('{cks}2', 'y');
    const slot = keySlot('cks');
    assert.equal(await r.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot)), 2);
    assert.deepEqual(((await r.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '10')) as string[]).sort(), ['{cks}1', '{cks}2']);
    await assert.rejects(r.call('CLUSTER', 'COUNTKEYSINSLOT', '16384'), /Invalid or out of range slot/);
  });
});

describe('cluster over RESP: consistency and siblings', () => {
  it('CONSISTENCY shows the defaults, sets per-connection levels and DEFAULT resets them', async () => {
    const r = client('a');
    assert.deepEqual(await r.call('CONSISTENCY'), ['read', 'quorum', 'write', 'quorum']);
    assert.equal(await r.call('CONSISTENCY', 'READ', 'ONE', 'WRITE', 'all'), 'OK');
    assert.deepEqual(await r.call('CONSISTENCY'), ['read', 'one', 'write', 'all']);
    assert.equal(await r.call('CONSISTENCY', 'WRITE', '2'), 'OK');
    assert.deepEqual(await r.call('CONSISTENCY'), ['read', 'one', 'write', '2']);
    await assert.rejects(r.call('CONSISTENCY', 'READ', '4'), /invalid consistency level/);
    await assert.rejects(r.call('CONSISTENCY', 'READ'), /syntax error/);
    assert.equal(await r.call('CONSISTENCY', 'READ', 'DEFAULT', 'WRITE', 'DEFAULT'), 'OK');
    assert.deepEqual(await r.call('CONSISTENCY'), ['read', 'quorum', 'write', 'quorum']);
    assert.equal(await r.call('CONSISTENCY', 'READ', 'ALL'), 'OK');
    assert.equal(await r.call('RESET'), 'RESET');
    assert.deepEqual(await r.call('CONSISTENCY'), ['read', 'quorum', 'write', 'quorum'], 'RESET restores the defaults');
    // Another connection was never affected.
    assert.deepEqual(await client('a').call('CONSISTENCY'), ['read', 'quorum', 'write', 'quorum']);
  });

  it('two blind SETCTX through different nodes make two siblings; GETCTX returns both; SETCTX with the context leaves one', async () => {
    const [a, b, c] = [client('a'), client('b'), client('c')];
    await Promise.all([a.call('SETCTX', 'sib', '', 'one'), b.call('SETCTX', 'sib', '', 'two')]);
    const [ctx, values] = (await c.call('GETCTX', 'sib')) as [string, string[]];
    assert.match(ctx, /^[A-Za-z0-9+/]+=*$/);
    assert.deepEqual([...values].sort(), ['one', 'two']);
    assert.equal(await a.get('sib'), values[values.length - 1], 'a plain GET returns the last sibling');
    assert.equal(await b.call('SETCTX', 'sib', ctx, 'resolved', 'EX', '100'), 'OK');
    const [, after1] = (await a.call('GETCTX', 'sib')) as [string, string[]];
    assert.deepEqual(after1, ['resolved']);
    const ttl = await c.ttl('sib');
    assert.ok(ttl > 90 && ttl <= 100, `SETCTX EX set a TTL: ${ttl}`);
    const [ctx2] = (await c.call('GETCTX', 'sib')) as [string, string[]];
    assert.equal(await c.call('DELCTX', 'sib', ctx2), 'OK');
    assert.equal(await a.get('sib'), null);
    await assert.rejects(a.call('SETCTX', 'sib', '!!notbase64', 'x'), /invalid context/);
  });
});

describe('cluster over RESP: clients', () => {
  it('plain ioredis against each node: a write through one is read through the others, with fan-out DBSIZE/KEYS/SCAN', async () => {
    const [a, b, c] = [client('a'), client('b'), client('c')];
    await a.flushall();
    for (let i = 0; i < 30; i++) await [a, b, c][i % 3]?.set(`plain:${i}`, `v${i}`);
    for (let i = 0; i < 30; i++) assert.equal(await [b, c, a][i % 3]?.get(`plain:${i}`), `v${i}`);
    assert.equal(await c.dbsize(), 30);
    assert.equal((await b.keys('plain:*')).length, 30);
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await a.scan(cursor, 'COUNT', 7);
      for (const k of keys) seen.add(k);
      cursor = next;
    } while (cursor !== '0');
    assert.equal(seen.size, 30);
    assert.equal(await b.incrby('plain:n', 5), 5);
    assert.equal(await c.incr('plain:n'), 6);
    assert.equal(await a.del('plain:1', 'plain:2', 'nope'), 2);
    assert.equal(await b.exists('plain:1', 'plain:3', 'plain:3'), 2);
    assert.equal(await c.rename('plain:3', 'plain:renamed'), 'OK');
    assert.equal(await a.get('plain:renamed'), 'v3');
    assert.equal(await a.get('plain:3'), null);
  });

  it('ioredis Cluster routes a workload by CLUSTER SLOTS: writes then verified reads, hash-tagged MSET/MGET', async () => {
    const cl = new Cluster([{ host: '127.0.0.1', port: ports.get('a') ?? 0 }], { enableReadyCheck: true, slotsRefreshTimeout: 2000 });
    try {
      for (let i = 0; i < 100; i++) await cl.set(`cl:${i}`, `v${i}`);
      const got = await Promise.all(Array.from({ length: 100 }, (_, i) => cl.get(`cl:${i}`)));
      assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `v${i}`));
      assert.equal(await cl.mset('{tag}a', '1', '{tag}b', '2', '{tag}c', '3'), 'OK');
      assert.deepEqual(await cl.mget('{tag}a', '{tag}b', '{tag}c'), ['1', '2', '3']);
      // Every key went straight to one of its replicas: ioredis saw no redirection.
      const nodes = cl.nodes('master');
      assert.equal(nodes.length, 3);
    } finally {
      cl.disconnect();
    }
  });
});

describe('cluster over RESP: node-redis and redis-py cluster clients', () => {
  it('node-redis createCluster (RESP2) writes then reads back a workload and a hash-tagged MSET/MGET', async () => {
    const nr = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${ports.get('b') ?? 0}` }], RESP: 2 });
    nr.on('error', () => undefined);
    await nr.connect();
    try {
      for (let i = 0; i < 30; i++) await nr.set(`nr:${i}`, `v${i}`);
      for (let i = 0; i < 30; i++) assert.equal(await nr.get(`nr:${i}`), `v${i}`);
      assert.equal(await nr.mSet([['{nr}a', '1'], ['{nr}b', '2']]), 'OK');
      assert.deepEqual(await nr.mGet(['{nr}a', '{nr}b', '{nr}none']), ['1', '2', null]);
    } finally {
      await nr.close();
    }
  });

  it('redis-py RedisCluster (Debian python3-redis) writes then reads back a workload and a hash-tagged MSET/MGET', async () => {
    const script = [
      'import json, sys',
      'from redis.cluster import RedisCluster',
      'rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)',
      'for i in range(30): rc.set("py:%d" % i, "v%d" % i)',
      'out = {"get": [rc.get("py:%d" % i) for i in range(30)]}',
      'out["mset"] = rc.mset_nonatomic({"{py}a": "1", "{py}b": "2"})',
      'out["mget"] = rc.mget_nonatomic(["{py}a", "{py}b", "{py}none"])',
      'out["incr"] = rc.incrby("py:n", 7)',
      'print(json.dumps(out))',
    ].join('\n');
    // The Debian package installs for the system interpreter, which may not be first on PATH.
    const r = await promisify(execFile)('/usr/bin/python3', ['-c', script, String(ports.get('c') ?? 0)], { timeout: 60_000 });
    const out = JSON.parse(r.stdout) as { get: string[]; mset: unknown; mget: unknown; incr: unknown };
    assert.deepEqual(out.get, Array.from({ length: 30 }, (_, i) => `v${i}`));
    assert.deepEqual(out.mget, ['1', '2', null]);
    assert.equal(out.incr, 7);
  });
});

describe('cluster over RESP: routing with more nodes than replicas (4 nodes, N=2)', () => {
  it('ioredis Cluster sends every key straight to one of its replicas (no write forwarded), where a plain client of one node needs forwards', async () => {
    const ids = ['p', 'q', 'r', 's'];
    const c4 = new InProcessCluster({ ids, replicationFactor: 2 });
    const own: RespServer[] = [];
    const own4 = new Map<string, number>();
    try {
      for (const id of ids) {
        const config = defaultConfig({ respPort: 0, host: '127.0.0.1', engine: 'memory', cluster: { nodeId: id, replicationFactor: 2 } });
        const server = new RespServer({ config, store: new ClusterKvStore(c4.clusterNode(id), config), commands: defaultCommandTable() });
        const { port } = await server.listen();
        c4.setRespPort(id, port);
        own4.set(id, port);
        own.push(server);
      }
      const plainP = new Redis({ host: '127.0.0.1', port: own4.get('p'), maxRetriesPerRequest: 0 });
      clients.push(plainP);
      for (let i = 0; i < 40; i++) await plainP.set(`route:${i}`, 'x');
      assert.ok(c4.forwardedWrites > 0, 'through one node, keys it does not replicate are forwarded');
      const cl = new Cluster([{ host: '127.0.0.1', port: own4.get('q') ?? 0 }], { slotsRefreshTimeout: 2000 });
      try {
        await cl.get('warm-up');
        const before = c4.forwardedWrites;
        for (let i = 0; i < 40; i++) await cl.set(`route:${i}`, `v${i}`);
        assert.equal(c4.forwardedWrites, before, 'every SET reached a replica of its key');
        assert.equal(await plainP.get('route:7'), 'v7');
      } finally {
        cl.disconnect();
        plainP.disconnect();
      }
    } finally {
      await Promise.all(own.map((s) => s.close(1000)));
      c4.close();
    }
  });
});

describe('standalone mode refuses cluster commands as Redis does with cluster support disabled', () => {
  let standalone: TestServer;
  before(async () => { standalone = await startServer(); });
  after(async () => { await standalone.server.close(1000); });

  it('CLUSTER, READONLY, CONSISTENCY and GETCTX answer "cluster support disabled"; INFO says cluster_enabled:0', async () => {
    const r = new Redis({ host: '127.0.0.1', port: standalone.port, maxRetriesPerRequest: 0 });
    clients.push(r);
    for (const cmd of [['CLUSTER', 'SLOTS'], ['CLUSTER', 'KEYSLOT', 'x'], ['READONLY'], ['CONSISTENCY'], ['GETCTX', 'k'], ['SETCTX', 'k', '', 'v']]) {
      await assert.rejects(r.call(cmd[0] ?? '', ...cmd.slice(1)), /ERR This instance has cluster support disabled/, cmd.join(' '));
    }
    assert.match(String(await r.call('INFO', 'cluster')), /cluster_enabled:0/);
    assert.equal(await r.set('still', 'works'), 'OK');
  });
});
