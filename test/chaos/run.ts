/**
 * One fault run, executed INSIDE the bridge namespace (cli.ts starts it with `ip netns exec`),
 * so its clients reach the hosts over the bridge and nothing it sends can leave the namespaces.
 * From there it starts the nodes (`ip netns exec <host>`), runs clients and the nemesis for the
 * configured time, heals everything, measures convergence, reads the final state, runs the
 * checkers and writes history.jsonl, summary.json and summary.md into the run directory.
 *
 * Invariants: every phase has a deadline; nodes are killed by PID in a finally (and on
 * SIGINT/SIGTERM); the verdict is decided only by the checkers over the recorded history.
 *
 * Usage (normally through cli.ts): node --import tsx test/chaos/run.ts '<RunConfig JSON>'
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { checkConvergence, checkRegister, checkSet, countOps, summarizeNemesis, type ConvergenceResult, type NemesisSummary, type OpCounts, type RegisterResult, type SetResult } from './checkers.js';
import { ChaosClient, connectTo } from './clients.js';
import { HistoryRecorder, type HistoryEntry } from './history.js';
import { Nemesis, setupFirewall, healFirewall, type FaultKind } from './nemesis.js';
import { faketimeLibrary, type Topology } from './netns.js';
import { NodeSet } from './nodes.js';
import { ringkvSystem } from './ringkv-system.js';
import { redisSystem, type ChaosSystem } from './systems.js';

export interface RunConfig {
  readonly system: 'ringkv' | 'redis';
  readonly mode: 'siblings' | 'lww';
  readonly strict: boolean;
  readonly seed: number;
  readonly timeS: number;
  readonly clients: number;
  readonly faults: readonly FaultKind[];
  readonly runDir: string;
  readonly repoRoot: string;
  readonly topo: Topology;
  readonly opTimeoutMs: number;
  readonly convergeTimeoutS: number;
  /** Passive phase: no repair for this long (and hints drained) = quiet. */
  readonly passiveQuietS: number;
  readonly opsPerClientMax: number;
  /** Fail the run on read-your-writes violations (default: report only). */
  readonly failOnRyw: boolean;
}

