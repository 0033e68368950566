/**
 * Membership figures, measured on the deterministic membership simulator (no real network):
 * - crash detection: periods until every live node sees a crashed member dead (p50/p99), 10 and
 *   100 nodes;
 * - false alarms per node-hour under 10/20/30% independent message loss (no crashes, so every
 *   suspicion and every death is false);
 * - dissemination: periods until one fresh update reaches every node, 10/100/1000 nodes, with
 *   the most times any node sent it against its retransmit limit.
 * Times are in probe periods (probeIntervalMs = 1000 ms by default), messages take 1-10 ms.
 * Usage: node --import tsx bench/membership-figures.ts [--quick] [--json]
 */
import { quantile } from '../test/sim/membership/membership-sim.js';
import { crashDetection, dissemination, falseAlarms } from '../test/sim/membership/scenarios.js';

const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : 'inf');
const log = (s: string): void => {
  if (!asJson) process.stdout.write(`${s}\n`);
};
const started = performance.now();
const results: Record<string, unknown> = {};

log('# Crash detection (periods from crash until every live node sees it dead)');
log('nodes  loss  runs  first-p50  all-p50  all-p99  all-max  false-deaths');
for (const [nodes, lossRate, runs] of [[10, 0, quick ? 20 : 200], [100, 0, quick ? 4 : 100], [10, 0.2, quick ? 20 : 200]] as const) {
  const first: number[] = [];
  const all: number[] = [];
  let falseDeaths = 0;
  for (let seed = 1; seed <= runs; seed++) {
    const r = crashDetection(seed, nodes, { lossRate });
    first.push(r.firstDeadPeriods);
    all.push(r.allDeadPeriods);
    falseDeaths += r.falseDeaths;
  }
  const row = { nodes, lossRate, runs, firstP50: quantile(first, 0.5), allP50: quantile(all, 0.5), allP99: quantile(all, 0.99), allMax: Math.max(...all), falseDeaths };
  results[`detection_${nodes}_${lossRate}`] = row;
  log(`${String(nodes).padStart(5)}  ${fmt(lossRate * 100, 0).padStart(3)}%  ${String(runs).padStart(4)}  ${fmt(row.firstP50).padStart(9)}  ${fmt(row.allP50).padStart(7)}  ${fmt(row.allP99).padStart(7)}  ${fmt(row.allMax).padStart(7)}  ${String(falseDeaths).padStart(12)}`);
}

log('');
log('# False alarms per node-hour (no crashes; independent loss on every message)');
const hourMs = quick ? 600_000 : 3_600_000;
/** Sum several seeded one-hour runs so rare events (false deaths) get a real denominator. */
function falseAlarmRow(nodes: number, loss: number, seeds: number, config: Record<string, number> = {}) {
  let nodeHours = 0;
  let suspicions = 0;
  let suspectViews = 0;
  let deaths = 0;
  let refutations = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = falseAlarms(1000 * seed + nodes, nodes, loss, hourMs, { config });
    nodeHours += r.nodeHours;
    suspicions += r.suspicionsRaised;
    suspectViews += r.suspectTransitions;
    deaths += r.deadTransitions;
    refutations += r.refutations;
  }
  return { nodes, loss, nodeHours, suspicionsPerNodeHour: suspicions / nodeHours, suspectViewsPerNodeHour: suspectViews / nodeHours, deaths, deathsPerNodeHour: deaths / nodeHours, refutationsPerNodeHour: refutations / nodeHours, ...config };
}
const printFalse = (label: string, row: ReturnType<typeof falseAlarmRow>): void => {
  log(`${String(row.nodes).padStart(5)}  ${fmt(row.loss * 100, 0).padStart(3)}%  ${fmt(row.nodeHours).padStart(10)}  ${fmt(row.suspicionsPerNodeHour).padStart(13)}  ${fmt(row.suspectViewsPerNodeHour).padStart(16)}  ${`${row.deaths} (${fmt(row.deathsPerNodeHour, 3)})`.padStart(12)}  ${fmt(row.refutationsPerNodeHour).padStart(14)}${label}`);
};
log('nodes  loss  node-hours  suspicions/nh  suspect-views/nh  deaths (/nh)  refutations/nh');
for (const [nodes, seeds] of [[10, quick ? 1 : 4], [30, quick ? 1 : 2]] as const) {
  for (const loss of [0.1, 0.2, 0.3]) {
    const row = falseAlarmRow(nodes, loss, seeds);
    results[`false_${nodes}_${loss}`] = row;
    printFalse('', row);
  }
}

{
  // Why Lifeguard's local health is off by default: under uniform loss it raises false deaths.
  const row = falseAlarmRow(10, 0.3, quick ? 1 : 4, { healthMax: 8 });
  results['false_10_0.3_health8'] = row;
  printFalse('  (with local health, healthMax 8)', row);
}

log('');
log('# Dissemination (periods until one fresh update reaches every node; lossless)');
log('nodes  runs  log2(n)  p50  max  max-sends/node  retransmit-limit');
for (const [nodes, runs] of [[10, quick ? 5 : 30], [100, quick ? 3 : 10], [1000, quick ? 1 : 3]] as const) {
  const periods: number[] = [];
  let maxSends = 0;
  let limit = 0;
  let missing = 0;
  for (let seed = 1; seed <= runs; seed++) {
    const r = dissemination(seed, nodes);
    periods.push(r.periods);
    maxSends = Math.max(maxSends, r.maxSendsPerNode);
    limit = r.retransmitLimit;
    missing += r.missing;
  }
  const row = { nodes, runs, log2n: Math.log2(nodes), p50: quantile(periods, 0.5), max: Math.max(...periods), maxSendsPerNode: maxSends, retransmitLimit: limit, missing };
  results[`dissemination_${nodes}`] = row;
  log(`${String(nodes).padStart(5)}  ${String(runs).padStart(4)}  ${fmt(row.log2n).padStart(7)}  ${fmt(row.p50).padStart(3)}  ${fmt(row.max).padStart(3)}  ${String(maxSends).padStart(14)}  ${String(limit).padStart(16)}${missing > 0 ? `  (MISSING ${missing})` : ''}`);
}

const elapsedS = (performance.now() - started) / 1000;
results['elapsed_s'] = elapsedS;
if (asJson) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
else log(`\n(${fmt(elapsedS)} s wall)`);
