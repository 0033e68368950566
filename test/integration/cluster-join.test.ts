/**
 * Real processes: a node started with autoJoin off stays out of the ring (it learns the ring
 * and coordinates requests, holding no data) until `ringkv admin join` adds it through another
 * node's admin API; then every node holds the 3-member ring and the new member serves data.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { killAll, runCli } from './cli-process.js';
import { LocalCluster } from './cluster-harness.js';

describe('cluster join through the admin API', { timeout: 90_000 }, () => {
  let c: LocalCluster;
  const clients: Redis[] = [];

  before(async () => {
    c = await LocalCluster.start({ nodes: 3, waitForRing: false, nodeArgs: (i) => (i === 3 ? ['--cluster-auto-join', 'false'] : []) });
    await c.waitForRing(['node-1', 'node-2'], 30_000, [1, 2]);
    for (const m of c.members) {
      const r = new Redis({ host: '127.0.0.1', port: m.respPort, lazyConnect: true, maxRetriesPerRequest: 0 });
      await r.connect();
      clients.push(r);
    }
  });

  after(async () => {
    for (const r of clients) r.disconnect();
    await c?.dispose();
    killAll();
  });

  it('join: a node with autoJoin off stays out of the ring until added, then holds the ring and the data', async () => {
    assert.equal(await clients[0]!.set('before-join', 'b'), 'OK');
    await c.waitForRing(['node-1', 'node-2'], 20_000, [3]);
    const before = (await c.stats(3)).joinAttempts;
    assert.equal(before, 0, 'it never asked to join');
    // Not an owner, but a coordinator like any node.
    assert.equal(await clients[2]!.get('before-join'), 'b');
    const r = await runCli(['admin', 'join', 'node-3', '--http-port', String(c.node(1).httpPort)], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /join node-3: done \(ring epoch \d+: node-1, node-2, node-3\)/);
    await c.waitForRing(['node-1', 'node-2', 'node-3']);
    assert.equal(await clients[2]!.get('before-join'), 'b');
    assert.equal(await clients[2]!.set('after-join', 'a'), 'OK');
    assert.equal(await clients[1]!.get('after-join'), 'a');
    const again = await runCli(['admin', 'join', 'node-3', '--http-port', String(c.node(2).httpPort)], { timeoutMs: 30_000 });
    assert.equal(again.code, 1, 'joining a member is refused');
    assert.match(again.stderr, /ERR_INVALID_ARGUMENT/);
  });
});

describe('concurrent auto-joins (5 real nodes started together)', { timeout: 150_000 }, () => {
  let c: LocalCluster | undefined;

  after(async () => {
    await c?.dispose();
    killAll();
  });

  it('join: nodes that ask to join at once all end up in the committed ring (a superseded pending join asks again)', async () => {
    // Four joiners race: proposals of equal epoch are ranked and all but one superseded; a node
    // that only saw itself in a superseded pending ring must not stop asking.
    c = await LocalCluster.start({ nodes: 5, engine: 'memory', waitForRing: false });
    const ring = await c.waitForRing(['node-1', 'node-2', 'node-3', 'node-4', 'node-5'], 120_000);
    assert.equal(ring.members.length, 5);
  });
});
