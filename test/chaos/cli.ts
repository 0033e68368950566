/**
 * `npm run chaos -- [options]`: runs fault schedules against real processes in network
 * namespaces and reports what the checkers found. Must run as root (namespaces, nftables).
 *
 *   --time S          workload seconds per run (default 60)
 *   --seed S          first seed (default: derived from the clock, printed); run i uses S+i
 *   --runs K          runs one after another (default 1)
 *   --mode M          siblings | lww (default siblings)
 *   --strict          strict quorum (default sloppy)
 *   --system X        ringkv | redis (redis = the control subject that loses writes)
 *   --clients N       logical clients (default 8)
 *   --hosts N         host namespaces (default 5)
 *   --faults a,b      fault kinds (default all: partition-halves, partition-isolated,
 *                     partition-bridge, partition-ring, loss, kill, pause, clock-skew)
 *   --subnet K        third octet of 10.77.K.0/24 (default 77; parallel runs use distinct ones)
 *   --results DIR     where run directories go (default test/chaos/runs, git-ignored)
 *   --fail-on-ryw     fail a run on read-your-writes violations (default: reported only)
 *   --keep-data       keep node data directories after a passing run
 *   --ringkv-root DIR run the nodes from this checkout (default: this one), e.g. an exported
 *                     commit, so edits in the working tree do not change a long campaign
 *   --op-timeout-ms N client-side operation timeout (default 3000)
 *   --converge-timeout-s N  bound of each convergence phase after the heal (default 120)
 *   --passive-quiet-s N     no repair for this long = passively converged (default 15)
 *   --check FILE      run the checkers on a saved history.jsonl and print the result
 *   --aggregate DIR   tables over every run summary under DIR, one per system/mode/quorum
 *   --sweep           remove namespaces left behind by dead harness runs, then exit
 *
 * Exit codes: 0 every run passed; 1 a checker failed; 2 usage; 3 preflight or harness failure.
 *
 * This process stays in the root namespace: it creates the topology, starts run.ts inside the
 * bridge namespace, forwards SIGINT/SIGTERM to it, and tears the topology down in a finally
 * (processes killed by PID, namespaces deleted by name) whatever happened.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkConvergence, checkRegister, checkSet, countOps, quantile, summarizeNemesis } from './checkers.js';
import { readHistory } from './history.js';
import { FAULT_KINDS, type FaultKind } from './nemesis.js';
import { createTopology, destroyTopology, faketimeLibrary, newTag, preflight, sweepStale, type Topology } from './netns.js';
import type { RunConfig, RunSummary } from './run.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN_SCRIPT = fileURLToPath(new URL('./run.ts', import.meta.url));

export interface ChaosOptions {
  timeS: number;
  seed: number;
  runs: number;
  mode: 'siblings' | 'lww';
  strict: boolean;
  system: 'ringkv' | 'redis';
  clients: number;
  hosts: number;
  faults: FaultKind[];
  subnet: number;
  resultsDir: string;
  failOnRyw: boolean;
  keepData: boolean;
  opTimeoutMs: number;
  convergeTimeoutS: number;
  passiveQuietS: number;
  /** Checkout the ringkv nodes run from. */
  ringkvRoot: string;
}

export class UsageError extends Error {}

