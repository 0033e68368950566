/**
 * `npm run sim -- [--seeds N] [--start S] [--seed S] [--nodes N] [--ops N] [--clients N]
 * [--siblings-max N] [--in-flight-max N] [--mode siblings|lww] [--strict] [--quorum-only] [--dead-only] [--no-anti-entropy] [--no-faults] [--topology join|decommission|remove] [--determinism K] [--verbose] [--dump DIR]`:
 * runs seeds start..start+N-1 (or the one seed S), prints per-run totals — seeds, simulated
 * operations, faults by kind, hinted handoff figures (hints written, delivered, expired; time
 * from heal to all hints delivered, p50/p99), checker results — and for a failing seed its
 * replay command and trace tail. `--determinism K` reruns every K-th seed and compares digests.
 * Exit code 1 when any seed failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emptyFaultCounts, type FaultKind } from './simulation.js';
import { failureReport, runSeed } from './run.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    start: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    ops: { type: 'string' },
    mode: { type: 'string' },
    clients: { type: 'string' },
    'siblings-max': { type: 'string' },
    'in-flight-max': { type: 'string' },
    determinism: { type: 'string', default: '10' },
    verbose: { type: 'boolean', default: false },
    /** Strict quorum (owners only, no hints) instead of the default sloppy quorum. */
    strict: { type: 'boolean', default: false },
    /** Every client operation at R = W = QUORUM instead of mixed levels. */
    'quorum-only': { type: 'boolean', default: false },
    /** Nodes route around dead members only, not suspect ones. */
    'dead-only': { type: 'boolean', default: false },
    /** Runs without Merkle anti-entropy (no post-heal convergence check). */
    'no-anti-entropy': { type: 'boolean', default: false },
    /** Runs without injected faults (no crashes, partitions, message loss). */
    'no-faults': { type: 'boolean', default: false },
    /** A ring change during the fault phase: join, decommission or remove. */
    topology: { type: 'string' },
    /** Directory to write each failing seed's history (JSON) into, for offline checking. */
    dump: { type: 'string' },
  },
});

