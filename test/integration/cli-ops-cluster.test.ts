/**
 * The operator commands against a real 3-node cluster (replication factor 2): status, ring,
 * get/put/del (text and --json), repair (watching anti-entropy sessions complete), decommission
 * then join of a live node, and remove of a killed one, each checked through the cluster's own
 * HTTP state. Commands run in-process through runCli (same code as the binary); one spawned
 * `ringkv` checks the process-level contract: one error line, non-zero exit.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli as runCliInProcess } from '../../src/cli/main.js';
import { killAll, runCli as runCliProcess, tempDir } from './cli-process.js';
import { eventually, LocalCluster } from './cluster-harness.js';

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

let lastBytes: Buffer[] = [];

async function ringkv(args: readonly string[]): Promise<Out> {
  let stdout = '';
  let stderr = '';
  lastBytes = [];
  const code = await runCliInProcess(args, {
    stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: {}, stdoutBytes: (b) => { lastBytes.push(b); },
  });
  return { code, stdout, stderr };
}

describe('cli ops: real 3-node cluster', { timeout: 180_000 }, () => {
  let c: LocalCluster;
  let host = '';

  before(async () => {
    c = await LocalCluster.start({ nodes: 3, args: ['--cluster-replication-factor', '2', '--cluster-anti-entropy-interval-ms', '200'] });
    host = `127.0.0.1:${c.node(1).httpPort}`;
  });
  after(async () => {
    await c?.dispose();
    killAll();
  });

  it('cli: status lists every node up and normal with ownership summing to 100%, as text and as JSON', async () => {
    const text = await ringkv(['status', '--host', host]);
    assert.equal(text.code, 0, text.stderr);
    for (const id of ['node-1', 'node-2', 'node-3']) assert.match(text.stdout, new RegExp(`^UN\\s+${id}\\s+127\\.0\\.0\\.1:\\d+\\s+\\d+\\s+\\d+\\.\\d+%`, 'm'));
    const json = await ringkv(['status', '--host', host, '--json']);
    assert.equal(json.code, 0);
    const s = JSON.parse(json.stdout) as { mode: string; nodes: { id: string; up: boolean; state: string; owns_percent: number; hints_pending: number | null; keys: number | null }[] };
    assert.equal(s.mode, 'cluster');
    assert.deepEqual(s.nodes.map((n) => [n.id, n.up, n.state]), [['node-1', true, 'normal'], ['node-2', true, 'normal'], ['node-3', true, 'normal']]);
    assert.ok(Math.abs(s.nodes.reduce((a, n) => a + n.owns_percent, 0) - 100) < 0.1);
    assert.ok(s.nodes.every((n) => n.hints_pending === 0 && typeof n.keys === 'number'));
  });

  it('cli: ring prints the slot ranges, and the preference list of one key matches --json', async () => {
    const text = await ringkv(['ring', '--host', host]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^epoch \d+, replication factor 2, members node-1 node-2 node-3$/m);
    assert.match(text.stdout, /^0-\d+\s+node-\d node-\d$/m);
    const one = await ringkv(['ring', '--host', host, '--key', 'user:1', '--json']);
    const j = JSON.parse(one.stdout) as { slot: number; replicas: string[] };
    assert.equal(j.slot, 10778); // Redis: CLUSTER KEYSLOT user:1
    assert.equal(j.replicas.length, 2);
  });

  it('cli: put, get and del round-trip a value (binary through @file and --raw); a missing key and a bad host are one-line errors with exit 1', async () => {
    assert.deepEqual(await ringkv(['put', 'greeting', 'hello world', '--host', host, '--ttl-ms', '60000']), { code: 0, stdout: 'OK\n', stderr: '' });
    assert.deepEqual(await ringkv(['get', 'greeting', '--host', `127.0.0.1:${c.node(3).httpPort}`]), { code: 0, stdout: 'hello world\n', stderr: '' });
    const json = JSON.parse((await ringkv(['get', 'greeting', '--host', host, '--json', '--r', 'all'])).stdout) as { found: boolean; values: { text: string }[]; expires_at_ms: number };
    assert.equal(json.found, true);
    assert.equal(json.values[0]?.text, 'hello world');
    assert.ok(json.expires_at_ms > Date.now());
    assert.equal((await ringkv(['del', 'greeting', '--host', host])).code, 0);
    const missing = await ringkv(['get', 'greeting', '--host', host]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'ringkv get: ERR_NO_SUCH_KEY no such key "greeting"\n');
    const unreachable = await ringkv(['status', '--host', '127.0.0.1:1']);
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr.split('\n').length, 2, 'exactly one line');
    assert.match(unreachable.stderr, /^ringkv status: ERR_NO_SEEDS /);
    const bin = tempDir('ringkv-cli-bin-');
    try {
      const bytes = Buffer.from([0, 255, 254, 128, 10, 13, 97]);
      writeFileSync(join(bin.path, 'v'), bytes);
      assert.equal((await ringkv(['put', 'bin', `@${join(bin.path, 'v')}`, '--host', host])).code, 0);
      assert.equal((await ringkv(['get', 'bin', '--raw', '--host', host])).code, 0);
      assert.deepEqual(Buffer.concat(lastBytes), bytes);
    } finally {
      bin.remove();
    }
    const usage = await ringkv(['get', 'k', '--host', host, '--r', 'lots']);
    assert.equal(usage.code, 2);
    assert.equal(usage.stderr, 'ringkv get: --r must be one, two, quorum, all or 1..64\n');
  });

  it('cli: get shows siblings with their context, and put --context resolves them', async () => {
    await ringkv(['put', 'sib', 'start', '--host', host]);
    const ctx = (JSON.parse((await ringkv(['get', 'sib', '--host', host, '--json'])).stdout) as { context: string }).context;
    await ringkv(['put', 'sib', 'a', '--host', host, '--context', ctx]);
    await ringkv(['put', 'sib', 'b', '--host', `127.0.0.1:${c.node(2).httpPort}`, '--context', ctx]);
    const shown = await ringkv(['get', 'sib', '--host', host]);
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, /^sibling 1: [ab]\nsibling 2: [ab]\ncontext: ([A-Za-z0-9_-]+)\n/);
    const newCtx = /^context: (\S+)$/m.exec(shown.stdout)?.[1] ?? '';
    assert.equal((await ringkv(['put', 'sib', 'a+b', '--host', host, '--context', newCtx])).code, 0);
    assert.equal((await ringkv(['get', 'sib', '--host', host])).stdout, 'a+b\n');
  });

  it('cli: repair watches every member complete anti-entropy sessions', async () => {
    const r = await ringkv(['repair', '--host', host, '--json', '--wait-ms', '60000']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { ok: boolean; target_sessions: number; nodes: { id: string; sessions_synced: number }[] };
    assert.equal(j.ok, true);
    assert.equal(j.target_sessions, 2);
    assert.deepEqual(j.nodes.map((n) => n.id).sort(), ['node-1', 'node-2', 'node-3']);
    assert.ok(j.nodes.every((n) => n.sessions_synced >= 2));
    const text = await ringkv(['repair', '--host', host, '--sessions', '1']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /\] 100%/);
    assert.match(text.stdout, /repair: every member completed 1 anti-entropy session\n$/);
  });

  it('cli: decommission a live node, join it back, then remove it once killed; data stays readable', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await ringkv(['put', `keep:${i}`, `v${i}`, '--host', host])).code, 0);
    const dec = await ringkv(['decommission', 'node-3', '--host', host, '--poll-ms', '100']);
    assert.equal(dec.code, 0, dec.stderr);
    assert.match(dec.stdout, /decommission node-3: done/);
    await c.waitForRing(['node-1', 'node-2']);
    const st = JSON.parse((await ringkv(['status', '--host', host, '--json'])).stdout) as { nodes: { id: string; state: string }[] };
    assert.equal(st.nodes.find((n) => n.id === 'node-3')?.state, 'not_in_ring');
    // The decommissioned node keeps running but is not ready: it holds no data.
    const ready3 = await eventually('node-3 not ready', async () => {
      const r = await fetch(`http://127.0.0.1:${c.node(3).httpPort}/readyz`);
      return r.status === 503 ? await r.json() : undefined;
    }, 10_000, 100);
    assert.deepEqual(ready3, { ready: false, reason: 'not_in_ring' });

    const join = await ringkv(['join', 'node-3', '--host', host, '--json', '--poll-ms', '100']);
    assert.equal(join.code, 0, join.stderr);
    const jj = JSON.parse(join.stdout) as { ok: boolean; action: string; topology: { phase: string } };
    assert.deepEqual([jj.ok, jj.action], [true, 'join']);
    await c.waitForRing(['node-1', 'node-2', 'node-3']);
    assert.equal((await fetch(`http://127.0.0.1:${c.node(3).httpPort}/readyz`)).status, 200);

    await c.kill(3);
    await eventually('node-3 seen down', async () => {
      const out = await ringkv(['status', '--host', host, '--json']);
      if (out.stdout === '') throw new Error(out.stderr);
      const s = JSON.parse(out.stdout) as { nodes: { id: string; up: boolean }[] };
      return s.nodes.find((n) => n.id === 'node-3')?.up === false ? true : undefined;
    }, 20_000, 200);
    const down = await ringkv(['status', '--host', host]);
    assert.equal(down.code, 1, 'status exits 1 while a ring member is down');
    assert.match(down.stdout, /^DN\s+node-3/m);
    const rm = await ringkv(['remove', 'node-3', '--host', host, '--poll-ms', '100']);
    assert.equal(rm.code, 0, rm.stderr);
    await eventually('ring without node-3', async () => {
      const ring = JSON.parse((await ringkv(['ring', '--host', host, '--json'])).stdout) as { current: { members: { id: string }[] } };
      return ring.current.members.map((m) => m.id).join(',') === 'node-1,node-2' ? true : undefined;
    }, 20_000, 200);
    for (let i = 0; i < 30; i++) assert.equal((await ringkv(['get', `keep:${i}`, '--host', host])).stdout, `v${i}\n`);
  });

  it('cli: a refused ring change is one line with the registry code and exit 1 (spawned process)', async () => {
    const r = await runCliProcess(['remove', 'node-9', '--host', host]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ringkv remove: ERR_[A-Z_]+ .+\n$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
