/**
 * Real processes: a 3-node cluster forms from seeds (node 1 alone, the others seeded with it),
 * serves writes through any node that every other node reads back at QUORUM, keeps every peer
 * message well-formed (no drops by the input guards), keeps serving quorum operations while
 * one node is paused (SIGSTOP), shrinks with `ringkv admin decommission` (progress printed until
 * done) and drops a dead node with `ringkv admin remove`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { killAll, runCli } from './cli-process.js';
import { LocalCluster } from './cluster-harness.js';

describe('cluster formation (3 real nodes)', { timeout: 180_000 }, () => {
  let c: LocalCluster;
  const clients: Redis[] = [];

  before(async () => {
    c = await LocalCluster.start({ nodes: 3 });
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

  it('formation: every node holds the same 3-member ring with every slot assigned N times', async () => {
    const rings = await Promise.all([1, 2, 3].map((i) => c.ring(i)));
    for (const r of rings) {
      assert.deepEqual(r.members.map((m) => m.id).sort(), ['node-1', 'node-2', 'node-3']);
      assert.equal(r.epoch, rings[0]?.epoch);
      // N = 3 over 3 members: every member replicates every slot.
      for (const m of r.members) assert.equal(m.replicas, 16384);
    }
    const members = (await c.http(2, '/cluster/members')).body as { members: { id: string; address?: { peerPort: number; respPort: number } }[] };
    const byId = new Map(members.members.map((m) => [m.id, m]));
    for (const m of c.members) {
      assert.equal(byId.get(m.id)?.address?.peerPort, m.peerPort, `node-2 knows ${m.id}'s peer address`);
      assert.equal(byId.get(m.id)?.address?.respPort, m.respPort, `node-2 knows ${m.id}'s RESP address`);
    }
  });

  it('quorum: a write through any node is read back through every other node at QUORUM', async () => {
    for (const [w, writer] of clients.entries()) {
      for (let k = 0; k < 20; k++) assert.equal(await writer.set(`k:${w}:${k}`, `v-${w}-${k}`), 'OK');
    }
    for (const [r, reader] of clients.entries()) {
      assert.deepEqual(await reader.call('CONSISTENCY', 'READ', 'QUORUM', 'WRITE', 'QUORUM'), 'OK');
      for (let w = 0; w < clients.length; w++) {
        if (w === r) continue;
        for (let k = 0; k < 20; k++) assert.equal(await reader.get(`k:${w}:${k}`), `v-${w}-${k}`, `node ${r + 1} reads k:${w}:${k}`);
      }
    }
    // A delete through one node is seen by the others.
    assert.equal(await clients[0]!.del('k:1:0'), 1);
    assert.equal(await clients[2]!.get('k:1:0'), null);
  });

  it('guards: a healthy cluster drops no peer message as malformed', async () => {
    for (const i of [1, 2, 3]) {
      const s = await c.stats(i);
      assert.equal(s.peerMessagesInvalid, 0, `node ${i} dropped no message`);
      assert.equal(s.peerMessagesFailed, 0, `node ${i}'s core failed on no message`);
      assert.ok((s.peer_messagesReceived ?? 0) > 0, `node ${i} received peer traffic`);
    }
  });

  it('pause: quorum writes and reads go on while one node is stopped (SIGSTOP), and it serves again after SIGCONT', async () => {
    c.pause(3);
    try {
      for (let k = 0; k < 10; k++) assert.equal(await clients[0]!.set(`p:${k}`, `pv-${k}`), 'OK');
      for (let k = 0; k < 10; k++) assert.equal(await clients[1]!.get(`p:${k}`), `pv-${k}`);
    } finally {
      c.resume(3);
    }
    assert.equal(await clients[2]!.get('p:9'), 'pv-9');
  });

  it('admin: decommission through the CLI prints progress and leaves a 2-member ring everywhere', async () => {
    const r = await runCli(['admin', 'decommission', 'node-3', '--host', '127.0.0.1', '--http-port', String(c.node(1).httpPort)], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /^\w+\s+slots \d+\/\d+\s+keys \d+/m, r.stdout);
    assert.match(r.stdout, /decommission node-3: done/, r.stdout);
    await c.waitForRing(['node-1', 'node-2']);
    // Data written before is still served by the remaining members.
    assert.equal(await clients[1]!.get('k:0:5'), 'v-0-5');
    const bad = await runCli(['admin', 'remove', 'no-such-node', '--http-port', String(c.node(1).httpPort)], { timeoutMs: 30_000 });
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /ERR_UNKNOWN_NODE/, bad.stderr);
  });

  it('admin: a dead node is removed through the CLI and the survivor serves alone', async () => {
    clients[1]!.disconnect();
    clients[2]!.disconnect();
    await c.stop(3); // decommissioned above; it holds nothing
    await c.kill(2);
    const r = await runCli(['admin', 'remove', 'node-2', '--http-port', String(c.node(1).httpPort)], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /remove node-2: done \(ring epoch \d+: node-1\)/);
    await c.waitForRing(['node-1']);
    assert.equal(await clients[0]!.set('after-remove', 'x'), 'OK');
    assert.equal(await clients[0]!.get('after-remove'), 'x');
    assert.equal(await clients[0]!.get('k:2:7'), 'v-2-7', 'data written before the removal is still served');
  });
});
