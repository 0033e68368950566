/**
 * One seed end to end: build the options, run the simulation, run every checker, and format a
 * failure report (seed, one-line replay command, violations, trace tail). Shared by the CLI and
 * the test suite so both judge a seed the same way.
 */
import type { CheckResult, Checker } from './history.js';
import { BASIC_CHECKERS } from './basic-checks.js';
import { SIM_CHECKERS, checkReadYourWrites, checkSupersededStayGone } from './checkers/index.js';
import { checkHintedKeysConverge, checkHintsAccounted } from './checkers/hinted-handoff.js';
import { checkReplicasConverge } from './checkers/anti-entropy.js';
import { checkTopologyChange } from './checkers/topology.js';
import { ownersOnly } from './checkers/sloppy-quorum.js';
import { checkLwwLaterWriteWins } from './basic-checks.js';
import { checkNoResurrection } from './checkers/no-resurrection.js';
import { checkExpiredNeverRead, ttlAsMaybe } from './checkers/ttl.js';
import { simRingPlacement } from './placement.js';
import { runSimulation, type SimOptions, type SimResult } from './simulation.js';

export const DEFAULT_SIM: Omit<SimOptions, 'seed'> = {
  nodes: 5,
  replicationFactor: 3,
  ops: 150,
  clients: 5,
  mode: 'siblings',
  siblingsMax: 8,
  faults: true,
  placement: simRingPlacement,
  traceMax: 0,
  inFlightMax: 256,
  sloppy: true,
  quorumOnly: false,
  routeAroundSuspects: true,
  antiEntropy: true,
};

/**
 * The dedicated checkers (test/sim/checkers/) judge every run, with the one simple check kept in
 * basic-checks.ts (lww later-write-wins). Puts with a TTL may vanish once expired, so the
 * checkers that demand a value's presence judge them as may-have-happened (checkers/ttl.ts).
 */
const TRACE_SHOWN = 80;
const TRACE_KEPT = 20_000;

/**
 * Checkers that rely on quorum intersection judge owner-acked writes only (checkers/
 * sloppy-quorum.ts says why); the hinted-handoff checkers judge the facts sloppy runs record.
 */
const NEEDS_INTERSECTION: ReadonlySet<Checker> = new Set<Checker>([checkReadYourWrites, checkSupersededStayGone, checkLwwLaterWriteWins]);

export const CHECKERS: readonly Checker[] = [
  ...[...SIM_CHECKERS, ...BASIC_CHECKERS].map((c) => ttlAsMaybe(NEEDS_INTERSECTION.has(c) ? ownersOnly(c) : c)),
  checkExpiredNeverRead,
  checkNoResurrection,
  checkHintsAccounted,
  checkHintedKeysConverge,
  checkReplicasConverge,
  checkTopologyChange,
];

export interface SeedOutcome {
  readonly result: SimResult;
  readonly checks: CheckResult[];
  readonly ok: boolean;
}

function judge(opts: SimOptions): SeedOutcome {
  const result = runSimulation(opts);
  const checks = result.error === null ? CHECKERS.map((c) => c(result.history)) : [];
  const ok = result.error === null && checks.every((c) => c.ok);
  return { result, checks, ok };
}

/**
 * Runs a seed without tracing; a failing seed runs again with the trace on (runs are
 * deterministic, so the second run is the same run, which its digest confirms).
 */
export function runSeed(seed: number, overrides: Partial<Omit<SimOptions, 'seed'>> = {}): SeedOutcome {
  const opts: SimOptions = { ...DEFAULT_SIM, ...overrides, seed };
  const first = judge(opts);
  if (first.ok || opts.traceMax > 0) return first;
  const traced = judge({ ...opts, traceMax: TRACE_KEPT });
  if (traced.result.digest !== first.result.digest) {
    return { ...traced, ok: false, result: { ...traced.result, error: `not deterministic: digest ${first.result.digest} untraced, ${traced.result.digest} traced` } };
  }
  return traced;
}

export function replayCommand(seed: number, overrides: Partial<Omit<SimOptions, 'seed'>> = {}): string {
  const extra: string[] = [];
  if (overrides.nodes !== undefined) extra.push(`--nodes ${overrides.nodes}`);
  if (overrides.ops !== undefined) extra.push(`--ops ${overrides.ops}`);
  if (overrides.mode !== undefined) extra.push(`--mode ${overrides.mode}`);
  if (overrides.clients !== undefined) extra.push(`--clients ${overrides.clients}`);
  if (overrides.siblingsMax !== undefined) extra.push(`--siblings-max ${overrides.siblingsMax}`);
  if (overrides.inFlightMax !== undefined) extra.push(`--in-flight-max ${overrides.inFlightMax}`);
  if (overrides.sloppy === false) extra.push('--strict');
  if (overrides.quorumOnly === true) extra.push('--quorum-only');
  if (overrides.routeAroundSuspects === false) extra.push('--dead-only');
  if (overrides.antiEntropy === false) extra.push('--no-anti-entropy');
  if (overrides.faults === false) extra.push('--no-faults');
  if (overrides.topology !== undefined && overrides.topology !== null) extra.push(`--topology ${overrides.topology}`);
  return `npm run sim -- --seed ${seed}${extra.length > 0 ? ' ' + extra.join(' ') : ''}`;
}

export function failureReport(o: SeedOutcome, overrides: Partial<Omit<SimOptions, 'seed'>> = {}): string {
  const lines = [`FAILED seed ${o.result.seed}`, `  replay: ${replayCommand(o.result.seed, overrides)}`];
  if (o.result.error !== null) lines.push(`  error: ${o.result.error}`);
  for (const c of o.checks) {
    if (c.ok) continue;
    lines.push(`  checker "${c.name}": ${c.violations.length} violation(s)`);
    for (const v of c.violations.slice(0, 10)) lines.push(`    ${v}`);
  }
  // The trace lines about the keys the violations name (plus faults), else the plain tail.
  const keys = new Set<string>();
  for (const c of o.checks) for (const v of c.violations) for (const m of v.matchAll(/\b([hk]\d+)\b/g)) keys.add(m[1] as string);
  const about = keys.size === 0 ? null : new RegExp(`\\b(${[...keys].join('|')})\\b|crash|restart|partition|heal|loss`);
  const shown = (about === null ? o.result.trace : o.result.trace.filter((t) => about.test(t))).slice(-TRACE_SHOWN);
  lines.push(about === null ? '  trace tail:' : `  trace tail for ${[...keys].join(', ')} (and faults):`);
  for (const t of shown) lines.push(`    ${t}`);
  return lines.join('\n');
}