export interface RunSummary {
  readonly config: Omit<RunConfig, 'topo' | 'repoRoot'> & { hosts: number; systemDescription: string };
  readonly wallS: number;
  readonly workloadS: number;
  readonly ops: OpCounts;
  readonly nemesis: NemesisSummary;
  readonly crashes: string[];
  /** Adds under their own key (s:...). */
  readonly set: SetResult;
  /** Read-modify-write adds to shared keys (ss:...): lossless with siblings, lossy under LWW. */
  readonly sharedSet: SetResult;
  readonly register: RegisterResult;
  readonly convergence: Omit<ConvergenceResult, 'perKeyMs'>;
  readonly pass: boolean;
  readonly reasons: string[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function makeSystem(cfg: RunConfig, dataDir: string): ChaosSystem {
  const o = { topo: cfg.topo, dataDir, repoRoot: cfg.repoRoot };
  switch (cfg.system) {
    case 'redis': return redisSystem(o);
    case 'ringkv': return ringkvSystem({ ...o, mode: cfg.mode, strict: cfg.strict });
    default: {
      const never: never = cfg.system;
      throw new RangeError(`unknown system ${String(never)}`);
    }
  }
}

function keysOf(entries: readonly HistoryEntry[], f: 'add' | 'write' | 'both'): string[] {
  const keys = new Set<string>();
  for (const e of entries) {
    if (e.type !== 'invoke') continue;
    if (e.f === 'add' && f !== 'write') keys.add(e.key);
    if (e.f === 'write' && f !== 'add') keys.add(e.key);
  }
  return [...keys];
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

function sameRecords(vals: readonly (string[] | null)[]): boolean {
  if (vals.length === 0 || vals.some((v) => v === null)) return false;
  const first = JSON.stringify(vals[0]);
  return vals.every((v) => JSON.stringify(v) === first);
}

export async function runChaos(cfg: RunConfig, abort: AbortSignal): Promise<RunSummary> {
  const started = Date.now();
  mkdirSync(cfg.runDir, { recursive: true });
  const dataDir = join(cfg.runDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const history = new HistoryRecorder(join(cfg.runDir, 'history.jsonl'));
  const system = makeSystem(cfg, dataDir);
  const crashes: string[] = [];
  const nodes = new NodeSet({
    hosts: cfg.topo.hosts,
    logDir: cfg.runDir,
    command: (h) => system.command(h),
    faketimeLib: faketimeLibrary(),
    onCrash: (h, detail) => {
      crashes.push(`host ${h.index}: ${detail} at ${history.now()} ms`);
      history.nemesis('note', 'crash', `host ${h.index} exited by itself: ${detail}`);
    },
  });
  const connect = (h: (typeof cfg.topo.hosts)[number]) => {
    const c = connectTo(h, system.respPort, cfg.opTimeoutMs);
    c.on('error', () => {});
    return c;
  };
  const nemesis = new Nemesis({
    topo: cfg.topo, nodes, history, seed: cfg.seed, kinds: cfg.faults,
    quietMs: [2000, 6000], holdMs: [4000, 12_000], skewMaxS: 120,
    awaitServing: async (index) => {
      const host = cfg.topo.hosts.find((h) => h.index === index);
      if (host === undefined) return false;
      const end = Date.now() + 60_000;
      while (Date.now() < end && !abort.aborted) {
        const c = connect(host);
        try {
          await c.connect();
          if ((await c.ping()) === 'PONG') return true;
        } catch {
          // still starting
        } finally {
          c.disconnect();
        }
        await sleep(250);
      }
      return false;
    },
  });
  let workloadS = 0;
  const probeConns = new Map<number, Redis>();
  const finalConns = new Map<number, Redis>();
  try {
    setupFirewall(cfg.topo);
    const formDeadline = Date.now() + 180_000;
    const awaitMembers = system.awaitMembers;
    for (let i = 0; i < cfg.topo.hosts.length; i++) {
      const h = cfg.topo.hosts[i] as (typeof cfg.topo.hosts)[number];
      nodes.start(h.index);
      if (awaitMembers !== undefined) await awaitMembers(cfg.topo.hosts.slice(0, i + 1), formDeadline);
    }
    await system.awaitReady(connect, formDeadline);
    if (abort.aborted) throw new Error('aborted');
    history.phase('start', { detail: system.description });

    // Workload and nemesis, both bounded by the deadline.
    const workloadStart = Date.now();
    const deadline = workloadStart + cfg.timeS * 1000;
    const shouldStop = () => abort.aborted || Date.now() >= deadline;
    const clients = Array.from({ length: cfg.clients }, (_, i) => new ChaosClient(i + 1, {
      hosts: cfg.topo.hosts, system, history, seed: (cfg.seed * 1000 + i + 1) >>> 0, opTimeoutMs: cfg.opTimeoutMs,
      thinkMs: [5, 40], addFraction: 0.5, registerKeys: 8, sharedFraction: 0.3, sharedKeyPeriodMs: 20_000, sharedKeys: 2,
    }));
    const nemesisDone = nemesis.run();
    const stopper = (async () => {
      while (!shouldStop()) await sleep(Math.min(250, Math.max(1, deadline - Date.now())));
      nemesis.stop();
    })();
    await Promise.all(clients.map((c) => c.run(shouldStop, cfg.opsPerClientMax)));
    await stopper;
    await nemesisDone;
    workloadS = (Date.now() - workloadStart) / 1000;
    history.phase('workload-end');

    // Heal everything, wait for every node, then measure convergence.
    const restarted = await nemesis.healAll();
    if (restarted.length > 0) history.nemesis('note', 'heal', `restarted hosts [${restarted.join(',')}]`);
    await system.awaitReady(connect, Date.now() + 180_000);
    history.phase('healed');

    // Passive convergence: watch hint queues and repair counters without reading any key (a
    // read would repair what it finds), until hints are drained and no repair happened for a
    // quiet window longer than an anti-entropy period.
    const counters = system.repairCounters;
    if (counters !== undefined) {
      const passiveDeadline = Date.now() + cfg.convergeTimeoutS * 1000;
      let drained = false;
      let lastActivity: number | null = null;
      let lastChangeAt = Date.now();
      for (;;) {
        const snap = await Promise.all(cfg.topo.hosts.map((h) => counters(h)));
        const complete = snap.every((x) => x !== null);
        const held = snap.reduce((a, x) => a + (x?.held ?? 0), 0);
        const activity = snap.reduce((a, x) => a + (x?.repairActivity ?? 0), 0);
        if (complete && lastActivity !== null && activity !== lastActivity) {
          lastChangeAt = Date.now();
          history.phase('repair-seen', { detail: String(activity - lastActivity) });
        }
        if (complete) lastActivity = activity;
        if (complete && !drained && held === 0) {
          drained = true;
          history.phase('hints-drained');
        }
        if (drained && Date.now() - lastChangeAt >= cfg.passiveQuietS * 1000) {
          history.phase('passive-quiet', { detail: String(cfg.passiveQuietS) });
          break;
        }
        if (Date.now() > passiveDeadline || abort.aborted) {
          history.phase('passive-timeout', { detail: `hints held ${held}` });
          break;
        }
        await sleep(500);
      }
    }

    for (const h of cfg.topo.hosts) {
      const c = connect(h);
      try {
        await c.connect();
        await system.prepareProbe(c);
      } catch {
        // replicaValues treats an unusable connection as an unanswered replica and retries
      }
      probeConns.set(h.index, c);
    }
    const keys = keysOf(history.entries, 'both');
    const pending = new Set(keys);
    history.phase('probe-start');
    const convergeDeadline = Date.now() + cfg.convergeTimeoutS * 1000;
    let round = 0;
    while (pending.size > 0 && Date.now() < convergeDeadline && !abort.aborted) {
      // First round: keys whose replicas all answered and differ, apart from keys some replica
      // did not answer for (a timeout under load is not a disagreement).
      let differ = 0, unanswered = 0;
      await inBatches([...pending], 64, async (key) => {
        const vals = await system.replicaValues(probeConns, key);
        if (sameRecords(vals)) {
          pending.delete(key);
          history.phase('key-converged', { key });
        } else if (vals.some((v) => v === null)) unanswered++;
        else differ++;
      });
      if (round++ === 0) history.phase('first-probe-done', { detail: `${differ}:${unanswered}` });
      if (pending.size > 0) await sleep(200);
    }
    for (const key of pending) history.phase('not-converged', { key });
    history.phase('converged', { detail: String(keys.length) });

    // Final read of every set key, through every host in turn, retried a few times.
    for (const h of cfg.topo.hosts) {
      const c = connect(h);
      try {
        await c.connect();
        await system.prepareFinal(c);
      } catch {
        // a read through this host fails and is retried through the next one
      }
      finalConns.set(h.index, c);
    }
    const setKeys = keysOf(history.entries, 'add');
    let turn = 0;
    await inBatches(setKeys, 64, async (key) => {
      for (let attempt = 0; attempt < 5 && !abort.aborted; attempt++) {
        const host = cfg.topo.hosts[turn++ % cfg.topo.hosts.length];
        const conn = host === undefined ? undefined : finalConns.get(host.index);
        if (host === undefined || conn === undefined) break;
        const inv = history.invoke({ process: 0, f: 'final-read', key, value: null, node: host.index });
        try {
          const values = await system.finalRead(conn, key);
          history.complete(inv, 'ok', values, null);
          return;
        } catch (err) {
          history.complete(inv, 'fail', null, (err as Error).message.split(' ', 1)[0] ?? 'ERR');
          await sleep(200 * (attempt + 1));
        }
      }
    });
    history.phase('final-read-done');
  } finally {
    nemesis.stop();
    for (const c of [...probeConns.values(), ...finalConns.values()]) c.disconnect();
    try { healFirewall(cfg.topo); } catch { /* namespaces may be gone on abort */ }
    await nodes.destroy();
    history.phase('end');
    await history.close();
  }

  const entries = history.entries;
  const set = checkSet(entries, (k) => k.startsWith('s:'));
  const sharedSet = checkSet(entries, (k) => k.startsWith('ss:'));
  // Last-write-wins drops concurrent read-modify-writes by design: measured, not a failure.
  const sharedLossExpected = cfg.system === 'ringkv' && cfg.mode === 'lww';
  const register = checkRegister(entries);
  const { perKeyMs: _perKey, ...convergence } = checkConvergence(entries);
  const reasons: string[] = [];
  if (set.lost > 0) reasons.push(`${set.lost} acknowledged set elements lost`);
  if (sharedSet.lost > 0 && !sharedLossExpected) reasons.push(`${sharedSet.lost} acknowledged shared-key set elements lost`);
  for (const [name, r] of [['set', set], ['shared-key set', sharedSet]] as const) {
    if (r.unreadableKeys > 0) reasons.push(`${r.unreadableKeys} ${name} keys could not be read after the heal`);
    if (r.phantom > 0) reasons.push(`${r.phantom} ${name} elements present that no one added`);
  }
  if (register.phantomReads > 0) reasons.push(`${register.phantomReads} reads returned a value never written`);
  if (cfg.failOnRyw && register.rywViolations > 0) reasons.push(`${register.rywViolations} read-your-writes violations`);
  if (convergence.convergedKeys < convergence.keys) reasons.push(`${convergence.keys - convergence.convergedKeys} keys not converged ${cfg.convergeTimeoutS} s after the heal`);
  if (crashes.length > 0) reasons.push(`${crashes.length} node crashes (exits the harness did not cause)`);
  const { topo, repoRoot: _root, ...rest } = cfg;
  return {
    config: { ...rest, hosts: topo.hosts.length, systemDescription: system.description },
    wallS: (Date.now() - started) / 1000,
    workloadS,
    ops: countOps(entries),
    nemesis: summarizeNemesis(entries),
    crashes,
    set, sharedSet, register, convergence,
    pass: reasons.length === 0,
    reasons,
  };
}

function fmt(n: number | null): string {
  return n === null ? '-' : String(Math.round(n));
}

export function summaryMarkdown(s: RunSummary): string {
  const c = s.config;
  const lines = [
    `# Fault run: ${c.system} ${c.system === 'ringkv' ? `${c.mode} ${c.strict ? 'strict' : 'sloppy'} quorum ` : ''}seed ${c.seed}`,
    '',
    `Verdict: **${s.pass ? 'PASS' : 'FAIL'}**${s.reasons.length > 0 ? ` (${s.reasons.join('; ')})` : ''}`,
    '',
    `System: ${c.systemDescription}. Hosts ${c.hosts}, clients ${c.clients}, workload ${s.workloadS.toFixed(0)} s, wall ${s.wallS.toFixed(0)} s.`,
    '',
    `Fault events: ${s.nemesis.faultEvents} (${Object.entries(s.nemesis.byFault).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}). Crashes: ${s.crashes.length}.`,
    '',
    `Operations: ok ${s.ops.ok}, fail ${s.ops.fail}, info ${s.ops.info}, pending ${s.ops.pending}. Errors: ${Object.entries(s.ops.errors).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}.`,
    '',
    '| set elements | own keys | shared keys (read-modify-write) |',
    '|---|---|---|',
    `| attempted | ${s.set.attempted} | ${s.sharedSet.attempted} |`,
    `| acknowledged | ${s.set.acknowledged} | ${s.sharedSet.acknowledged} |`,
    `| lost | ${s.set.lost} | ${s.sharedSet.lost} (${(100 * s.sharedSet.lostFraction).toFixed(2)}%) |`,
    `| never read (unknown, absent) | ${s.set.neverRead} | ${s.sharedSet.neverRead} |`,
    `| unacknowledged but present | ${s.set.unacknowledgedPresent} | ${s.sharedSet.unacknowledgedPresent} |`,
    `| failed but present | ${s.set.failedPresent} | ${s.sharedSet.failedPresent} |`,
    `| phantom | ${s.set.phantom} | ${s.sharedSet.phantom} |`,
    `| unreadable keys | ${s.set.unreadableKeys} | ${s.sharedSet.unreadableKeys} |`,
    '',
    `Register: ${s.register.writes} writes, ${s.register.reads} reads, phantom reads ${s.register.phantomReads}, read-your-writes violations ${s.register.rywViolations}, stale reads ${s.register.staleReads} (not a failure: linearizability is not claimed).`,
    '',
    '| key | writes | reads | phantom | ryw violations | stale |',
    '|---|---|---|---|---|---|',
    ...s.register.perKey.map((k) => `| ${k.key} | ${k.writes} | ${k.reads} | ${k.phantomReads} | ${k.rywViolations} | ${k.staleReads} |`),
    '',
    `Convergence after the heal, passive (no key read): hints drained at ${fmt(s.convergence.hintsDrainedMs)} ms, last repair at ${fmt(s.convergence.lastRepairMs)} ms, estimate ${fmt(s.convergence.passiveMs)} ms${s.convergence.passiveQuiet ? '' : ' (timed out before a quiet window)'}.`,
    '',
    `Then probed (every replica read at ONE through itself): ${s.convergence.convergedKeys}/${s.convergence.keys} keys agreed, ${s.convergence.disagreeingAtFirstProbe} disagreeing and ${s.convergence.unansweredAtFirstProbe ?? '?'} not answered by every replica at the first probe round; per-key time from the probe start p50 ${fmt(s.convergence.p50Ms)} ms, p99 ${fmt(s.convergence.p99Ms)} ms, max ${fmt(s.convergence.maxMs)} ms.`,
  ];
  const ex = (title: string, xs: readonly string[]) => { if (xs.length > 0) lines.push('', `${title}:`, ...xs.map((x) => `- ${x}`)); };
  ex('Lost (examples)', s.set.lostExamples);
  ex('Lost from shared keys (examples)', s.sharedSet.lostExamples);
  ex('Failed but present (examples)', s.set.failedPresentExamples);
  ex('Phantom reads (examples)', s.register.phantomExamples);
  ex('Read-your-writes violations (examples)', s.register.rywExamples);
  ex('Crashes', s.crashes);
  ex('Not converged (examples)', s.convergence.notConverged);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) {
    process.stderr.write('usage: run.ts <RunConfig JSON> (normally started by cli.ts)\n');
    process.exit(2);
  }
  const cfg = JSON.parse(raw) as RunConfig;
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => ac.abort());
  try {
    const summary = await runChaos(cfg, ac.signal);
    writeFileSync(join(cfg.runDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    writeFileSync(join(cfg.runDir, 'summary.md'), summaryMarkdown(summary));
    process.stdout.write(summaryMarkdown(summary));
    process.exit(summary.pass ? 0 : 1);
  } catch (err) {
    process.stderr.write(`chaos run failed: ${(err as Error).message}\n`);
    process.exit(3);
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  void main();
}
