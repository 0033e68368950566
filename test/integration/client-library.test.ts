/**
 * The client library against in-process nodes on loopback ports: three HTTP APIs over a fake
 * cluster (one hop routing counted per request, ring refresh on an epoch change, failover to
 * another replica, sibling resolution, batches), a standalone API, and scripted servers for
 * the retry rules (retryable codes only; "may have happened" surfaced, never retried).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MaybeAppliedError, RingkvClient, RingkvClientError, type RequestEvent } from '../../src/client/index.js';
import { configSchema } from '../../src/config/schema.js';
import { keySlot } from '../../src/core/ring/index.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { createHttpApi } from '../../src/http/app.js';
import { silentLogger } from '../../src/server/logger.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';
import { FakeCluster } from '../unit/http-fake-cluster.js';

const metrics = { contentType: 'text/plain', text: () => Promise.resolve('') };

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function closeAll(servers: Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  }))).then(() => undefined);
}

describe('client library: cluster routing (in-process fake cluster)', () => {
  const cluster = new FakeCluster(['n1', 'n2', 'n3', 'n4', 'n5']);
  cluster.ring = new FakeCluster(['n1', 'n2', 'n3', 'n4'], 2).ring; // RF 2 of 4: a random node is often not a replica
  const servers: Server[] = [];
  const ports = new Map<string, number>();
  const events: RequestEvent[] = [];
  let client: RingkvClient;

  before(async () => {
    for (const id of ['n1', 'n2', 'n3', 'n4', 'n5']) {
      const node = cluster.node(id);
      const api = createHttpApi({ logger: silentLogger(), metrics, isServing: () => true, cluster: node });
      const { server, port } = await listen(api.handler);
      node.httpPort = port;
      ports.set(id, port);
      servers.push(server);
    }
    client = new RingkvClient({ seeds: [`127.0.0.1:${ports.get('n1')}`], onRequest: (e) => events.push(e), retryDelayMs: 5 });
    await client.connect();
  });
  after(async () => {
    client.close();
    await closeAll(servers);
  });

  it('client: every get and put goes in one request to a replica of the key\'s slot, which coordinates it', async () => {
    events.length = 0;
    const executedBefore = cluster.executed.length;
    const n = 120;
    for (let i = 0; i < n; i++) {
      await client.put(`hop:${i}`, `v${i}`);
      assert.equal((await client.get(`hop:${i}`))?.value.toString(), `v${i}`);
    }
    assert.equal(events.length, 2 * n, 'one HTTP request per operation');
    const coordinators = new Set<string>();
    for (const e of events) {
      const key = decodeURIComponent(e.path.slice('/v1/kv/'.length).split('?')[0]!);
      const owners = cluster.ring.owners[keySlot(key)]!;
      assert.ok(e.coordinator !== undefined && owners.includes(e.coordinator as never), `${key} coordinated by ${e.coordinator}, replicas ${owners.join(',')}`);
      assert.equal(e.coordinator, e.nodeId);
      coordinators.add(e.coordinator);
    }
    // The core ran each op on the node that received it: no forwarding hop.
    for (const x of cluster.executed.slice(executedBefore)) assert.ok(cluster.ring.owners[keySlot(x.op.key)]!.includes(x.node));
    assert.ok(coordinators.size >= 3, `load spread over ${coordinators.size} nodes`);
  });

  it('client: siblings come back as a conflict without a resolver, and a resolver merges and writes them back', async () => {
    const other = new RingkvClient({ seeds: [`127.0.0.1:${ports.get('n2')}`] });
    try {
      await client.put('cart', 'empty');
      const read = await client.get('cart');
      // Two writers that read the same version write concurrently: siblings.
      await client.put('cart', 'apple', { context: read?.context ?? '' });
      await other.put('cart', 'pear', { context: read?.context ?? '' });
      const raw = await client.get('cart');
      assert.equal(raw?.conflict, true);
      assert.deepEqual(raw?.values.map(String).sort(), ['apple', 'pear']);
      const merged = await client.get('cart', { resolve: (vals) => vals.map(String).sort().join('+') });
      assert.equal(merged?.conflict, false);
      assert.equal(merged?.value.toString(), 'apple+pear');
      const again = await other.get('cart');
      assert.deepEqual(again?.values.map(String), ['apple+pear']);
      // A write with the returned context supersedes it (no new sibling).
      await client.put('cart', 'apple+pear+fig', { context: merged?.context ?? '' });
      assert.deepEqual((await other.get('cart'))?.values.map(String), ['apple+pear+fig']);
    } finally {
      other.close();
    }
  });

  it('client: a conditional write with a stale context fails with ERR_CONDITION_FAILED (not retried)', async () => {
    await client.put('cond', 'a');
    const r = await client.get('cond');
    await client.put('cond', 'b', { ifMatch: r?.context ?? '' });
    events.length = 0;
    await assert.rejects(client.put('cond', 'c', { ifMatch: r?.context ?? '' }), (e: unknown) => e instanceof RingkvClientError && e.code === 'ERR_CONDITION_FAILED' && e.status === 412);
    assert.equal(events.length, 1);
    await assert.rejects(client.put('cond', 'd', { ifNoneMatch: true }), (e: unknown) => e instanceof RingkvClientError && e.code === 'ERR_CONDITION_FAILED');
  });

  it('client: getMany and putMany batch per routed node and keep input order', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `batch:${i}`);
    const res = await client.putMany(keys.map((k, i) => ({ key: k, value: `b${i}` })));
    assert.ok(res.every((r) => r.ok));
    const got = await client.getMany([...keys, 'batch:none']);
    assert.deepEqual(got.map((g) => g?.value.toString() ?? null), [...keys.map((_, i) => `b${i}`), null]);
    const listed: string[] = [];
    for await (const k of client.keys({ match: 'batch:*', pageSize: 7 })) listed.push(k);
    assert.deepEqual(listed.sort(), [...keys].sort());
  });

  it('client: a newer ring epoch in a response makes the client refresh its ring', async () => {
    const before = client.ring()?.epoch ?? 0;
    cluster.change({ kind: 'join', id: 'n5' as never });
    await client.get('hop:1');
    for (let i = 0; i < 50 && (client.ring()?.epoch ?? 0) === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(client.ring()?.epoch, cluster.ring.epoch);
    assert.ok(client.ring()!.urls.has('n5'));
  });

  it('client: a replica that refuses connections is skipped for the next replica of the slot', async () => {
    const victim = servers[1]!; // n2
    await new Promise<void>((resolve) => {
      victim.closeAllConnections();
      victim.close(() => resolve());
    });
    // Let the client's idle keep-alive sockets to n2 see the close (a request racing a node's
    // death on a pooled socket is "may have happened" for a write, by design).
    await new Promise((r) => setTimeout(r, 50));
    const key = Array.from({ length: 1000 }, (_, i) => `fo:${i}`).find((k) => cluster.ring.owners[keySlot(k)]![0] === 'n2')!;
    events.length = 0;
    await client.put(key, 'still works');
    assert.equal((await client.get(key))?.value.toString(), 'still works');
    assert.ok(events.every((e) => e.coordinator !== 'n2'));
    assert.ok(events.every((e) => cluster.ring.owners[keySlot(key)]!.includes(e.coordinator as never)));
  });
});

describe('client library: standalone node', () => {
  const config = configSchema.parse({ engine: 'memory' });
  const store = new LocalKvStore({ engine: new MemoryEngine(), config });
  let server: Server;
  let client: RingkvClient;

  before(async () => {
    const api = createHttpApi({ logger: silentLogger(), metrics, isServing: () => true, store });
    const l = await listen(api.handler);
    server = l.server;
    client = await new RingkvClient({ seeds: [`http://127.0.0.1:${l.port}`] }).connect();
  });
  after(async () => {
    client.close();
    await closeAll([server]);
  });

  it('client: against a standalone node it routes to the seed and reads its own writes, binary keys included', async () => {
    assert.equal(client.mode, 'standalone');
    const key = Buffer.from([0x00, 0xff, 0x2f, 0x41]);
    await client.put(key, Buffer.from([1, 2, 3]), { ttlMs: 60_000 });
    const r = await client.get(key);
    assert.deepEqual([...(r?.value ?? [])], [1, 2, 3]);
    assert.ok((r?.expiresAtMs ?? 0) > Date.now());
    assert.equal((await store.get(key.toString('latin1')))?.value.length, 3);
    await client.delete(key);
    assert.equal(await client.get(key), null);
  });
});

describe('client library: retry rules (scripted server)', () => {
  let server: Server;
  let base = '';
  let script: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  let hits = 0;

  const err = (res: ServerResponse, status: number, code: string, retryable: boolean): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code, message: code.toLowerCase(), retryable } }));
  };

  before(async () => {
    const l = await listen((req, res) => {
      if (req.url === '/v1/cluster/ring') {
        err(res, 404, 'ERR_NOT_FOUND', false);
        return;
      }
      hits++;
      req.resume();
      script(req, res);
    });
    server = l.server;
    base = `127.0.0.1:${l.port}`;
  });
  after(() => closeAll([server]));

  const client = (): RingkvClient => new RingkvClient({ seeds: [base], retries: 2, retryDelayMs: 1, timeoutMs: 300 });

  it('client: retryable errors (503 ERR_UNAVAILABLE) are retried and can succeed', async () => {
    hits = 0;
    script = (_req, res) => {
      if (hits < 3) err(res, 503, 'ERR_UNAVAILABLE', true);
      else { res.writeHead(204); res.end(); }
    };
    const c = client();
    try {
      await c.put('k', 'v');
      assert.equal(hits, 3);
    } finally {
      c.close();
    }
  });

  it('client: retries stop at the limit and the last retryable error surfaces with its code', async () => {
    hits = 0;
    script = (_req, res) => err(res, 503, 'ERR_OVERLOADED', true);
    const c = client();
    try {
      await assert.rejects(c.get('k'), (e: unknown) => e instanceof RingkvClientError && e.code === 'ERR_OVERLOADED' && e.retryable);
      assert.equal(hits, 3);
    } finally {
      c.close();
    }
  });

  it('client: non-retryable errors are not retried', async () => {
    hits = 0;
    script = (_req, res) => err(res, 409, 'ERR_TOO_MANY_SIBLINGS', false);
    const c = client();
    try {
      await assert.rejects(c.put('k', 'v'), (e: unknown) => e instanceof RingkvClientError && e.code === 'ERR_TOO_MANY_SIBLINGS' && !e.retryable);
      assert.equal(hits, 1);
    } finally {
      c.close();
    }
  });

  it('client: ERR_MAYBE_APPLIED from the server is a MaybeAppliedError and is not retried', async () => {
    hits = 0;
    script = (_req, res) => err(res, 504, 'ERR_MAYBE_APPLIED', false);
    const c = client();
    try {
      await assert.rejects(c.put('k', 'v'), (e: unknown) => e instanceof MaybeAppliedError && e.code === 'ERR_MAYBE_APPLIED');
      assert.equal(hits, 1);
    } finally {
      c.close();
    }
  });

  it('client: a write that times out after being sent may have happened; a read that times out is retried', async () => {
    hits = 0;
    script = () => undefined; // never answers
    const c = client();
    try {
      await assert.rejects(c.put('k', 'v'), (e: unknown) => e instanceof MaybeAppliedError);
      assert.equal(hits, 1);
      hits = 0;
      await assert.rejects(c.get('k'), (e: unknown) => e instanceof RingkvClientError && e.code === 'ERR_TIMEOUT');
      assert.equal(hits, 3);
    } finally {
      c.close();
    }
  });

  it('client: a refused connection did not happen: retryable, and no seed answering is ERR_NO_SEEDS', async () => {
    const l = await listen(() => undefined);
    const port = l.port;
    await closeAll([l.server]);
    const c = new RingkvClient({ seeds: [`127.0.0.1:${port}`], retries: 1, retryDelayMs: 1 });
    try {
      await assert.rejects(c.connect(), (e: unknown) => e instanceof RingkvClientError && e.code === 'ERR_NO_SEEDS' && e.retryable);
    } finally {
      c.close();
    }
  });
});
