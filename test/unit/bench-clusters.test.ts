/**
 * The cluster scenarios' pieces that do not need ringkv: the 3-member etcd and the Redis Cluster
 * launchers (real processes on loopback: they form, serve the driver, and stop by PID), and the
 * rebalance scenario's ring arithmetic (copies moved by a ring change, from slot ranges).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import calculateSlot from 'cluster-key-slot';
import { etcdCluster, redisCluster, redisMasters } from '../../bench/lib/clusters.js';
import { runDriver } from '../../bench/lib/driver.js';
import { command, loaderKey } from '../../bench/lib/resp-client.js';
import { REDIS_NO_PERSISTENCE } from '../../bench/lib/systems.js';
import { ensurePrograms, hasCommand } from '../../bench/lib/tools.js';
import { keysPerSlot, movedCopies, replicasBySlot } from '../../bench/scenarios/rebalance.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const HOST = '127.0.0.1';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('rebalance arithmetic: a fourth replica set taking a quarter of the slots moves a quarter of the copies of a key set spread over them', () => {
  const before = replicasBySlot({ ranges: [{ first: 0, last: 16383, replicas: ['c', 'a', 'b'] }] });
  assert.deepEqual(before[0], ['a', 'b', 'c']);
  // After: in every quarter of the slots, d replaces one of a, b, c or none (slots 12288.. keep a, b, c).
  const after = replicasBySlot({ ranges: [
    { first: 0, last: 4095, replicas: ['d', 'b', 'c'] },
    { first: 4096, last: 8191, replicas: ['a', 'd', 'c'] },
    { first: 8192, last: 12287, replicas: ['a', 'b', 'd'] },
    { first: 12288, last: 16383, replicas: ['a', 'b', 'c'] },
  ] });
  const perSlot = new Array<number>(16384).fill(1);
  const [moved, total] = movedCopies(perSlot, before, after);
  assert.equal(total, 16384 * 3);
  assert.equal(moved, 3 * 4096);
  assert.equal(moved / total, 0.25);
  // Keys counted by slot with the same CRC16 rules as Redis.
  const counts = keysPerSlot(100);
  assert.equal(counts.reduce((a, b) => a + b, 0), 100);
  assert.equal(counts[calculateSlot(loaderKey(7))]! >= 1, true);
});

test('etcd launcher: three members form a cluster, the driver\'s puts are readable through another member, and stop ends every process', async () => {
  // The harness installs etcd when a scenario needs it; so does this test (apt-get, only if missing).
  if (!hasCommand('etcd')) ensurePrograms(['etcd'], () => {});
  assert.ok(hasCommand('etcd'), 'etcd is not installed and could not be (apt-get install etcd-server)');
  const workDir = mkdtempSync(join(tmpdir(), 'bench-etcd-test-'));
  const c = await etcdCluster({ id: 'etcd', label: 'etcd', members: 3 }).start({ workDir, repoRoot, startTimeoutMs: 30_000 });
  try {
    assert.equal(c.members.length, 3);
    assert.equal(c.kind, 'etcd');
    const r = await runDriver({ target: { kind: 'etcd', endpoints: c.endpoints() }, mode: { kind: 'closed', loops: 4 }, op: 'set', keyspace: 1, valueBytes: 5, connections: 3, warmupMs: 50, durationMs: 400 });
    assert.ok(r.ops > 0, 'some puts were acknowledged');
    assert.equal(r.errors, 0, r.firstError);
    const third = c.endpoints()[2];
    assert.ok(third);
    const res = await fetch(`http://${HOST}:${third.port}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(loaderKey(0)).toString('base64') }) });
    const body = await res.json() as { kvs?: Array<{ value: string }> };
    assert.equal(Buffer.from(body.kvs?.[0]?.value ?? '', 'base64').toString(), 'xxxxx');
    assert.ok(c.cpuSeconds() > 0);
  } finally {
    await c.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  for (const m of c.members) assert.equal(alive(m.proc.pid), false, `${m.name} still running`);
});

test('Redis Cluster launcher: 3 masters + 3 replicas cover every slot, a slot-routed driver gets no MOVED, and stop ends every process', async () => {
  const workDir = mkdtempSync(join(tmpdir(), 'bench-rc-test-'));
  const c = await redisCluster({ id: 'rc', label: 'rc', masters: 3, replicasPerMaster: 1, persistence: REDIS_NO_PERSISTENCE }).start({ workDir, repoRoot, startTimeoutMs: 30_000 });
  try {
    assert.equal(c.members.length, 6);
    const masters = await redisMasters(c);
    assert.equal(masters.length, 3);
    const r = await runDriver({ target: { kind: 'resp', endpoints: masters, routing: 'slots' }, mode: { kind: 'closed', loops: 6 }, op: 'set', keyspace: 1000, valueBytes: 10, connections: 6, warmupMs: 50, durationMs: 300 });
    assert.ok(r.ops > 50, `ops ${r.ops}`);
    assert.equal(r.errors, 0, r.firstError);
    let keys = 0;
    for (const m of masters) {
      const n = await command(HOST, m.port, ['DBSIZE']);
      assert.equal(n.kind, 'integer');
      if (n.kind === 'integer') {
        assert.ok(n.value > 0, 'every master got keys');
        keys += n.value;
      }
    }
    assert.ok(keys <= 1000);
  } finally {
    await c.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  for (const m of c.members) assert.equal(alive(m.proc.pid), false, `${m.name} still running`);
});
