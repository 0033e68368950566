/**
 * The interleaved rounds runner for multi-process systems (ringkv cluster, Redis Cluster, etcd):
 * the same method as throughput.ts (every system started once and warmed up unrecorded, then
 * each round runs every case on each of its systems in a fixed order, A B A B; the figure to
 * quote is the per-round ratio, median [min–max]), with cases that are functions, so one runner
 * serves redis-benchmark loads, the Node driver in closed loop, and the open-loop latency runs.
 *
 * Server CPU of a figure is the sum over the system's processes (/proc deltas over the run).
 * A system whose start fails is reported as a failure, except when it is `blocked` (a prerequisite
 * absent from this build, e.g. ringkv's cluster mode): then its cases are skipped and the report
 * says why instead of inventing figures.
 */
import type { RunningCluster, ClusterSpec } from './clusters.js';
import { mdTable, type RunOptions, type SummaryRow } from './scenario.js';
import { fmtFixed, fmtInt, fmtMs, fmtPct, fmtRatio, fmtSummary, summarize } from './stats.js';

/** What one case measured on one system in one round. */
export interface Figure {
  opsPerSec: number | undefined;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  p999Ms?: number | undefined;
  /** Open loop: latency from the actual send (without the client's own scheduling lag). */
  serviceP99Ms?: number | undefined;
  /** Client CPU as a share of one core (summed over client processes). */
  clientCpu: number | undefined;
  requests: number;
  wallSec: number;
  errors: string[];
  /** Open loop: ops due but not sent, or unanswered, at the end (rate not sustained). */
  backlog?: number;
  command: string;
  /** Free-form note (e.g. which redis-benchmark mode was used). */
  note?: string;
}

export interface Sample extends Figure {
  round: number;
  caseId: string;
  system: string;
  serverCpuSec: number | undefined;
}

export interface CaseContext {
  smoke: boolean;
  scale: number;
  repoRoot: string;
  log(message: string): void;
}

export interface ClusterCase {
  id: string;
  /** Heading text: the load in words. */
  title: string;
  /** System ids, in the order they run each round. */
  systems: readonly string[];
  run(sys: RunningCluster, ctx: CaseContext, warmup: boolean): Promise<Figure>;
}

export interface ClusterPlan {
  name: string;
  systems: readonly ClusterSpec[];
  cases: readonly ClusterCase[];
  pairs: ReadonlyArray<readonly [string, string]>;
  /** Latency tables (p99.9, service p99, backlog) instead of the throughput columns. */
  latency: boolean;
  /** System id -> reason it cannot run in this build (its cases are skipped, not failed). */
  blocked?: ReadonlyMap<string, string>;
}

export interface PlanResult {
  sections: string[];
  summary: SummaryRow[];
  failures: string[];
  notes: string[];
  samples: Sample[];
  systems: Array<{ id: string; label: string; commandLine: string }>;
  commands: string[];
}

/**
 * Smoke runs keep started systems for the next scenario that names the same system (cluster and
 * latency share ringkv-cluster and redis-cluster): starting them is most of a smoke run's time.
 * The harness's final stopAll() stops them. Measured runs always start and stop their own.
 */
const smokePool = new Map<string, Promise<RunningCluster>>();

