/**
 * Checkers over a fault run's history (history.ts). Pure functions of the entries: they can be
 * rerun offline on a saved JSONL file (`npm run chaos -- --check FILE`).
 *
 * - set: each `add` is classified against the last successful final read of its key:
 *   acknowledged (ok) and present / lost (ok, absent: the failure this harness hunts),
 *   never-read (info or pending, absent), unacknowledged-present (info or pending, present),
 *   failed-present (`fail` = "did not happen", yet present: a wrong error code), and phantom
 *   elements (present, never added).
 * - register: no read returns a value that no write had been invoked for before the read
 *   completed (phantom read: always a bug); read-your-writes per process and key (a read after
 *   one's own acknowledged write returns it or a value whose write was not over before it
 *   started); stale reads per key (a read missing every value not superseded in real time):
 *   linearizability is not claimed for sloppy quorums, so the last two are reported per key
 *   and only fail a run when asked.
 * - convergence: after the final heal, a passive estimate (hints drained and repair counters
 *   quiet, with no key read) and then, per key, the time until every replica agreed when probed.
 */
import { elementsOf, pairOps, type HistoryEntry, type Op } from './history.js';

export interface SetResult {
  readonly attempted: number;
  readonly acknowledged: number;
  readonly lost: number;
  readonly neverRead: number;
  readonly unacknowledgedPresent: number;
  readonly failedPresent: number;
  readonly phantom: number;
  /** Keys with an add but no successful final read: their elements cannot be judged. */
  readonly unreadableKeys: number;
  /** Up to 20 of each, for the report. */
  readonly lostExamples: string[];
  readonly failedPresentExamples: string[];
  readonly phantomExamples: string[];
  readonly unreadableExamples: string[];
  /** lost / acknowledged (0 when nothing was acknowledged). */
  readonly lostFraction: number;
}

const EXAMPLES_MAX = 20;

function lastFinalReads(ops: readonly Op[]): Map<string, Set<string>> {
  const finals = new Map<string, Set<string>>();
  for (const op of ops) {
    if (op.invoke.f !== 'final-read' || op.done?.type !== 'ok') continue;
    // Ops are in invoke order, so a later successful final read replaces an earlier one.
    finals.set(op.invoke.key, new Set(elementsOf(op.done.values ?? [])));
  }
  return finals;
}

/** `keyFilter` restricts the check to some keys (e.g. the shared-key set apart from the per-element keys). */
export function checkSet(entries: readonly HistoryEntry[], keyFilter: (key: string) => boolean = () => true): SetResult {
  const ops = pairOps(entries).filter((op) => keyFilter(op.invoke.key));
  const finals = lastFinalReads(ops);
  const added = new Set<string>();
  const unreadable = new Set<string>();
  let attempted = 0, acknowledged = 0, lost = 0, neverRead = 0, unackPresent = 0, failedPresent = 0;
  const lostExamples: string[] = [], failedPresentExamples: string[] = [];
  for (const op of ops) {
    if (op.invoke.f !== 'add') continue;
    const element = op.invoke.value;
    if (element === null) throw new RangeError(`history: add ${op.invoke.id} has no element`);
    attempted++;
    added.add(element);
    const outcome = op.done?.type ?? 'info';
    if (outcome === 'ok') acknowledged++;
    const present = finals.get(op.invoke.key);
    if (present === undefined) {
      unreadable.add(op.invoke.key);
      continue;
    }
    const isPresent = present.has(element);
    if (outcome === 'ok' && !isPresent) {
      lost++;
      if (lostExamples.length < EXAMPLES_MAX) lostExamples.push(`${op.invoke.key}/${element} (op ${op.invoke.id}, node ${op.invoke.node}, ok at ${op.done?.t ?? '?'} ms)`);
    } else if (outcome === 'info' && !isPresent) neverRead++;
    else if (outcome === 'info' && isPresent) unackPresent++;
    else if (outcome === 'fail' && isPresent) {
      failedPresent++;
      if (failedPresentExamples.length < EXAMPLES_MAX) failedPresentExamples.push(`${op.invoke.key}/${element} (op ${op.invoke.id}, error ${op.done?.error ?? '?'})`);
    }
  }
  let phantom = 0;
  const phantomExamples: string[] = [];
  for (const [key, elems] of finals) {
    for (const e of elems) {
      if (added.has(e)) continue;
      phantom++;
      if (phantomExamples.length < EXAMPLES_MAX) phantomExamples.push(`${key}/${e}`);
    }
  }
  return {
    attempted, acknowledged, lost, neverRead, unacknowledgedPresent: unackPresent, failedPresent, phantom,
    unreadableKeys: unreadable.size,
    lostExamples, failedPresentExamples, phantomExamples,
    unreadableExamples: [...unreadable].slice(0, EXAMPLES_MAX),
    lostFraction: acknowledged === 0 ? 0 : lost / acknowledged,
  };
}

export interface RegisterKeyResult {
  readonly key: string;
  readonly writes: number;
  readonly reads: number;
  readonly phantomReads: number;
  readonly rywViolations: number;
  readonly staleReads: number;
}

