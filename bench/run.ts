/**
 * `npm run bench [-- --scenario NAME ...] [--rounds 3] [--smoke]`: the benchmark harness.
 *
 * Installs missing programs (apt-get, only when missing), builds ringkv when dist/ is older than
 * src/, starts every server itself on 127.0.0.1 with random free ports and data directories
 * under bench/tmp/ (on disk, so fsync is real), runs the selected scenarios, writes
 * bench/results/<date>-<scenario>.md (+ .json), refreshes the README summary, and stops every
 * process it started, by process-group id, also on error and Ctrl-C.
 *
 * --smoke: one round with tiny request counts, every runnable scenario, results to a temporary
 * directory, README untouched; exits non-zero if a server fails to start or redis-benchmark
 * reports an error. Figures from --smoke mean nothing; CI uses it to prove the harness works.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/machine.js';
import { atExit, installCleanupHandlers, stopAll } from './lib/process.js';
import { refreshReadme, writeReport } from './lib/results.js';
import type { RunOptions, Scenario, ScenarioReport } from './lib/scenario.js';
import { RINGKV_ENTRY } from './lib/systems.js';
import { ensurePrograms } from './lib/tools.js';
import { SCENARIOS } from './scenarios/index.js';
import { runThroughputSession, sameCases, type ThroughputPlan } from './lib/throughput.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS_MIN = 3;

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

const USAGE = `usage: npm run bench -- [--scenario NAME]... [--rounds N] [--smoke] [--results-dir DIR] [--no-build] [--list]
  --scenario NAME   run only this scenario (repeatable); default: every runnable scenario
  --rounds N        rounds per scenario, systems interleaved within each round (default 3, at least 3)
  --scale X         multiply request and key counts by X for a quick look (README is then not refreshed)
  --smoke           1 round, tiny request counts, results to a temp dir, README untouched
  --results-dir DIR write results there instead of bench/results (README is then not refreshed)
  --no-build        do not rebuild ringkv even if dist/ is older than src/
  --ringkv-root DIR run ringkv from DIR/dist (e.g. a clean build of one commit) instead of this checkout's
  --list            list scenarios and exit`;

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtimeMs(p) : st.mtimeMs);
  }
  return newest;
}

/** Builds ringkv if its entry point is missing or older than any source file. */
function ensureBuilt(): void {
  const entry = join(repoRoot, RINGKV_ENTRY);
  if (existsSync(entry) && statSync(entry).mtimeMs >= newestMtimeMs(join(repoRoot, 'src'))) return;
  log('building ringkv (dist/ is missing or older than src/)');
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    if (!existsSync(entry)) throw new Error(`npm run build failed and ${RINGKV_ENTRY} does not exist`);
    log(`warning: npm run build exited ${r.status}; using the files it emitted`);
  }
}

type Runnable = Extract<Scenario, { runnable: true }>;

/**
 * Groups scenarios into sessions, in order: a redis-benchmark scenario takes along every later
 * selected one with the same cases (single and ceiling), which then share servers and rounds.
 * Every other scenario is a session of its own.
 */
function sessions(scenarios: readonly Runnable[]): Runnable[][] {
  const out: Runnable[][] = [];
  const taken = new Set<Runnable>();
  for (const s of scenarios) {
    if (taken.has(s)) continue;
    const plan = s.plan;
    const group = plan === undefined ? [s] : scenarios.filter((x) => !taken.has(x) && x.plan !== undefined && sameCases(plan, x.plan));
    for (const x of group) taken.add(x);
    out.push(group);
  }
  return out;
}

