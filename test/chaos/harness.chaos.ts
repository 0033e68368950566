/**
 * The fault harness itself, with real processes in real network namespaces (root only; run by
 * `npm run test:chaos`, not by `npm test`). Each fault is shown to have its effect on the
 * wire or the process (a partition blocks exactly the pairs it should, a paused node stops
 * answering, a skewed node reports a shifted clock), the checkers are shown to catch a real
 * loss (Redis with asynchronous replication and no persistence, primary killed), and a 60 s
 * ringkv schedule in siblings mode (seed 42, every fault kind) must lose no acknowledged write.
 *
 * Every topology is torn down in an after hook, and the test checks it left nothing behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseOptions, runOnce } from './cli.js';
import { applyGrudge, healFirewall, partitionGrudge, setupFirewall } from './nemesis.js';
import { createTopology, destroyTopology, faketimeLibrary, newTag, pidsIn, preflight, sh, staleNamespaces, type Topology } from './netns.js';
import { NodeSet } from './nodes.js';
import { Prng } from '../sim/prng.js';

const why = preflight();

/** redis-cli inside `ns` against host:6379; resolves with stdout, or null when it did not answer in time. */
function cliIn(ns: string, host: string, args: readonly string[], timeoutS = 1.5): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, 'timeout', String(timeoutS), 'redis-cli', '-h', host, '-p', '6379', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code) => resolve(code === 0 ? out.trim() : null));
  });
}

/** PONG within a few attempts (a single attempt can fail transiently on a loaded machine). */
async function pings(ns: string, host: string, attempts = 3): Promise<boolean> {
  for (let i = 0; i < attempts; i++) if ((await cliIn(ns, host, ['ping'])) === 'PONG') return true;
  return false;
}

