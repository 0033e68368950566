/**
 * Real processes: `ringkv cluster --nodes 3` starts three nodes that form one ring, prints their
 * endpoints, and on SIGINT stops every child (by PID) and exits 0; a node that dies at start
 * makes it stop the others and exit non-zero.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { REPO_ROOT, killAll, runCli, tempDir } from './cli-process.js';
import { eventually, httpJson, type RingBody } from './cluster-harness.js';

const CLI = join(REPO_ROOT, 'src', 'cli', 'main.ts');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ringkv cluster', { timeout: 90_000 }, () => {
  const dirs: { remove(): void }[] = [];
  const pids: number[] = [];

  after(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of dirs) d.remove();
    killAll();
  });

  it('cluster command: 3 nodes start, form one ring, and all stop cleanly on SIGINT', async () => {
    const dir = tempDir('ringkv-cli-cluster-');
    dirs.push(dir);
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'cluster', '--nodes', '3', '--engine', 'memory', '--base-port', '0',
      '--data-dir', join(dir.path, 'data')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.ok(child.pid !== undefined);
    pids.push(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));

    await eventually('the cluster to print its endpoints', async () => (/Ctrl-C stops every node/.test(out) ? true : undefined), 60_000, 100);
    const nodes = [...out.matchAll(/(node-\d)\s+pid (\d+)\s+resp 127\.0\.0\.1:(\d+)\s+http 127\.0\.0\.1:(\d+)\s+peer 127\.0\.0\.1:(\d+)/g)]
      .map((m) => ({ id: m[1]!, pid: Number(m[2]), resp: Number(m[3]), http: Number(m[4]) }));
    assert.equal(nodes.length, 3, out);
    pids.push(...nodes.map((n) => n.pid));

    const ring = await eventually('a 3-member ring on node-3', async () => {
      const r = (await httpJson(nodes[2]!.http, '/cluster/ring')).body as RingBody;
      return r.members.length === 3 ? r : undefined;
    }, 15_000);
    assert.deepEqual(ring.members.map((m) => m.id).sort(), ['node-1', 'node-2', 'node-3']);
    const r = new Redis({ host: '127.0.0.1', port: nodes[0]!.resp, lazyConnect: true, maxRetriesPerRequest: 0 });
    await r.connect();
    assert.equal(await r.set('cli-key', 'v'), 'OK');
    r.disconnect();
    const r3 = new Redis({ host: '127.0.0.1', port: nodes[2]!.resp, lazyConnect: true, maxRetriesPerRequest: 0 });
    await r3.connect();
    assert.equal(await r3.get('cli-key'), 'v');
    r3.disconnect();

    process.kill(child.pid, 'SIGINT');
    assert.equal(await exited, 0, err);
    assert.match(out, /every node stopped/);
    for (const n of nodes) assert.equal(alive(n.pid), false, `${n.id} (pid ${n.pid}) exited`);
  });

  it('cluster command: a node that dies at start stops the others and exits non-zero', async () => {
    const dir = tempDir('ringkv-cli-cluster-');
    dirs.push(dir);
    // Every child gets the bad flag; node-1 refuses its configuration and exits.
    const r = await runCli(['cluster', '--nodes', '2', '--engine', 'memory', '--base-port', '0', '--data-dir', join(dir.path, 'data'),
      '--cluster-replication-factor', '0'], { timeoutMs: 40_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /node-1 exited with code 2 during start-up/);
  });
});