/** Starts a system, or (smoke) takes it from the pool, started there earlier by `prestart`. */
async function startOrReuse(spec: ClusterSpec, opts: RunOptions, label: string): Promise<RunningCluster> {
  const kept = opts.smoke ? smokePool.get(spec.id) : undefined;
  if (kept !== undefined) return await kept;
  opts.log(`${label}: starting ${spec.id}`);
  const started = Date.now();
  const p = spec.start(opts.ctx);
  if (opts.smoke) smokePool.set(spec.id, p);
  try {
    const sys = await p;
    opts.log(`${label}: ${spec.id} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return sys;
  } catch (err) {
    smokePool.delete(spec.id);
    throw err;
  }
}

/**
 * Smoke runs only: starts systems a later plan will use, all at once and without waiting, so
 * their start-up overlaps with other work. A failed start surfaces in the plan that uses it.
 */
export function prestart(specs: readonly ClusterSpec[], opts: RunOptions): void {
  if (!opts.smoke) return;
  for (const spec of specs) {
    if (smokePool.has(spec.id)) continue;
    startOrReuse(spec, opts, 'prestart').catch(() => { /* reported by the plan that uses it */ });
  }
}

/**
 * A fresh system for one use: in smoke runs the one `prestart` began, taken out of the pool (the
 * caller stops it); otherwise started now.
 */
export async function takeOrStart(spec: ClusterSpec, opts: RunOptions): Promise<RunningCluster> {
  const kept = opts.smoke ? smokePool.get(spec.id) : undefined;
  if (kept !== undefined) {
    smokePool.delete(spec.id);
    const sys = await kept.catch(() => undefined);
    if (sys !== undefined) return sys;
  }
  return await spec.start(opts.ctx);
}

export async function runClusterPlan(plan: ClusterPlan, opts: RunOptions): Promise<PlanResult> {
  const failures: string[] = [];
  const notes: string[] = [];
  const samples: Sample[] = [];
  const running = new Map<string, RunningCluster>();
  const rounds = opts.smoke ? 1 : opts.rounds;
  const ctx: CaseContext = { smoke: opts.smoke, scale: opts.scale, repoRoot: opts.ctx.repoRoot, log: opts.log };
  try {
    // Systems start concurrently (start-up is not measured; a cluster takes seconds to form).
    await Promise.all(plan.systems.map(async (spec) => {
      const blocked = plan.blocked?.get(spec.id);
      if (blocked !== undefined) {
        notes.push(`\`${spec.id}\` not measured: ${blocked}`);
        opts.log(`${plan.name}: ${spec.id} not measured: ${blocked}`);
        return;
      }
      const sys = await startOrReuse(spec, opts, plan.name).catch((err: unknown) => {
        failures.push(`${spec.id} did not start: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (sys !== undefined) running.set(spec.id, sys);
    }));
    const measure = async (c: ClusterCase, sys: RunningCluster, round: number): Promise<Sample> => {
      const cpu0 = sys.cpuSeconds();
      let fig: Figure;
      try {
        fig = await c.run(sys, ctx, round === 0);
      } catch (err) {
        fig = { opsPerSec: undefined, p50Ms: undefined, p99Ms: undefined, clientCpu: undefined, requests: 0, wallSec: 0, errors: [err instanceof Error ? err.message : String(err)], command: '' };
      }
      return { ...fig, round, caseId: c.id, system: sys.id, serverCpuSec: sys.cpuSeconds() - cpu0 };
    };
    if (!opts.smoke) {
      for (const c of plan.cases) {
        for (const id of c.systems) {
          const sys = running.get(id);
          if (sys === undefined) continue;
          const s = await measure(c, sys, 0);
          if (s.errors.length > 0) failures.push(`warm-up ${c.id} on ${id}: ${s.errors.join('; ')}`);
        }
      }
    }
    for (let round = 1; round <= rounds; round++) {
      for (const c of plan.cases) {
        for (const id of c.systems) {
          const sys = running.get(id);
          if (sys === undefined) continue;
          const s = await measure(c, sys, round);
          samples.push(s);
          const cpu = s.clientCpu !== undefined ? ` client ${fmtPct(s.clientCpu)}` : '';
          const srv = s.serverCpuSec !== undefined && s.wallSec > 0 ? ` server ${fmtPct(s.serverCpuSec / s.wallSec)}` : '';
          const p999 = s.p999Ms !== undefined ? ` p99.9 ${fmtMs(s.p999Ms)}` : '';
          opts.log(`${plan.name} r${round} ${c.id} ${id}: ${s.opsPerSec !== undefined ? fmtInt(s.opsPerSec) : 'n/a'} ops/s p50 ${s.p50Ms !== undefined ? fmtMs(s.p50Ms) : 'n/a'} p99 ${s.p99Ms !== undefined ? fmtMs(s.p99Ms) : 'n/a'}${p999}${cpu}${srv}${s.errors.length > 0 ? ` ERRORS: ${s.errors.join('; ')}` : ''}`);
          if (s.errors.length > 0) failures.push(`round ${round} ${c.id} on ${id}: ${s.errors.join('; ')}`);
        }
      }
    }
  } finally {
    for (const sys of running.values()) {
      if (!opts.smoke) await sys.stop();
    }
  }
  const systems = plan.systems.map((spec) => {
    const r = running.get(spec.id);
    return { id: spec.id, label: spec.label, commandLine: r ? r.commandLines.join('\n  ') : `(not started: ${plan.blocked?.get(spec.id) ?? 'failed to start'})` };
  });
  const commands = [...new Set(samples.filter((s) => s.round === 1 && s.command !== '').map((s) => s.command))];
  return { sections: render(plan, samples, rounds), summary: summaryRows(plan, samples), failures, notes, samples, systems, commands };
}

function pick(samples: readonly Sample[], caseId: string, system: string): Sample[] {
  return samples.filter((s) => s.caseId === caseId && s.system === system);
}

type Key = 'opsPerSec' | 'p99Ms' | 'p999Ms';

export function ratiosPerRound(samples: readonly Sample[], caseId: string, num: string, den: string, key: Key): Array<number | undefined> {
  const a = pick(samples, caseId, num);
  const b = pick(samples, caseId, den);
  return a.map((x) => {
    const y = b.find((s) => s.round === x.round);
    const xv = x[key];
    const yv = y?.[key];
    return xv !== undefined && yv !== undefined && yv > 0 ? xv / yv : undefined;
  });
}

const sum = (xs: readonly (number | undefined)[], f: (x: number) => string): string => fmtSummary(summarize(xs), f);

function render(plan: ClusterPlan, samples: readonly Sample[], rounds: number): string[] {
  const out: string[] = [];
  for (const c of plan.cases) {
    const ids = c.systems.filter((id) => samples.some((s) => s.system === id && s.caseId === c.id));
    if (ids.length === 0) continue;
    const rows = ids.map((id) => {
      const ss = pick(samples, c.id, id);
      const base = [id, sum(ss.map((s) => s.opsPerSec), fmtInt), sum(ss.map((s) => s.p50Ms), fmtMs), sum(ss.map((s) => s.p99Ms), fmtMs)];
      const extra = plan.latency
        ? [sum(ss.map((s) => s.p999Ms), fmtMs), sum(ss.map((s) => s.serviceP99Ms), fmtMs), sum(ss.map((s) => s.backlog), fmtInt)]
        : [];
      return [
        ...base, ...extra,
        sum(ss.map((s) => s.clientCpu), fmtPct),
        sum(ss.map((s) => (s.serverCpuSec === undefined || s.wallSec <= 0 ? undefined : s.serverCpuSec / s.wallSec)), fmtPct),
        sum(ss.map((s) => (s.serverCpuSec === undefined || s.opsPerSec === undefined || s.opsPerSec <= 0 || s.wallSec <= 0 ? undefined : (s.serverCpuSec / (s.opsPerSec * s.wallSec)) * 1e6)), fmtFixed(1)),
        String(ss.reduce((n, s) => n + (s.errors.length > 0 ? 1 : 0), 0)),
      ];
    });
    const header = plan.latency
      ? ['system', 'ops/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'service p99 ms', 'backlog', 'client CPU', 'server CPU', 'server CPU µs/op', 'failed runs']
      : ['system', 'ops/s', 'p50 ms', 'p99 ms', 'client CPU', 'server CPU', 'server CPU µs/op', 'failed runs'];
    const ratioRows = plan.pairs.filter(([n, d]) => ids.includes(n) && ids.includes(d)).map(([num, den]) => {
      const key: Key = plan.latency ? 'p99Ms' : 'opsPerSec';
      const r = ratiosPerRound(samples, c.id, num, den, key);
      return [
        `${num} / ${den}`,
        ...Array.from({ length: rounds }, (_v, i) => (r[i] === undefined ? 'n/a' : fmtRatio(r[i] as number))),
        fmtSummary(summarize(r), fmtRatio),
        fmtSummary(summarize(ratiosPerRound(samples, c.id, num, den, plan.latency ? 'p999Ms' : 'p99Ms')), fmtRatio),
      ];
    });
    const notes = [...new Set(samples.filter((s) => s.caseId === c.id && s.note !== undefined).map((s) => `${s.system}: ${s.note ?? ''}`))];
    const parts = [`### ${c.id}: ${c.title}`, '', mdTable(header, rows)];
    if (ratioRows.length > 0) {
      const what = plan.latency ? 'p99' : 'ops/s';
      const second = plan.latency ? 'p99.9 median [min–max]' : 'p99 median [min–max]';
      parts.push('', mdTable(['ratio', ...Array.from({ length: rounds }, (_v, i) => `${what} round ${i + 1}`), `${what} median [min–max]`, second], ratioRows));
    }
    if (notes.length > 0) parts.push('', ...notes.map((n) => `- ${n}`));
    out.push(parts.join('\n'));
  }
  return out;
}

function summaryRows(plan: ClusterPlan, samples: readonly Sample[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const c of plan.cases) {
    for (const [num, den] of plan.pairs) {
      if (!c.systems.includes(num) || !c.systems.includes(den)) continue;
      const a = pick(samples, c.id, num);
      const b = pick(samples, c.id, den);
      if (a.length === 0 || b.length === 0) continue;
      const key: Key = plan.latency ? 'p99Ms' : 'opsPerSec';
      const fmt = plan.latency ? fmtMs : fmtInt;
      rows.push({
        scenario: plan.name,
        case: c.id,
        pair: `${num} / ${den}`,
        metric: plan.latency ? 'p99 ms' : 'ops/s',
        numerator: fmtSummary(summarize(a.map((s) => s[key])), fmt),
        denominator: fmtSummary(summarize(b.map((s) => s[key])), fmt),
        ratio: fmtSummary(summarize(ratiosPerRound(samples, c.id, num, den, key)), fmtRatio),
        p99Ratio: fmtSummary(summarize(ratiosPerRound(samples, c.id, num, den, plan.latency ? 'p999Ms' : 'p99Ms')), fmtRatio),
      });
    }
  }
  return rows;
}