export interface RegisterResult {
  readonly writes: number;
  readonly reads: number;
  readonly phantomReads: number;
  readonly rywViolations: number;
  readonly staleReads: number;
  readonly perKey: RegisterKeyResult[];
  readonly phantomExamples: string[];
  readonly rywExamples: string[];
}

interface WriteInfo {
  readonly value: string;
  readonly invokeT: number;
  /** Completion time; Infinity when the write may still take effect (info or pending). */
  readonly completeT: number;
  readonly ok: boolean;
  readonly failed: boolean;
}

export function checkRegister(entries: readonly HistoryEntry[]): RegisterResult {
  const ops = pairOps(entries).filter((op) => op.invoke.f === 'write' || op.invoke.f === 'read');
  const writesByKey = new Map<string, Map<string, WriteInfo>>();
  for (const op of ops) {
    if (op.invoke.f !== 'write') continue;
    const value = op.invoke.value;
    if (value === null) throw new RangeError(`history: write ${op.invoke.id} has no value`);
    let m = writesByKey.get(op.invoke.key);
    if (m === undefined) writesByKey.set(op.invoke.key, (m = new Map()));
    const type = op.done?.type ?? 'info';
    m.set(value, {
      value, invokeT: op.invoke.t,
      completeT: type === 'info' ? Number.POSITIVE_INFINITY : (op.done?.t ?? Number.POSITIVE_INFINITY),
      ok: type === 'ok', failed: type === 'fail',
    });
  }
  const perKey = new Map<string, { writes: number; reads: number; phantomReads: number; rywViolations: number; staleReads: number }>();
  const keyStats = (key: string) => {
    let s = perKey.get(key);
    if (s === undefined) perKey.set(key, (s = { writes: 0, reads: 0, phantomReads: 0, rywViolations: 0, staleReads: 0 }));
    return s;
  };
  const phantomExamples: string[] = [], rywExamples: string[] = [];
  // Last acknowledged own write per process and key.
  const lastOwn = new Map<string, WriteInfo>();
  for (const op of ops) {
    const key = op.invoke.key;
    const stats = keyStats(key);
    const writes = writesByKey.get(key) ?? new Map<string, WriteInfo>();
    if (op.invoke.f === 'write') {
      stats.writes++;
      if (op.done?.type === 'ok' && op.invoke.value !== null) {
        const w = writes.get(op.invoke.value);
        if (w !== undefined) lastOwn.set(`${op.invoke.process}\u0000${key}`, w);
      }
      continue;
    }
    if (op.done?.type !== 'ok') continue;
    stats.reads++;
    const readInvokeT = op.invoke.t;
    const readCompleteT = op.done.t;
    const values = op.done.values ?? [];
    // Phantom: a value with no write invoked before this read completed.
    for (const v of values) {
      const w = writes.get(v);
      if (w === undefined || w.invokeT > readCompleteT) {
        stats.phantomReads++;
        if (phantomExamples.length < EXAMPLES_MAX) phantomExamples.push(`${key}: read op ${op.invoke.id} (process ${op.invoke.process}, node ${op.invoke.node}) returned ${v}`);
      }
    }
    // Read-your-writes: the own acknowledged write, or something not over before it began.
    const own = lastOwn.get(`${op.invoke.process}\u0000${key}`);
    if (own !== undefined) {
      const satisfied = values.some((v) => {
        if (v === own.value) return true;
        const w = writes.get(v);
        return w !== undefined && w.completeT > own.invokeT;
      });
      if (!satisfied) {
        stats.rywViolations++;
        if (rywExamples.length < EXAMPLES_MAX) rywExamples.push(`${key}: process ${op.invoke.process} wrote ${own.value} (ok), then read op ${op.invoke.id} via node ${op.invoke.node} returned [${values.join(',')}]`);
      }
    }
    // Stale: every returned value was over before some acknowledged write that ended before this read began.
    let frontierInvokeT = Number.NEGATIVE_INFINITY;
    for (const w of writes.values()) if (w.ok && w.completeT < readInvokeT && w.invokeT > frontierInvokeT) frontierInvokeT = w.invokeT;
    if (frontierInvokeT !== Number.NEGATIVE_INFINITY) {
      const fresh = values.some((v) => {
        const w = writes.get(v);
        return w !== undefined && w.completeT >= frontierInvokeT;
      });
      if (!fresh) stats.staleReads++;
    }
  }
  const keys = [...perKey.entries()].map(([key, s]) => ({ key, ...s })).sort((a, b) => a.key.localeCompare(b.key));
  const sum = (f: (k: RegisterKeyResult) => number) => keys.reduce((acc, k) => acc + f(k), 0);
  return {
    writes: sum((k) => k.writes), reads: sum((k) => k.reads), phantomReads: sum((k) => k.phantomReads),
    rywViolations: sum((k) => k.rywViolations), staleReads: sum((k) => k.staleReads),
    perKey: keys, phantomExamples, rywExamples,
  };
}