export function parseOptions(argv: readonly string[]): ChaosOptions & { check: string | null; aggregate: string | null; sweep: boolean } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      time: { type: 'string' }, seed: { type: 'string' }, runs: { type: 'string' }, mode: { type: 'string' },
      strict: { type: 'boolean' }, system: { type: 'string' }, clients: { type: 'string' }, hosts: { type: 'string' },
      faults: { type: 'string' }, subnet: { type: 'string' }, results: { type: 'string' }, 'fail-on-ryw': { type: 'boolean' },
      'keep-data': { type: 'boolean' }, check: { type: 'string' }, aggregate: { type: 'string' }, sweep: { type: 'boolean' },
      'ringkv-root': { type: 'string' }, 'op-timeout-ms': { type: 'string' }, 'converge-timeout-s': { type: 'string' }, 'passive-quiet-s': { type: 'string' },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined, def: number, lo: number, hi: number): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new UsageError(`--${name} must be an integer in ${lo}..${hi}, got ${v}`);
    return n;
  };
  const mode = values.mode ?? 'siblings';
  if (mode !== 'siblings' && mode !== 'lww') throw new UsageError(`--mode must be siblings or lww, got ${mode}`);
  const system = values.system ?? 'ringkv';
  if (system !== 'ringkv' && system !== 'redis') throw new UsageError(`--system must be ringkv or redis, got ${system}`);
  const faults = (values.faults ?? FAULT_KINDS.join(',')).split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const f of faults) if (!(FAULT_KINDS as readonly string[]).includes(f)) throw new UsageError(`unknown fault ${f}; known: ${FAULT_KINDS.join(', ')}`);
  return {
    timeS: int('time', values.time, 60, 1, 24 * 3600),
    seed: int('seed', values.seed, Math.floor(Date.now() / 1000) % 1_000_000, 0, 0xffffffff),
    runs: int('runs', values.runs, 1, 1, 1000),
    mode, strict: values.strict ?? false, system,
    clients: int('clients', values.clients, 8, 1, 256),
    hosts: int('hosts', values.hosts, 5, 3, 20),
    faults: faults as FaultKind[],
    subnet: int('subnet', values.subnet, 77, 0, 253),
    resultsDir: resolve(values.results ?? join(REPO_ROOT, 'test', 'chaos', 'runs')),
    failOnRyw: values['fail-on-ryw'] ?? false,
    keepData: values['keep-data'] ?? false,
    opTimeoutMs: int('op-timeout-ms', values['op-timeout-ms'], 3000, 100, 120_000),
    convergeTimeoutS: int('converge-timeout-s', values['converge-timeout-s'], 120, 1, 3600),
    // Longer than the default anti-entropy period (10 s), so a quiet window spans a full round.
    passiveQuietS: int('passive-quiet-s', values['passive-quiet-s'], 15, 1, 3600),
    ringkvRoot: resolve(values['ringkv-root'] ?? REPO_ROOT),
    check: values.check ?? null,
    aggregate: values.aggregate ?? null,
    sweep: values.sweep ?? false,
  };
}

/** Runs run.ts inside the bridge namespace; resolves with its exit code. */
function runInside(topo: Topology, cfg: RunConfig, onChild: (kill: (sig: NodeJS.Signals) => void) => void): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn('ip', ['netns', 'exec', topo.bridgeNs, process.execPath, '--import', 'tsx', RUN_SCRIPT, JSON.stringify(cfg)], {
      cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'],
    });
    onChild((sig) => {
      if (child.pid !== undefined && child.exitCode === null) {
        try { process.kill(child.pid, sig); } catch { /* gone */ }
      }
    });
    child.on('exit', (code, signal) => resolvePromise(code ?? (signal === null ? 3 : 128)));
    child.on('error', () => resolvePromise(3));
  });
}

function runName(o: ChaosOptions, seed: number): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const flavour = o.system === 'ringkv' ? `${o.mode}-${o.strict ? 'strict' : 'sloppy'}` : 'control';
  return `${stamp}-${o.system}-${flavour}-s${seed}`;
}

