/**
 * The shared runner for redis-benchmark scenarios (single, durable, clients1000, ceiling).
 *
 * Method: every system of the scenario is started once and warmed up (unrecorded, so Node's JIT
 * is hot before the first figure), then each round runs every case on every system in a fixed
 * order, A B A B: systems measured back to back see the same machine load, which is why the
 * per-round ratio numerator/denominator is the figure we quote, as median [min–max] over rounds.
 * Each redis-benchmark run is one test (SET or GET) so that client CPU (rusage of the finished
 * redis-benchmark) and server CPU (/proc delta over the run) belong to exactly one figure.
 */
import { runRedisBenchmark, type LoadSpec } from './redis-benchmark.js';
import { mdTable, type RunOptions, type ScenarioReport, type SummaryRow } from './scenario.js';
import { fmtInt, fmtMs, fmtPct, fmtRatio, fmtSummary, summarize } from './stats.js';
import { HOST, type RunningSystem, type SystemSpec } from './systems.js';

export interface ThroughputCase {
  id: string;
  load: LoadSpec;
}

export interface ThroughputPlan {
  name: string;
  title: string;
  description: string[];
  systems: readonly SystemSpec[];
  cases: readonly ThroughputCase[];
  /** [numerator id, denominator id]: ratios reported per round. */
  pairs: ReadonlyArray<readonly [string, string]>;
  /** Requests per run in --smoke mode. */
  smokeRequests: number;
}

export interface Sample {
  round: number;
  caseId: string;
  system: string;
  opsPerSec: number | undefined;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  clientCpuSec: number | undefined;
  serverCpuSec: number | undefined;
  wallSec: number;
  requests: number;
  errors: string[];
  command: string;
}

function timeoutFor(load: LoadSpec, smoke: boolean): number {
  if (smoke) return 30_000;
  // Generous: a server at 1,000 ops/s still finishes; anything slower is reported as a failure.
  return Math.max(60_000, load.requests);
}

async function measure(sys: RunningSystem, c: ThroughputCase, load: LoadSpec, round: number, smoke: boolean): Promise<Sample> {
  const cpu0 = sys.cpuSeconds();
  const run = await runRedisBenchmark(HOST, sys.port, load, timeoutFor(load, smoke));
  let serverCpuSec: number | undefined;
  const errors = [...run.errors];
  try {
    serverCpuSec = sys.cpuSeconds() - cpu0;
  } catch {
    errors.push(`${sys.spec.id} is gone (process ${sys.proc.pid} exited during the run)`);
  }
  return {
    round, caseId: c.id, system: sys.spec.id,
    opsPerSec: run.row?.rps, p50Ms: run.row?.p50Ms, p99Ms: run.row?.p99Ms,
    clientCpuSec: run.client.cpuSec, serverCpuSec,
    wallSec: run.client.wallSec, requests: load.requests, errors, command: run.client.commandLine,
  };
}

/** Same cases (ids and loads) and smoke size: such plans can share one session. */
export function sameCases(a: ThroughputPlan, b: ThroughputPlan): boolean {
  return a.smokeRequests === b.smokeRequests && a.cases.length === b.cases.length
    && a.cases.every((c, i) => JSON.stringify(c) === JSON.stringify(b.cases[i]));
}

export async function runThroughput(plan: ThroughputPlan, opts: RunOptions): Promise<ScenarioReport> {
  const [report] = await runThroughputSession([plan], opts);
  if (report === undefined) throw new Error('no report');
  return report;
}

/**
 * Runs plans with the same cases in one session: the union of their systems is started once and
 * interleaved in every round, and each plan gets its own report from its systems' samples. Two
 * scenarios under the same load (single, ceiling) then cost one warm-up and one measurement of
 * the systems they share, and their figures come from the same rounds.
 */
