/**
 * Real processes on rocksdb: a node restarted (gracefully, then after SIGKILL) comes back with a
 * higher incarnation each time and with its data (it alone answers reads at ONE once the other
 * nodes are stopped), and a data directory is refused to a node with another id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { killAll, runCli } from './cli-process.js';
import { LocalCluster, eventually } from './cluster-harness.js';

async function client(port: number): Promise<Redis> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  await r.connect();
  return r;
}

describe('cluster restart (rocksdb)', { timeout: 120_000 }, () => {
  let c: LocalCluster;
  const KEYS = 50;

  before(async () => {
    c = await LocalCluster.start({ nodes: 3, engine: 'rocksdb' });
    const r = await client(c.node(1).respPort);
    try {
      // ALL: every replica, node 2 included, has stored every key before the restarts.
      assert.equal(await r.call('CONSISTENCY', 'WRITE', 'ALL'), 'OK');
      for (let k = 0; k < KEYS; k++) assert.equal(await r.set(`r:${k}`, `value-${k}`), 'OK');
    } finally {
      r.disconnect();
    }
  });

  after(async () => {
    await c?.dispose();
    killAll();
  });

  it('restart: the incarnation rises across a graceful restart and across a SIGKILL', async () => {
    const first = (await c.stats(2)).incarnation ?? 0;
    assert.ok(first >= 1);
    assert.equal((await c.stop(2)).code, 0);
    await c.restart(2);
    const second = (await c.stats(2)).incarnation ?? 0;
    assert.ok(second > first, `incarnation ${second} > ${first} after a graceful restart`);
    await c.kill(2);
    await c.restart(2);
    const third = (await c.stats(2)).incarnation ?? 0;
    assert.ok(third > second, `incarnation ${third} > ${second} after SIGKILL`);
    // The restarted node resumes with the stored ring (no join, same epoch as the others).
    const [r1, r2] = await Promise.all([c.ring(1), c.ring(2)]);
    assert.equal(r2.epoch, r1.epoch);
    assert.deepEqual(r2.members.map((m) => m.id).sort(), ['node-1', 'node-2', 'node-3']);
  });

  it('restart: a restarted node serves its own data alone at consistency ONE', async () => {
    await c.stop(1);
    await c.stop(3);
    const r = await client(c.node(2).respPort);
    try {
      assert.equal(await r.call('CONSISTENCY', 'READ', 'ONE'), 'OK');
      await eventually('node 2 to answer reads alone', async () => ((await r.get('r:0')) === 'value-0' ? true : undefined), 10_000);
      for (let k = 0; k < KEYS; k++) assert.equal(await r.get(`r:${k}`), `value-${k}`);
    } finally {
      r.disconnect();
    }
  });

  it('identity: a data directory is refused to a node with another id, with a one-line error', async () => {
    await c.stop(2);
    const m = c.node(2);
    const r = await runCli(['start', '--host', '127.0.0.1', '--cluster-node-id', 'intruder', '--engine', 'rocksdb', '--data-dir', m.dataDir,
      '--resp-port', '0', '--http-port', '0', '--peer-port', '0'], { timeoutMs: 30_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ringkv: .*belongs to node "node-2", not "intruder"\n$/);
  });
});
