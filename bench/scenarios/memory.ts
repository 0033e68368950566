/**
 * Scenario 4, `memory`: bytes per key. 1,000,000 keys of 16 bytes (key:%012d) with 100-byte
 * values are loaded with the harness's pipelined loader into a freshly started ringkv (memory
 * engine) and redis-server (persistence off), one system at a time, alternating per round.
 *
 * Per key = (after load - before load) / keys, so the empty process's footprint is not charged
 * to keys. Figures: process RSS for both; Redis's INFO used_memory; ringkv's V8 heap used from
 * its /metrics (and INFO used_memory if ringkv reports one). RSS after loading includes garbage
 * V8 has not collected yet: the harness waits a few seconds first, and says so in the results.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { command, info, loadKeys } from '../lib/resp-client.js';
import { mdTable, type RunOptions, type ScenarioReport } from '../lib/scenario.js';
import { fmtBytes, fmtFixed, fmtInt, fmtRatio, fmtSummary, summarize } from '../lib/stats.js';
import { HOST, SYSTEMS, type RunningSystem, type SystemSpec } from '../lib/systems.js';

const KEYS = 1_000_000;
const SMOKE_KEYS = 20_000;
const VALUE_BYTES = 100;
const BATCH = 1000;
const SETTLE_MS = 3000;

interface MemorySample {
  round: number;
  system: string;
  keys: number;
  dbsize: number | undefined;
  rssBefore: number;
  rssAfter: number;
  usedMemoryBefore: number | undefined;
  usedMemoryAfter: number | undefined;
  heapBefore: number | undefined;
  heapAfter: number | undefined;
  loadSec: number;
}

/** V8 heap used from a Prometheus text page (prom-client's nodejs_heap_size_used_bytes, any prefix). */
export function heapUsedFromMetrics(text: string): number | undefined {
  const m = /^(?:\w+_)?nodejs_heap_size_used_bytes(?:\{[^}]*\})?\s+([0-9.eE+]+)\s*$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function heapUsed(sys: RunningSystem): Promise<number | undefined> {
  if (sys.httpPort === undefined) return undefined;
  try {
    const res = await fetch(`http://${HOST}:${sys.httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    return heapUsedFromMetrics(await res.text());
  } catch {
    return undefined;
  }
}

async function usedMemory(sys: RunningSystem): Promise<number | undefined> {
  try {
    const v = (await info(HOST, sys.port, 'memory')).get('used_memory');
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

async function measureOne(spec: SystemSpec, round: number, keys: number, opts: RunOptions, failures: string[]): Promise<MemorySample | undefined> {
  const sys = await spec.start(opts.ctx);
  try {
    await sleep(opts.smoke ? 200 : 1000);
    const rssBefore = sys.rssBytes();
    const usedMemoryBefore = await usedMemory(sys);
    const heapBefore = await heapUsed(sys);
    const load = await loadKeys(HOST, sys.port, { count: keys, valueBytes: VALUE_BYTES, batch: BATCH });
    if (load.errorReplies > 0) failures.push(`${spec.id} round ${round}: ${load.errorReplies} SETs failed, first: ${load.firstError ?? ''}`);
    const db = await command(HOST, sys.port, ['DBSIZE']).catch(() => undefined);
    const dbsize = db?.kind === 'integer' ? db.value : undefined;
    if (dbsize !== undefined && dbsize !== keys) failures.push(`${spec.id} round ${round}: DBSIZE ${dbsize}, expected ${keys}`);
    await sleep(opts.smoke ? 200 : SETTLE_MS);
    const sample: MemorySample = {
      round, system: spec.id, keys, dbsize,
      rssBefore, rssAfter: sys.rssBytes(),
      usedMemoryBefore, usedMemoryAfter: await usedMemory(sys),
      heapBefore, heapAfter: await heapUsed(sys),
      loadSec: load.wallSec,
    };
    opts.log(`memory r${round} ${spec.id}: ${fmtInt(keys)} keys in ${load.wallSec.toFixed(1)} s, RSS ${fmtBytes(sample.rssBefore)} -> ${fmtBytes(sample.rssAfter)} (${((sample.rssAfter - sample.rssBefore) / keys).toFixed(1)} B/key)`);
    return sample;
  } finally {
    await sys.stop();
  }
}

const perKey = (before: number | undefined, after: number | undefined, keys: number): number | undefined =>
  before === undefined || after === undefined ? undefined : (after - before) / keys;

export const memory = {
  name: 'memory',
  title: 'Memory per key: ringkv memory engine vs redis-server',
  runnable: true as const,
  needs: ['redis-server'] as const,
  async run(opts: RunOptions): Promise<ScenarioReport> {
    const keys = opts.smoke ? SMOKE_KEYS : Math.max(1000, Math.round(KEYS * opts.scale));
    const rounds = opts.smoke ? 1 : opts.rounds;
    const systems = [SYSTEMS.ringkvMemory, SYSTEMS.redis];
    const report: ScenarioReport = {
      name: 'memory', title: 'Memory per key: ringkv memory engine vs redis-server',
      description: [
        `${fmtInt(keys)} keys (16-byte key:%012d) with ${VALUE_BYTES}-byte values, SET by a pipelined loader`,
        `(${BATCH} commands per batch, one connection) into a freshly started server; figures are`,
        `(after - before) / keys, measured ${SETTLE_MS / 1000} s after the load. RSS of a Node process includes`,
        'garbage not yet collected; "heap used" is V8\'s live-and-unswept heap from /metrics.',
      ],
      systems: [], commands: [], sections: [], summary: [], failures: [], raw: undefined,
    };
    const samples: MemorySample[] = [];
    try {
      for (let round = 1; round <= rounds; round++) {
        for (const spec of systems) {
          opts.log(`memory r${round}: ${spec.id}`);
          const s = await measureOne(spec, round, keys, opts, report.failures);
          if (s) samples.push(s);
        }
      }
    } catch (err) {
      report.failures.push(err instanceof Error ? err.message : String(err));
    }
    for (const spec of systems) report.systems.push({ id: spec.id, label: spec.label, commandLine: '(started fresh for each round, see the other scenarios for the command line)' });
    report.commands.push(`loader: SET key:%012d <${VALUE_BYTES} bytes> for 0..${keys - 1}, ${BATCH} per pipelined batch; then DBSIZE, INFO memory, GET /metrics`);
    const rows = systems.map((spec) => {
      const ss = samples.filter((s) => s.system === spec.id);
      return [
        spec.id,
        fmtSummary(summarize(ss.map((s) => s.dbsize)), fmtInt),
        fmtSummary(summarize(ss.map((s) => s.rssBefore)), fmtBytes),
        fmtSummary(summarize(ss.map((s) => s.rssAfter)), fmtBytes),
        fmtSummary(summarize(ss.map((s) => perKey(s.rssBefore, s.rssAfter, s.keys))), fmtFixed(1)),
        fmtSummary(summarize(ss.map((s) => perKey(s.usedMemoryBefore, s.usedMemoryAfter, s.keys))), fmtFixed(1)),
        fmtSummary(summarize(ss.map((s) => perKey(s.heapBefore, s.heapAfter, s.keys))), fmtFixed(1)),
        fmtSummary(summarize(ss.map((s) => s.loadSec)), fmtFixed(1)),
      ];
    });
    const ratio = (key: 'rss' | 'used'): Array<number | undefined> => samples.filter((s) => s.system === 'ringkv-memory').map((a) => {
      const b = samples.find((s) => s.system === 'redis' && s.round === a.round);
      if (!b) return undefined;
      const num = key === 'rss' ? perKey(a.rssBefore, a.rssAfter, a.keys) : perKey(a.heapBefore, a.heapAfter, a.keys) ?? perKey(a.usedMemoryBefore, a.usedMemoryAfter, a.keys);
      const den = key === 'rss' ? perKey(b.rssBefore, b.rssAfter, b.keys) : perKey(b.usedMemoryBefore, b.usedMemoryAfter, b.keys);
      return num !== undefined && den !== undefined && den > 0 ? num / den : undefined;
    });
    const rssRatio = summarize(ratio('rss'));
    const accountedRatio = summarize(ratio('used'));
    report.sections.push([
      mdTable(['system', 'DBSIZE', 'RSS before', 'RSS after', 'RSS B/key', 'INFO used_memory B/key', 'heap used B/key', 'load s'], rows),
      '',
      mdTable(['ratio ringkv-memory / redis', 'median [min–max]'], [
        ['RSS bytes per key', fmtSummary(rssRatio, fmtRatio)],
        ['heap used (ringkv) / used_memory (redis) per key', fmtSummary(accountedRatio, fmtRatio)],
      ]),
    ].join('\n'));
    const rssOf = (id: string): string => fmtSummary(summarize(samples.filter((s) => s.system === id).map((s) => perKey(s.rssBefore, s.rssAfter, s.keys))), fmtFixed(1));
    report.summary.push({
      scenario: 'memory', case: `${fmtInt(keys)} keys, 16 B key, ${VALUE_BYTES} B value`, pair: 'ringkv-memory / redis',
      metric: 'RSS bytes/key', numerator: rssOf('ringkv-memory'), denominator: rssOf('redis'), ratio: fmtSummary(rssRatio, fmtRatio),
    });
    report.raw = samples;
    return report;
  },
};