export async function runThroughputSession(plans: readonly ThroughputPlan[], opts: RunOptions): Promise<ScenarioReport[]> {
  const first = plans[0];
  if (first === undefined) return [];
  if (!plans.every((p) => sameCases(first, p))) throw new TypeError('plans in one session must have the same cases');
  const label = plans.map((p) => p.name).join('+');
  const specs: SystemSpec[] = [];
  for (const p of plans) for (const spec of p.systems) if (!specs.some((x) => x.id === spec.id)) specs.push(spec);
  const running: RunningSystem[] = [];
  const samples: Sample[] = [];
  /** system undefined: concerns every plan (a failure before or around the rounds). */
  const failures: Array<{ system: string | undefined; message: string }> = [];
  const rounds = opts.smoke ? 1 : opts.rounds;
  const loadOf = (c: ThroughputCase): LoadSpec => (opts.smoke
    ? { ...c.load, requests: first.smokeRequests }
    : { ...c.load, requests: Math.max(100, Math.round(c.load.requests * opts.scale)) });
  try {
    for (const spec of specs) {
      opts.log(`${label}: starting ${spec.id}`);
      running.push(await spec.start(opts.ctx));
    }
    if (!opts.smoke) {
      for (const sys of running) {
        for (const c of first.cases) {
          // Enough requests to get Node's JIT past its tiers, a quarter of a run at most.
          const warm = { ...loadOf(c), requests: Math.min(10_000, Math.ceil(loadOf(c).requests / 4)) };
          const s = await measure(sys, c, warm, 0, false);
          if (s.errors.length > 0) failures.push({ system: sys.spec.id, message: `warm-up ${c.id} on ${sys.spec.id}: ${s.errors.join('; ')}` });
        }
      }
    }
    for (let round = 1; round <= rounds; round++) {
      for (const c of first.cases) {
        for (const sys of running) {
          const s = await measure(sys, c, loadOf(c), round, opts.smoke);
          samples.push(s);
          const cpu = s.clientCpuSec !== undefined ? ` client ${fmtPct(s.clientCpuSec / s.wallSec)}` : '';
          const srv = s.serverCpuSec !== undefined ? ` server ${fmtPct(s.serverCpuSec / s.wallSec)}` : '';
          opts.log(`${label} r${round} ${c.id} ${sys.spec.id}: ${s.opsPerSec !== undefined ? fmtInt(s.opsPerSec) : 'n/a'} ops/s p99 ${s.p99Ms ?? 'n/a'} ms${cpu}${srv}${s.errors.length > 0 ? ` ERRORS: ${s.errors.join('; ')}` : ''}`);
          if (s.errors.length > 0) failures.push({ system: sys.spec.id, message: `round ${round} ${c.id} on ${sys.spec.id}: ${s.errors.join('; ')}` });
        }
      }
    }
  } catch (err) {
    failures.push({ system: undefined, message: err instanceof Error ? err.message : String(err) });
  } finally {
    for (const sys of running) await sys.stop();
  }
  return plans.map((plan) => {
    const ids = new Set(plan.systems.map((x) => x.id));
    const mine = samples.filter((x) => ids.has(x.system));
    const shared = plans.length > 1
      ? [`Measured in one session with ${plans.filter((p) => p !== plan).map((p) => `\`${p.name}\``).join(', ')}: systems ${specs.map((x) => x.id).join(', ')} ran in that order in every round.`]
      : [];
    return {
      name: plan.name, title: plan.title, description: [...plan.description, ...shared],
      systems: running.filter((r) => ids.has(r.spec.id)).map((r) => ({ id: r.spec.id, label: r.spec.label, commandLine: r.proc.commandLine })),
      commands: mine.filter((x) => x.round === 1).map((x) => x.command),
      sections: renderSections(plan, mine, rounds, loadOf),
      summary: summaryRows(plan, mine),
      failures: failures.filter((f) => f.system === undefined || ids.has(f.system)).map((f) => f.message),
      raw: mine,
    };
  });
}

function pick(samples: readonly Sample[], caseId: string, system: string): Sample[] {
  return samples.filter((s) => s.caseId === caseId && s.system === system);
}

function ratiosPerRound(samples: readonly Sample[], caseId: string, num: string, den: string, key: 'opsPerSec' | 'p99Ms'): Array<number | undefined> {
  const a = pick(samples, caseId, num);
  const b = pick(samples, caseId, den);
  return a.map((x) => {
    const y = b.find((s) => s.round === x.round);
    const xv = x[key];
    const yv = y?.[key];
    return xv !== undefined && yv !== undefined && yv > 0 ? xv / yv : undefined;
  });
}

function renderSections(plan: ThroughputPlan, samples: readonly Sample[], rounds: number, loadOf: (c: ThroughputCase) => LoadSpec): string[] {
  const out: string[] = [];
  for (const c of plan.cases) {
    const l = loadOf(c);
    const rows = plan.systems.map((spec) => {
      const ss = pick(samples, c.id, spec.id);
      return [
        spec.id,
        fmtSummary(summarize(ss.map((s) => s.opsPerSec)), fmtInt),
        fmtSummary(summarize(ss.map((s) => s.p50Ms)), fmtMs),
        fmtSummary(summarize(ss.map((s) => s.p99Ms)), fmtMs),
        fmtSummary(summarize(ss.map((s) => (s.clientCpuSec === undefined ? undefined : s.clientCpuSec / s.wallSec))), fmtPct),
        fmtSummary(summarize(ss.map((s) => (s.serverCpuSec === undefined ? undefined : s.serverCpuSec / s.wallSec))), fmtPct),
        fmtSummary(summarize(ss.map((s) => (s.serverCpuSec === undefined ? undefined : (s.serverCpuSec / s.requests) * 1e6))), fmtFixed1),
        String(ss.reduce((n, s) => n + (s.errors.length > 0 ? 1 : 0), 0)),
      ];
    });
    const ratioRows = plan.pairs.map(([num, den]) => {
      const r = ratiosPerRound(samples, c.id, num, den, 'opsPerSec');
      const p = ratiosPerRound(samples, c.id, num, den, 'p99Ms');
      return [
        `${num} / ${den}`,
        ...Array.from({ length: rounds }, (_v, i) => (r[i] === undefined ? 'n/a' : fmtRatio(r[i] as number))),
        fmtSummary(summarize(r), fmtRatio),
        fmtSummary(summarize(p), fmtRatio),
      ];
    });
    out.push([
      `### ${c.id} (-c ${l.clients} -n ${fmtInt(l.requests)} -r ${l.keyspace} -d ${l.valueBytes} -P ${l.pipeline})`,
      '',
      mdTable(['system', 'ops/s', 'p50 ms', 'p99 ms', 'client CPU', 'server CPU', 'server CPU µs/op', 'failed runs'], rows),
      '',
      mdTable(['ratio', ...Array.from({ length: rounds }, (_v, i) => `ops/s round ${i + 1}`), 'ops/s median [min–max]', 'p99 median [min–max]'], ratioRows),
    ].join('\n'));
  }
  out.push([
    'CPU columns are the share of one core over the run\'s wall time: client = redis-benchmark\'s',
    'user+sys rusage, server = the server process\'s user+sys from /proc. "server CPU µs/op" is',
    'server CPU time divided by requests, a throughput-independent cost figure.',
  ].join('\n'));
  return out;
}

const fmtFixed1 = (x: number): string => x.toFixed(1);

function summaryRows(plan: ThroughputPlan, samples: readonly Sample[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const c of plan.cases) {
    for (const [num, den] of plan.pairs) {
      const r = summarize(ratiosPerRound(samples, c.id, num, den, 'opsPerSec'));
      rows.push({
        scenario: plan.name,
        case: `${c.id}, -c ${c.load.clients}`,
        pair: `${num} / ${den}`,
        metric: 'ops/s',
        numerator: fmtSummary(summarize(pick(samples, c.id, num).map((s) => s.opsPerSec)), fmtInt),
        denominator: fmtSummary(summarize(pick(samples, c.id, den).map((s) => s.opsPerSec)), fmtInt),
        ratio: fmtSummary(r, fmtRatio),
        p99Ratio: fmtSummary(summarize(ratiosPerRound(samples, c.id, num, den, 'p99Ms')), fmtRatio),
      });
    }
  }
  return rows;
}