function int(s: string | undefined, name: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer`);
  return n;
}

const overrides: Parameters<typeof runSeed>[1] = {};
const nodes = int(values.nodes, 'nodes');
const ops = int(values.ops, 'ops');
if (nodes !== undefined) overrides.nodes = nodes;
if (ops !== undefined) overrides.ops = ops;
const clients = int(values.clients, 'clients');
const siblingsMax = int(values['siblings-max'], 'siblings-max');
if (clients !== undefined) overrides.clients = clients;
if (siblingsMax !== undefined) overrides.siblingsMax = siblingsMax;
const inFlightMax = int(values['in-flight-max'], 'in-flight-max');
if (inFlightMax !== undefined) overrides.inFlightMax = inFlightMax;
if (values.mode !== undefined) {
  if (values.mode !== 'siblings' && values.mode !== 'lww') throw new RangeError('--mode must be siblings or lww');
  overrides.mode = values.mode;
}
if (values.strict) overrides.sloppy = false;
if (values['quorum-only']) overrides.quorumOnly = true;
if (values['dead-only']) overrides.routeAroundSuspects = false;
if (values['no-anti-entropy']) overrides.antiEntropy = false;
if (values['no-faults']) overrides.faults = false;
if (values.topology !== undefined) {
  if (values.topology !== 'join' && values.topology !== 'decommission' && values.topology !== 'remove') throw new RangeError('--topology must be join, decommission or remove');
  overrides.topology = values.topology;
}
const one = int(values.seed, 'seed');
const start = one ?? int(values.start, 'start') ?? 1;
const count = one !== undefined ? 1 : int(values.seeds, 'seeds') ?? 100;
const detEvery = int(values.determinism, 'determinism') ?? 0;

const faults = emptyFaultCounts();
const checkTotals = new Map<string, { ok: number; failed: number; notApplicable: number }>();
let simulatedOps = 0;
let effects = 0;
let failed = 0;
let determinismRuns = 0;
const outcomes: Record<string, number> = {};
const hints = { written: 0, delivered: 0, expired: 0, refused: 0, acked: 0, hintedPuts: 0, runsWithHints: 0 };
const drainMs: number[] = [];
const convergeMs: number[] = [];
const ae = {
  protocolBytes: 0, transferMessageBytes: 0, transferBytes: 0, usefulBytes: 0, sessionsOpened: 0, sessionsSynced: 0, sessionsAborted: 0, pushes: 0, fetches: 0,
  purges: 0, deadRefused: 0, purgeMessageBytes: 0,
};
const aeAfterHeal = { protocolBytes: 0, transferMessageBytes: 0, transferBytes: 0, usefulBytes: 0 };
let ttlPuts = 0;
let purgedSuperseded = 0;
const routing = { downMarksCrashed: 0, downMarksRunning: 0, downMarksRunningConnected: 0, nodeMs: 0 };
const topo = { runs: 0, moved: 0, ideal: 0, expected: 0, transfers: 0, bytes: 0, handedOff: 0, excused: 0, commitMs: [] as number[] };
const t0 = performance.now();
for (let seed = start; seed < start + count; seed++) {
  const o = runSeed(seed, overrides);
  simulatedOps += o.result.history.ops.length;
  effects += o.result.effects;
  for (const op of o.result.history.ops) outcomes[op.outcome] = (outcomes[op.outcome] ?? 0) + 1;
  for (const [k, v] of Object.entries(o.result.faults)) faults[k as FaultKind] += v;
  for (const k of ['downMarksCrashed', 'downMarksRunning', 'downMarksRunningConnected', 'nodeMs'] as const) routing[k] += o.result.routing[k];
  const hf = o.result.history.handoff;
  if (hf !== undefined) {
    hints.written += hf.written; hints.delivered += hf.delivered; hints.expired += hf.expired;
    hints.refused += hf.refused; hints.acked += hf.acked;
    if (hf.written > 0) hints.runsWithHints++;
    if (hf.drainMs !== null) drainMs.push(hf.drainMs);
  }
  const af = o.result.history.antiEntropy;
  if (af !== undefined) {
    if (af.convergedMs !== null) convergeMs.push(af.convergedMs);
    for (const k of Object.keys(ae) as (keyof typeof ae)[]) ae[k] += af.total[k];
    for (const k of Object.keys(aeAfterHeal) as (keyof typeof aeAfterHeal)[]) aeAfterHeal[k] += af.afterHeal[k];
    for (const p of af.purges ?? []) purgedSuperseded += p.superseded.length;
  }
  const tf = o.result.history.topology;
  if (tf !== undefined) {
    topo.runs++;
    topo.moved += tf.movedKeys; topo.ideal += tf.idealMovedKeys; topo.expected += tf.expectedMovedKeys;
    topo.transfers += tf.transfers; topo.bytes += tf.bytesStreamed; topo.handedOff += tf.handedOff; topo.excused += tf.excusedOnlyOnRemoved;
    if (tf.startedAtMs !== null && tf.committedAtMs !== null) topo.commitMs.push(tf.committedAtMs - tf.startedAtMs);
  }
  hints.hintedPuts += o.result.history.ops.filter((op) => (op.hintedAcks ?? 0) > 0).length;
  ttlPuts += o.result.history.ops.filter((op) => op.expiresAtMs !== undefined).length;
  for (const c of o.checks) {
    const t = checkTotals.get(c.name) ?? { ok: 0, failed: 0, notApplicable: 0 };
    if (!c.applicable) t.notApplicable++;
    else if (c.ok) t.ok++;
    else t.failed++;
    checkTotals.set(c.name, t);
  }
  if (detEvery > 0 && (seed - start) % detEvery === 0) {
    determinismRuns++;
    const again = runSeed(seed, overrides);
    if (again.result.digest !== o.result.digest) {
      failed++;
      console.log(`FAILED seed ${seed}: not deterministic (digest ${o.result.digest} then ${again.result.digest})`);
      continue;
    }
  }
  if (!o.ok) {
    failed++;
    console.log(failureReport(o, overrides));
    if (values.dump !== undefined) {
      mkdirSync(values.dump, { recursive: true });
      const file = join(values.dump, `seed-${seed}.json`);
      writeFileSync(file, JSON.stringify({ history: o.result.history, checks: o.checks, error: o.result.error }, null, 1));
      console.log(`  history written to ${file}`);
    }
  } else if (values.verbose || one !== undefined) {
    console.log(`seed ${seed} ok digest ${o.result.digest} ops ${o.result.history.ops.length} effects ${o.result.effects} simulated ${o.result.simulatedMs} ms`);
  }
}
const secs = (performance.now() - t0) / 1000;
console.log(`seeds ${count} (from ${start}), failed ${failed}, wall ${secs.toFixed(1)} s`);
console.log(`simulated operations ${simulatedOps} (${Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}), node effects ${effects}`);
console.log(`faults injected: ${Object.entries(faults).map(([k, v]) => `${k} ${v}`).join(', ')}`);
const pct = (xs: number[], p: number): string => {
  if (xs.length === 0) return '-';
  const sorted = [...xs].sort((a, b) => a - b);
  return String(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
};
console.log(`hints: writes accepted ${hints.written} (acked ${hints.acked}, refused ${hints.refused}), delivered ${hints.delivered}, expired ${hints.expired}; `
  + `client writes acked with hints ${hints.hintedPuts}; runs with hints ${hints.runsWithHints}`);
console.log(`heal -> all hints delivered (runs holding hints at the heal: ${drainMs.length}): p50 ${pct(drainMs, 50)} ms, p99 ${pct(drainMs, 99)} ms, max ${pct(drainMs, 100)} ms (simulated; 50 ms polling)`);
if (convergeMs.length > 0) {
  convergeMs.sort((a, b) => a - b);
  const ratio = (p: number, t: number, u: number): string => (u === 0 ? 'n/a' : ((p + t) / u).toFixed(1));
  console.log(`anti-entropy: heal -> every key's replicas equal (${convergeMs.length} runs): p50 ${pct(convergeMs, 50)} ms, p99 ${pct(convergeMs, 99)} ms, `
    + `max ${pct(convergeMs, 100)} ms (simulated; 50 ms polling)`);
  console.log(`anti-entropy: sessions opened ${ae.sessionsOpened}, synced ${ae.sessionsSynced}, aborted ${ae.sessionsAborted}; pushes ${ae.pushes}, fetches ${ae.fetches}`);
  // Wire bytes: tree messages plus session transfer messages (records batched with their keys,
  // acks, wants); "different" = key + record bytes whose merge changed the receiver. Purge
  // prepares are counted apart (tombstone GC, not synchronisation).
  console.log(`anti-entropy bytes, whole run: tree protocol ${ae.protocolBytes}, transfer messages ${ae.transferMessageBytes} (records in them ${ae.transferBytes}), `
    + `records that changed the receiver ${ae.usefulBytes}; exchanged/different ${ratio(ae.protocolBytes, ae.transferMessageBytes, ae.usefulBytes)}, `
    + `records sent/different ${ratio(0, ae.transferBytes, ae.usefulBytes)}`);
  console.log(`anti-entropy bytes, after the heal: tree protocol ${aeAfterHeal.protocolBytes}, transfer messages ${aeAfterHeal.transferMessageBytes}, changed ${aeAfterHeal.usefulBytes}; `
    + `exchanged/different ${ratio(aeAfterHeal.protocolBytes, aeAfterHeal.transferMessageBytes, aeAfterHeal.usefulBytes)}`);
  console.log(`tombstone GC: dead records purged ${ae.purges} (their records had superseded ${purgedSuperseded} put values), purged records brought back and refused ${ae.deadRefused}, `
    + `prepare bytes ${ae.purgeMessageBytes}; TTL puts ${ttlPuts}`);
}
const nodeHours = routing.nodeMs / 3_600_000;
console.log(`routing (membership in every node): started routing around a crashed member ${routing.downMarksCrashed} times, a running one ${routing.downMarksRunning} times `
  + `(${routing.downMarksRunningConnected} while the network connected the two); per node-hour: ${(routing.downMarksRunning / nodeHours).toFixed(0)} running, `
  + `${(routing.downMarksRunningConnected / nodeHours).toFixed(0)} connected (simulated ${nodeHours.toFixed(2)} node-hours)`);
if (topo.runs > 0) {
  console.log(`topology (${topo.runs} runs, ${values.topology}): change start -> first commit p50 ${pct(topo.commitMs, 50)} ms, p99 ${pct(topo.commitMs, 99)} ms, `
    + `max ${pct(topo.commitMs, 100)} ms (simulated, under faults)`);
  console.log(`topology: moved (gainer, key) pairs ${topo.moved}, ideal ${topo.ideal} (moved/ideal ${(topo.moved / Math.max(1, topo.ideal)).toFixed(3)}; `
    + `expected keys x moved fraction ${topo.expected.toFixed(1)}); record copies pulled ${topo.transfers} (${(topo.transfers / Math.max(1, topo.moved)).toFixed(2)} per moved pair), `
    + `${topo.bytes} bytes; handed off and purged ${topo.handedOff}; acked writes only the removed member held ${topo.excused}`);
}
for (const [name, t] of checkTotals) console.log(`checker "${name}": ok ${t.ok}, failed ${t.failed}, not applicable ${t.notApplicable}`);
console.log(`determinism reruns ${determinismRuns}`);
process.exitCode = failed > 0 ? 1 : 0;