/** One after the other: scenarios never measure concurrently. */
async function runEach(batch: readonly Runnable[], opts: RunOptions): Promise<ScenarioReport[]> {
  const out: ScenarioReport[] = [];
  for (const s of batch) out.push(await s.run(opts));
  return out;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', multiple: true },
      rounds: { type: 'string', default: String(ROUNDS_MIN) },
      scale: { type: 'string', default: '1' },
      smoke: { type: 'boolean', default: false },
      'results-dir': { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'ringkv-root': { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(12)} ${s.title}${s.runnable ? '' : ` -- ${s.reason}`}\n`);
    return 0;
  }
  const rounds = Number(values.rounds);
  if (!values.smoke && (!Number.isInteger(rounds) || rounds < ROUNDS_MIN)) {
    process.stderr.write(`--rounds must be an integer >= ${ROUNDS_MIN} (medians need it); use --smoke for a quick check\n`);
    return 2;
  }

  const scale = Number(values.scale);
  if (!(scale > 0 && scale <= 10)) {
    process.stderr.write('--scale must be a number in (0, 10]\n');
    return 2;
  }

  let selected: Scenario[];
  let failed = false;
  if (values.scenario && values.scenario.length > 0) {
    selected = [];
    for (const name of values.scenario) {
      const s = SCENARIOS.find((x) => x.name === name);
      if (!s) {
        process.stderr.write(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIOS.map((x) => x.name).join(', ')}\n`);
        return 2;
      }
      selected.push(s);
    }
  } else {
    selected = [...SCENARIOS];
  }
  for (const s of selected) {
    if (!s.runnable) {
      log(`${s.name}: ${s.reason}`);
      if (values.scenario?.includes(s.name)) failed = true;
    }
  }
  const runnable = selected.filter((s): s is Runnable => s.runnable);
  if (runnable.length === 0) return failed ? 1 : 0;

  installCleanupHandlers();
  const missing = ensurePrograms([...new Set(runnable.flatMap((s) => s.needs))], log);
  if (missing.length > 0) throw new Error(`missing programs after install attempt: ${missing.join(' ')}`);
  const ringkvRoot = values['ringkv-root'] === undefined ? undefined : resolve(values['ringkv-root']);
  if (ringkvRoot !== undefined) {
    if (!existsSync(join(ringkvRoot, RINGKV_ENTRY))) throw new Error(`--ringkv-root: no ${RINGKV_ENTRY} under ${ringkvRoot}`);
  } else if (!values['no-build']) {
    ensureBuilt();
  }

  const smoke = values.smoke;
  // Smoke and scaled runs are not the scenarios' loads: they never land in bench/results.
  const resultsDir = smoke || (scale !== 1 && values['results-dir'] === undefined)
    ? mkdtempSync(join(tmpdir(), smoke ? 'ringkv-bench-smoke-' : 'ringkv-bench-scaled-'))
    : values['results-dir'] ?? join(repoRoot, 'bench/results');
  mkdirSync(join(repoRoot, 'bench/tmp'), { recursive: true });
  const workDir = mkdtempSync(join(repoRoot, 'bench/tmp', 'run-'));
  atExit(() => rmSync(workDir, { recursive: true, force: true }));
  const ctx = { workDir, repoRoot, startTimeoutMs: 30_000, ...(ringkvRoot !== undefined ? { ringkvRoot } : {}) };
  const refreshesReadme = !smoke && scale === 1 && values['results-dir'] === undefined;
  const started = Date.now();
  try {
    for (const batch of sessions(runnable)) {
      const machine = machineInfo(repoRoot, workDir, ringkvRoot);
      for (const scenario of batch) log(`${scenario.name}: ${scenario.title}`);
      const runOpts = { rounds: smoke ? 1 : rounds, smoke, scale, ctx, log };
      const plans = batch.map((x) => x.plan).filter((p): p is ThroughputPlan => p !== undefined);
      const reports = batch.length > 1 && plans.length === batch.length
        ? await runThroughputSession(plans, runOpts)
        : await runEach(batch, runOpts);
      for (const report of reports) {
        if (scale !== 1) report.description.push('', `Scaled run (--scale ${scale}): request and key counts are ${scale} times the scenario's.`);
        const file = writeReport(resultsDir, report, machine, smoke ? 1 : rounds, smoke, repoRoot);
        log(`${report.name}: wrote ${file}`);
        if (report.failures.length > 0) {
          failed = true;
          for (const f of report.failures) log(`${report.name} FAILURE: ${f}`);
        }
      }
      // After every session, not once at the end: an interrupted run keeps what it finished.
      if (refreshesReadme) refreshReadme(join(repoRoot, 'README.md'), resultsDir, SCENARIOS.map((s) => s.name));
    }
  } finally {
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  }
  if (refreshesReadme) log('README.md summary refreshed');
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s${failed ? ', WITH FAILURES' : ''}; results in ${resultsDir}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
