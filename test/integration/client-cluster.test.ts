/**
 * The client library against a real 3-node cluster (replication factor 2, so a third of the
 * nodes are not replicas of a given slot): it learns the ring through one seed, and every
 * request goes in one hop to a replica of the key's slot, which coordinates it (counted from
 * the X-Ringkv-Coordinator header against the servers' own ring). Siblings are resolved with a
 * callback; a killed node is routed around.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RingkvClient, type RequestEvent } from '../../src/client/index.js';
import { keySlot } from '../../src/core/ring/index.js';
import { killAll } from './cli-process.js';
import { httpJson, LocalCluster } from './cluster-harness.js';

interface RingJson {
  current: { epoch: number; ranges: { first: number; last: number; replicas: string[] }[] };
}

function ownersOf(ring: RingJson, key: string): string[] {
  const slot = keySlot(Buffer.from(key, 'utf8').toString('latin1'));
  return ring.current.ranges.find((r) => r.first <= slot && slot <= r.last)?.replicas ?? [];
}

describe('client library: real 3-node cluster', { timeout: 120_000 }, () => {
  let c: LocalCluster;
  let client: RingkvClient;
  const events: RequestEvent[] = [];

  before(async () => {
    c = await LocalCluster.start({ nodes: 3, args: ['--cluster-replication-factor', '2'] });
    client = await new RingkvClient({ seeds: [`127.0.0.1:${c.node(2).httpPort}`], onRequest: (e) => events.push(e), retryDelayMs: 20 }).connect();
  });
  after(async () => {
    client?.close();
    await c?.dispose();
    killAll();
  });

  it('client: one hop: each of 200 gets and puts is one request coordinated by a replica of the key\'s slot; a 100-key getMany is one batch per node', async () => {
    const ring = (await httpJson(c.node(1).httpPort, '/v1/cluster/ring')).body as RingJson;
    assert.equal(client.ring()?.epoch, ring.current.epoch);
    events.length = 0;
    const keys = Array.from({ length: 100 }, (_, i) => `user:${i}`);
    for (const k of keys) await client.put(k, `v-${k}`);
    for (const k of keys) assert.equal((await client.get(k))?.value.toString(), `v-${k}`);
    const many = await client.getMany(keys.slice(0, 100));
    assert.deepEqual(many.map((m) => m?.value.toString()), keys.map((k) => `v-${k}`));
    const single = events.filter((e) => e.path.startsWith('/v1/kv/'));
    assert.equal(single.length, 200, 'one HTTP request per get/put');
    let hops = 0;
    const byNode = new Map<string, number>();
    for (const e of single) {
      const key = decodeURIComponent(e.path.slice('/v1/kv/'.length).split('?')[0]!);
      const owners = ownersOf(ring, key);
      assert.equal(owners.length, 2);
      assert.ok(e.coordinator !== undefined && owners.includes(e.coordinator), `${key}: coordinator ${e.coordinator} not in ${owners.join(',')}`);
      if (e.coordinator !== e.nodeId) hops++;
      byNode.set(e.coordinator, (byNode.get(e.coordinator) ?? 0) + 1);
    }
    assert.equal(hops, 0);
    assert.equal(byNode.size, 3, 'requests spread over every node');
    // Batches: one request per node holding a group, each to a replica of every key in it.
    const batches = events.filter((e) => e.path === '/v1/batch/get');
    assert.ok(batches.length >= 1 && batches.length <= 3, `${batches.length} batch requests`);
  });

  it('client: a sibling resolver merges concurrent writes made through two clients and writes the result back', async () => {
    const other = await new RingkvClient({ seeds: [`127.0.0.1:${c.node(3).httpPort}`] }).connect();
    try {
      await client.put('cart:9', 'start');
      const read = await client.get('cart:9');
      await client.put('cart:9', 'milk', { context: read?.context ?? '' });
      await other.put('cart:9', 'eggs', { context: read?.context ?? '' });
      const seen: string[][] = [];
      const merged = await client.get('cart:9', {
        resolve: (values) => {
          seen.push(values.map(String).sort());
          return values.map(String).sort().join(',');
        },
      });
      assert.deepEqual(seen, [['eggs', 'milk']]);
      assert.equal(merged?.value.toString(), 'eggs,milk');
      assert.equal(merged?.conflict, false);
      const after = await other.get('cart:9', { r: 'all' });
      assert.deepEqual(after?.values.map(String), ['eggs,milk']);
    } finally {
      other.close();
    }
  });

  it('client: with a node killed, reads and writes go to the surviving replica of each slot', async () => {
    await c.kill(3);
    // Let the client's pooled sockets to node 3 see the connection reset.
    await new Promise((r) => setTimeout(r, 100));
    events.length = 0;
    const keys = Array.from({ length: 40 }, (_, i) => `after-kill:${i}`);
    for (const k of keys) await client.put(k, k, { w: 'one' });
    for (const k of keys) assert.equal((await client.get(k, { r: 'one' }))?.value.toString(), k);
    const answered = events.filter((e) => e.status < 400);
    assert.ok(answered.every((e) => e.coordinator !== 'node-3'));
  });
});