/** One run in a fresh topology; returns its summary (null when the harness itself failed). */
export async function runOnce(o: ChaosOptions, seed: number): Promise<{ code: number; summary: RunSummary | null; runDir: string }> {
  const runDir = join(o.resultsDir, runName(o, seed));
  mkdirSync(runDir, { recursive: true });
  const topo = createTopology({ tag: newTag(), hostCount: o.hosts, subnet: o.subnet });
  let kill: ((sig: NodeJS.Signals) => void) | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    kill?.('SIGTERM');
    setTimeout(() => kill?.('SIGKILL'), 10_000).unref();
    process.stderr.write(`\n${sig}: stopping the run and tearing the namespaces down\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code = 3;
  try {
    const cfg: RunConfig = {
      system: o.system, mode: o.mode, strict: o.strict, seed, timeS: o.timeS, clients: o.clients, faults: o.faults,
      runDir, repoRoot: o.ringkvRoot, topo, opTimeoutMs: o.opTimeoutMs, convergeTimeoutS: o.convergeTimeoutS, passiveQuietS: o.passiveQuietS,
      opsPerClientMax: 1_000_000, failOnRyw: o.failOnRyw,
    };
    code = await runInside(topo, cfg, (k) => { kill = k; });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    destroyTopology(topo);
  }
  const summaryPath = join(runDir, 'summary.json');
  const summary = existsSync(summaryPath) ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as RunSummary) : null;
  if (summary?.pass === true && !o.keepData) rmSync(join(runDir, 'data'), { recursive: true, force: true });
  return { code, summary, runDir };
}

export function aggregateMarkdown(o: ChaosOptions, results: readonly { summary: RunSummary | null; runDir: string; code: number }[]): string {
  const ok = results.filter((r) => r.summary !== null).map((r) => r.summary as RunSummary);
  const sum = (f: (s: RunSummary) => number) => ok.reduce((a, s) => a + f(s), 0);
  const sorted = (f: (s: RunSummary) => number | null) => ok.map(f).filter((x): x is number => x !== null).sort((a, b) => a - b);
  const passive = sorted((s) => s.convergence.passiveMs);
  const drained = sorted((s) => s.convergence.hintsDrainedMs);
  const probeMax = sorted((s) => s.convergence.maxMs);
  const fmtMs = (x: number | null) => (x === null ? '-' : String(Math.round(x)));
  const lines = [
    `# ${o.system} ${o.system === 'ringkv' ? `${o.mode} ${o.strict ? 'strict' : 'sloppy'} ` : ''}— ${results.length} runs of ${o.timeS} s`,
    '',
    `Passed ${ok.filter((s) => s.pass).length}/${results.length}. Fault events ${sum((s) => s.nemesis.faultEvents)}. Acknowledged adds (own keys) ${sum((s) => s.set.acknowledged)}, lost ${sum((s) => s.set.lost)}. Shared-key adds acknowledged ${sum((s) => s.sharedSet.acknowledged)}, lost ${sum((s) => s.sharedSet.lost)} (${(100 * sum((s) => s.sharedSet.lost) / Math.max(1, sum((s) => s.sharedSet.acknowledged))).toFixed(2)}%). Phantom reads ${sum((s) => s.register.phantomReads)}, read-your-writes violations ${sum((s) => s.register.rywViolations)}, stale reads ${sum((s) => s.register.staleReads)}. Crashes ${sum((s) => s.crashes.length)}.`,
    '',
    `Convergence after the final heal (passive estimate per run: later of hint drain and last repair, no key read): p50 ${fmtMs(quantile(passive, 0.5))} ms, p99 ${fmtMs(quantile(passive, 0.99))} ms, max ${fmtMs(passive.at(-1) ?? null)} ms over ${passive.length} runs. Hint drain: p50 ${fmtMs(quantile(drained, 0.5))} ms, max ${fmtMs(drained.at(-1) ?? null)} ms. Keys not agreeing at the first probe after the passive phase: ${sum((s) => s.convergence.disagreeingAtFirstProbe)} (runs before the probe separated unanswered replicas count those too), plus ${sum((s) => s.convergence.unansweredAtFirstProbe ?? 0)} with a replica that did not answer in time; worst per-key probe time ${fmtMs(probeMax.at(-1) ?? null)} ms.`,
    '',
    '| seed | verdict | faults | ok ops | info | acked adds | lost | never read | unacked present | shared acked | shared lost | ryw | stale | passive conv ms | disagreeing at probe | wall s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) => {
      const s = r.summary;
      if (s === null) return `| ? | harness error (exit ${r.code}) | | | | | | | | | | | | | | |`;
      const c = s.convergence;
      return `| ${s.config.seed} | ${s.pass ? 'pass' : `FAIL: ${s.reasons.join('; ')}`} | ${s.nemesis.faultEvents} | ${s.ops.ok} | ${s.ops.info} | ${s.set.acknowledged} | ${s.set.lost} | ${s.set.neverRead} | ${s.set.unacknowledgedPresent} | ${s.sharedSet.acknowledged} | ${s.sharedSet.lost} | ${s.register.rywViolations} | ${s.register.staleReads} | ${fmtMs(c.passiveMs)} | ${c.disagreeingAtFirstProbe} | ${s.wallS.toFixed(0)} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

/** Aggregate tables over every `<run>/summary.json` under `dir`, grouped by system, mode and quorum. */
export function aggregateDir(dir: string): string {
  const groups = new Map<string, { o: ChaosOptions; results: { summary: RunSummary; runDir: string; code: number }[] }>();
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name, 'summary.json');
    if (!existsSync(path)) continue;
    const s = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunSummary>;
    // Summaries written by an older harness lack fields the tables need.
    if (s.config === undefined || s.sharedSet === undefined || s.convergence?.passiveQuiet === undefined) continue;
    const c = s.config;
    const key = `${c.system}/${c.mode}/${c.strict}/${c.timeS}`;
    let g = groups.get(key);
    if (g === undefined) {
      const o = { ...parseOptions([]), system: c.system, mode: c.mode, strict: c.strict, timeS: c.timeS };
      groups.set(key, (g = { o, results: [] }));
    }
    g.results.push({ summary: s as RunSummary, runDir: join(dir, name), code: s.pass === true ? 0 : 1 });
  }
  return [...groups.values()].map((g) => aggregateMarkdown(g.o, g.results)).join('\n');
}

function checkFile(path: string): number {
  const entries = readHistory(path);
  const out = {
    ops: countOps(entries), nemesis: summarizeNemesis(entries),
    set: checkSet(entries, (k) => k.startsWith('s:')), sharedSet: checkSet(entries, (k) => k.startsWith('ss:')), register: checkRegister(entries),
    convergence: (({ perKeyMs: _p, ...rest }) => rest)(checkConvergence(entries)),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return out.set.lost === 0 && out.register.phantomReads === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  let o: ReturnType<typeof parseOptions>;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`chaos: ${(e as Error).message}\n`);
    return 2;
  }
  if (o.check !== null) return checkFile(o.check);
  if (o.aggregate !== null) {
    process.stdout.write(aggregateDir(o.aggregate));
    return 0;
  }
  const why = preflight();
  if (why !== null) {
    process.stderr.write(`chaos: cannot run: ${why}\n`);
    return 3;
  }
  const removed = sweepStale();
  if (removed.length > 0) process.stderr.write(`chaos: removed stale namespaces ${removed.join(', ')}\n`);
  if (o.sweep) return 0;
  if (o.faults.includes('clock-skew') && faketimeLibrary() === null) {
    process.stderr.write('chaos: clock-skew needs libfaketime: apt-get install faketime (or pass --faults without clock-skew)\n');
    return 3;
  }
  mkdirSync(o.resultsDir, { recursive: true });
  process.stderr.write(`chaos: ${o.runs} run(s) of ${o.timeS} s, ${o.system}${o.system === 'ringkv' ? ` ${o.mode} ${o.strict ? 'strict' : 'sloppy'}` : ''}, seeds ${o.seed}..${o.seed + o.runs - 1}\n`);
  const results: { summary: RunSummary | null; runDir: string; code: number }[] = [];
  let interrupted = false;
  const markInterrupted = () => { interrupted = true; };
  process.on('SIGINT', markInterrupted);
  for (let i = 0; i < o.runs && !interrupted; i++) {
    const seed = o.seed + i;
    const r = await runOnce(o, seed);
    results.push(r);
    process.stderr.write(`chaos: seed ${seed}: ${r.summary === null ? `harness error (exit ${r.code})` : r.summary.pass ? 'pass' : `FAIL (${r.summary.reasons.join('; ')})`} — ${r.runDir}\n`);
  }
  if (results.length > 1) {
    const md = aggregateMarkdown(o, results);
    const base = join(o.resultsDir, `aggregate-${o.system}-${o.mode}-${o.strict ? 'strict' : 'sloppy'}-s${o.seed}x${o.runs}`);
    writeFileSync(`${base}.md`, md);
    writeFileSync(`${base}.json`, `${JSON.stringify(results.map((r) => r.summary), null, 2)}\n`);
    process.stdout.write(md);
  }
  if (interrupted) return 130;
  if (results.some((r) => r.summary === null)) return 3;
  return results.every((r) => r.summary?.pass === true) ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error).message}\n`);
    process.exit(3);
  });
}