export interface ConvergenceResult {
  /** False when the run never healed (nothing to measure). */
  readonly measured: boolean;
  /**
   * Passive phase (no key read, so nothing repaired by measuring): ms from the heal until hint
   * queues were empty, and until the last repair the counters showed. `passiveMs` is the later
   * of the two: the estimate of when every replica agreed. Null when the system has no counters.
   */
  readonly hintsDrainedMs: number | null;
  readonly lastRepairMs: number | null;
  readonly passiveMs: number | null;
  /** False when the passive phase hit its timeout instead of a quiet window. */
  readonly passiveQuiet: boolean;
  readonly keys: number;
  readonly convergedKeys: number;
  /** Keys whose replicas all answered and still disagreed at the first probe after the passive phase. */
  readonly disagreeingAtFirstProbe: number;
  /** Keys some replica did not answer for in that round (null: older histories did not separate them). */
  readonly unansweredAtFirstProbe: number | null;
  readonly notConverged: string[];
  /** Per key, ms from the probe start (the heal when there was no passive phase) until every replica agreed. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly perKeyMs: number[];
}

export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? null;
}

export function checkConvergence(entries: readonly HistoryEntry[]): ConvergenceResult {
  let healedT: number | null = null;
  let probeT: number | null = null;
  let drainedT: number | null = null;
  let lastRepairT: number | null = null;
  let quiet = false;
  let sawPassive = false;
  let disagreeing = 0;
  let unanswered: number | null = 0;
  const converged = new Map<string, number>();
  const notConverged: string[] = [];
  let keysTotal = 0;
  for (const e of entries) {
    if (e.type !== 'phase') continue;
    switch (e.name) {
      case 'healed': healedT = e.t; break;
      case 'hints-drained': drainedT = e.t; sawPassive = true; break;
      case 'repair-seen': lastRepairT = e.t; sawPassive = true; break;
      case 'passive-quiet': quiet = true; sawPassive = true; break;
      case 'passive-timeout': sawPassive = true; break;
      case 'probe-start': probeT = e.t; break;
      case 'first-probe-done': {
        // "differ:unanswered"; older histories wrote one number covering both.
        const [d, u] = (e.detail ?? '0').split(':');
        disagreeing = Number(d);
        unanswered = u === undefined ? null : Number(u);
        break;
      }
      case 'key-converged': {
        const from = probeT ?? healedT;
        if (e.key !== undefined && from !== null) converged.set(e.key, e.t - from);
        break;
      }
      case 'not-converged': if (e.key !== undefined) notConverged.push(e.key); break;
      case 'converged': if (e.detail !== undefined) keysTotal = Number(e.detail); break;
      default: break;
    }
  }
  const perKeyMs = [...converged.values()].sort((a, b) => a - b);
  const since = (t: number | null) => (t === null || healedT === null ? null : t - healedT);
  const hintsDrainedMs = since(drainedT);
  const lastRepairMs = lastRepairT === null ? (sawPassive ? 0 : null) : since(lastRepairT);
  const passiveMs = !sawPassive || hintsDrainedMs === null ? null : Math.max(hintsDrainedMs, lastRepairMs ?? 0);
  return {
    measured: healedT !== null,
    hintsDrainedMs, lastRepairMs, passiveMs, passiveQuiet: quiet,
    keys: Math.max(keysTotal, converged.size + notConverged.length),
    convergedKeys: converged.size,
    disagreeingAtFirstProbe: disagreeing,
    unansweredAtFirstProbe: unanswered,
    notConverged: notConverged.slice(0, EXAMPLES_MAX),
    p50Ms: quantile(perKeyMs, 0.5), p99Ms: quantile(perKeyMs, 0.99), maxMs: perKeyMs.at(-1) ?? null,
    perKeyMs,
  };
}

export interface NemesisSummary {
  readonly faultEvents: number;
  readonly byFault: Record<string, number>;
}

export function summarizeNemesis(entries: readonly HistoryEntry[]): NemesisSummary {
  const byFault: Record<string, number> = {};
  let faultEvents = 0;
  for (const e of entries) {
    if (e.type !== 'nemesis' || e.phase !== 'start') continue;
    faultEvents++;
    byFault[e.fault] = (byFault[e.fault] ?? 0) + 1;
  }
  return { faultEvents, byFault };
}

export interface OpCounts {
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  readonly pending: number;
  readonly errors: Record<string, number>;
}

export function countOps(entries: readonly HistoryEntry[]): OpCounts {
  let ok = 0, fail = 0, info = 0, pending = 0;
  const errors: Record<string, number> = {};
  for (const op of pairOps(entries)) {
    if (op.invoke.f === 'final-read') continue;
    const type = op.done?.type;
    if (type === undefined) pending++;
    else if (type === 'ok') ok++;
    else {
      if (type === 'fail') fail++;
      else info++;
      const code = `${type}:${op.done?.error ?? '?'}`;
      errors[code] = (errors[code] ?? 0) + 1;
    }
  }
  return { ok, fail, info, pending, errors };
}