async function waitFor(pred: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('fault harness in network namespaces', () => {
  it('preflight: this machine can run the harness (root, ip, nft, namespaces)', () => {
    assert.equal(why, null, `preflight: ${why ?? ''}`);
  });

  describe('topology, faults and processes (redis-server in every host)', () => {
    let topo: Topology;
    let nodes: NodeSet;
    let dir: string;

    before(async () => {
      assert.equal(why, null);
      dir = mkdtempSync(join(tmpdir(), 'ringkv-chaos-'));
      topo = createTopology({ tag: newTag(), hostCount: 5, subnet: 91 });
      setupFirewall(topo);
      nodes = new NodeSet({
        hosts: topo.hosts, logDir: dir, faketimeLib: faketimeLibrary(), onCrash: () => {},
        command: (h) => ({ cmd: 'redis-server', args: ['--port', '6379', '--bind', h.addr, '--save', '', '--protected-mode', 'no'], env: { PATH: process.env.PATH ?? '' }, cwd: dir }),
      });
      for (const h of topo.hosts) nodes.start(h.index);
      const up = await waitFor(async () => (await Promise.all(topo.hosts.map((h) => cliIn(topo.bridgeNs, h.addr, ['ping'])))).every((r) => r === 'PONG'), 10_000);
      assert.ok(up, 'every redis-server answers');
    });

    after(async () => {
      await nodes?.destroy();
      if (topo !== undefined) destroyTopology(topo);
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('topology: every host reaches every other host, and the bridge namespace reaches all of them', async () => {
      const checks: Promise<boolean>[] = [];
      for (const a of topo.hosts) for (const b of topo.hosts) if (a !== b) checks.push(pings(a.ns, b.addr));
      assert.deepEqual(new Set(await Promise.all(checks)), new Set([true]));
    });

    it('topology: nothing was created in the root namespace (no 10.77 address, no veth of ours)', () => {
      const addrs = sh('ip', ['-o', 'addr']);
      assert.ok(!addrs.includes('10.77.'), 'the test subnet exists only inside the namespaces');
    });

    for (const kind of ['halves', 'isolated', 'bridge', 'ring'] as const) {
      it(`partition ${kind}: exactly the pairs in the grudge are cut, both ways, and the heal restores every pair`, async () => {
        const { grudge } = partitionGrudge(kind, topo.hosts.map((h) => h.index), new Prng(7));
        applyGrudge(topo, grudge);
        try {
          const pairs: { a: number; b: number; cut: boolean }[] = [];
          for (const a of topo.hosts) for (const b of topo.hosts) {
            if (a === b) continue;
            pairs.push({ a: a.index, b: b.index, cut: (grudge.get(a.index)?.has(b.index) ?? false) || (grudge.get(b.index)?.has(a.index) ?? false) });
          }
          assert.ok(pairs.some((p) => p.cut) && pairs.some((p) => !p.cut), 'a partition cuts some pairs and keeps others');
          // A cut pair gets 3 chances to answer and must never; an open pair must answer within 3.
          const got = await Promise.all(pairs.map((p) => pings(topo.hosts[p.a - 1]!.ns, topo.hosts[p.b - 1]!.addr)));
          pairs.forEach((p, i) => assert.equal(got[i], !p.cut, `host ${p.a} -> host ${p.b} should be ${p.cut ? 'cut' : 'open'}`));
          // Clients in the bridge namespace still reach every host.
          assert.deepEqual(new Set(await Promise.all(topo.hosts.map((h) => pings(topo.bridgeNs, h.addr)))), new Set([true]));
        } finally {
          healFirewall(topo);
        }
        // A heal takes effect for new connections at once, but a probe started while the rules
        // were still in place can time out: each pair gets a few seconds to answer again.
        const healed = await Promise.all(topo.hosts.flatMap((a) => topo.hosts.filter((b) => b !== a).map((b) => waitFor(() => pings(a.ns, b.addr), 10_000))));
        assert.deepEqual(new Set(healed), new Set([true]));
      });
    }

    it('partition ring: every host reaches exactly its two ring neighbours (a majority of 5 with itself)', () => {
      const { grudge } = partitionGrudge('ring', [1, 2, 3, 4, 5], new Prng(3));
      for (const [, blocked] of grudge) assert.equal(blocked.size, 2);
    });

    it('loss: a numgen drop rule at 99% cuts node-to-node traffic and the heal removes it', async () => {
      const h1 = topo.hosts[0]!, h2 = topo.hosts[1]!;
      const net = topo.hosts.map((h) => h.addr).join(', ');
      sh('ip', ['netns', 'exec', h1.ns, 'nft', '-f', '-'], { input: `add rule inet rkvchaos input ip saddr { ${net} } numgen random mod 100 < 99 drop\n` });
      try {
        assert.match(sh('ip', ['netns', 'exec', h1.ns, 'nft', 'list', 'table', 'inet', 'rkvchaos']), /numgen random mod 100 < 99/);
        assert.equal(await pings(h2.ns, h1.addr), false);
      } finally {
        healFirewall(topo);
      }
      assert.equal(await pings(h2.ns, h1.addr), true);
    });

    it('pause: a SIGSTOPped node does not answer, and answers again after SIGCONT', async () => {
      const h = topo.hosts[2]!;
      nodes.pause(h.index);
      try {
        assert.equal(nodes.state(h.index), 'paused');
        assert.equal(await cliIn(topo.bridgeNs, h.addr, ['ping']), null);
      } finally {
        nodes.resume(h.index);
      }
      assert.equal(await cliIn(topo.bridgeNs, h.addr, ['ping'], 2), 'PONG');
    });

    it('kill: kill -9 ends the process (its PID leaves the namespace) and a restart serves again', async () => {
      const h = topo.hosts[3]!;
      const pid = nodes.pid(h.index);
      assert.ok(pid !== null && pidsIn(h.ns).includes(pid));
      await nodes.kill(h.index);
      assert.equal(nodes.state(h.index), 'killed');
      assert.ok(!pidsIn(h.ns).includes(pid));
      nodes.start(h.index);
      assert.ok(await waitFor(async () => (await cliIn(topo.bridgeNs, h.addr, ['ping'])) === 'PONG', 5000));
    });

    it('clock skew: a node restarted under faketime -3600 s reads a clock an hour behind; the heal puts it back', async () => {
      assert.ok(faketimeLibrary() !== null, 'libfaketime installed (apt-get install faketime)');
      // redis-server's allocator trips libfaketime's recursion guard, so the clock is read from
      // a tiny Node server (the same runtime ringkv nodes use) answering `+<Date.now()>`.
      const h = topo.hosts[4]!;
      const timeServer = `require('net').createServer((s) => s.on('data', () => s.write('+' + Date.now() + '\\r\\n'))).listen(6379, '${h.addr}')`;
      const clocks = new NodeSet({
        hosts: [h], logDir: dir, faketimeLib: faketimeLibrary(), onCrash: () => {},
        command: () => ({ cmd: process.execPath, args: ['-e', timeServer], env: { PATH: process.env.PATH ?? '' }, cwd: dir }),
      });
      await nodes.kill(h.index);
      try {
        const offsetS = async () => {
          const r = await cliIn(topo.bridgeNs, h.addr, ['ping'], 2);
          return r === null ? null : (Number(r) - Date.now()) / 1000;
        };
        clocks.start(h.index, -3600);
        assert.ok(await waitFor(async () => (await offsetS()) !== null, 5000), 'time server up');
        const skewed = await offsetS();
        assert.ok(skewed !== null && Math.abs(skewed + 3600) < 30, `offset ${String(skewed)} s`);
        assert.equal(await clocks.heal(h.index), true);
        assert.ok(await waitFor(async () => { const o = await offsetS(); return o !== null && Math.abs(o) < 30; }, 5000), 'back on the true clock');
      } finally {
        await clocks.destroy();
        nodes.start(h.index);
      }
    });
  });

  it('checkers catch a real loss: Redis without persistence whose primary is killed loses acknowledged writes (control run, seed 6)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-chaos-control-'));
    try {
      // Seed 6 kills host 1 (the primary) about 6 s in and restarts it about 11 s later.
      const o = parseOptions(['--system', 'redis', '--time', '20', '--seed', '6', '--clients', '4', '--faults', 'kill', '--subnet', '92', '--results', dir, '--converge-timeout-s', '20']);
      const r = await runOnce(o, o.seed);
      assert.ok(r.summary !== null, `run finished (exit ${r.code})`);
      assert.equal(r.code, 1);
      assert.equal(r.summary.pass, false);
      assert.ok(r.summary.set.lost > 0, 'acknowledged writes were lost and the set checker saw it');
      assert.equal(r.summary.nemesis.byFault.kill, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ringkv siblings mode, sloppy quorum, R = W = QUORUM: a 60 s fault schedule (seed 42) loses no acknowledged write and every replica converges', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-chaos-ci-'));
    try {
      const o = parseOptions(['--time', '60', '--seed', '42', '--subnet', '93', '--results', dir]);
      const r = await runOnce(o, o.seed);
      assert.ok(r.summary !== null, `run finished (exit ${r.code}); see ${r.runDir}`);
      const s = r.summary;
      assert.ok(s.nemesis.faultEvents >= 3, `faults injected: ${s.nemesis.faultEvents}`);
      assert.ok(s.set.acknowledged > 0 && s.sharedSet.acknowledged > 0, 'the workload wrote through the faults');
      assert.equal(s.set.lost, 0, s.set.lostExamples.join('\n'));
      assert.equal(s.sharedSet.lost, 0, s.sharedSet.lostExamples.join('\n'));
      assert.equal(s.register.phantomReads, 0, s.register.phantomExamples.join('\n'));
      assert.deepEqual(s.crashes, []);
      assert.equal(s.convergence.convergedKeys, s.convergence.keys);
      assert.equal(s.pass, true, s.reasons.join('; '));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  after(() => {
    // Nothing of ours is left behind by the tests above (their runs have all ended).
    const mine = staleNamespaces().filter((ns) => ns.includes(`-${process.pid}r`));
    assert.deepEqual(mine, []);
  });
});
