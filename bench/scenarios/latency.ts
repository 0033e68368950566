/**
 * Scenario 7, `latency`: latency under a fixed moderate rate on the 3-node cluster. An open-loop
 * driver (bench/lib/driver.ts) issues 20,000 ops/s for 10 s regardless of replies, SET then GET,
 * 100-byte values, key:%012d over 100,000 keys; latency runs from each op's intended start
 * (coordinated omission corrected) into an HDR histogram: p50, p99, p99.9. The same at 2,000
 * ops/s, within what the ringkv cluster serves on a 2-core machine. ringkv (N=3 R=2 W=2,
 * memory engine, ops spread over all nodes) against Redis Cluster (3+3, ops sent to each key's
 * master), interleaved per round. "service p99" is from the actual send: the gap to p99 is the
 * driver's own lag (timers, GC) and queueing behind earlier ops.
 */
import { runClusterPlan, type ClusterPlan } from '../lib/cluster-rounds.js';
import type { RunOptions, ScenarioReport } from '../lib/scenario.js';
import { CLUSTER_PROGRAMS, driverCase, REDIS_CLUSTER, RINGKV_CLUSTER_MEMORY, ringkvClusterBlocked } from './cluster-common.js';

const TITLE = 'Latency at fixed rates (20k and 2k ops/s) on the 3-node cluster: ringkv vs Redis Cluster (p50/p99/p99.9, HDR)';
export const LATENCY_RATE = 20_000;
/**
 * The rate, and a tenth of it: on a 2-core machine a 3-node ringkv cluster of Node
 * processes serves a few thousand quorum ops/s, so at 20k it queues (backlog) and its latency is
 * the queue's; 2k shows latency within its capacity.
 */
export const LATENCY_RATES = [LATENCY_RATE, LATENCY_RATE / 10] as const;

function plan(blocked: ReadonlyMap<string, string>, smoke: boolean): ClusterPlan {
  const systems = ['ringkv-cluster', 'redis-cluster'] as const;
  return {
    name: 'latency', systems: [RINGKV_CLUSTER_MEMORY, REDIS_CLUSTER], latency: true, blocked,
    pairs: [['ringkv-cluster', 'redis-cluster']],
    // Smoke proves the harness with one rate (a tenth of it, for 1 s).
    cases: (smoke ? [LATENCY_RATE] : LATENCY_RATES).flatMap((rate) => (['set', 'get'] as const).map((op) => driverCase({
      id: `${op.toUpperCase()} at ${rate / 1000}k ops/s`, systems, processes: 1,
      title: `open loop ${rate} ops/s for 10 s (2 s warm-up), 48 connections, at most 4096 in flight, ${op.toUpperCase()} 100-byte values over 100,000 keys`,
      spec: { mode: { kind: 'open', rateOpsPerSec: rate, outstandingMax: 4096 }, op, keyspace: 100_000, valueBytes: 100, connections: 48, warmupMs: 2000, durationMs: 10_000 },
      smoke: { durationMs: 1000, warmupMs: 200, rateOpsPerSec: rate / 10 },
    }))),
  };
}

export const latency = {
  name: 'latency',
  title: TITLE,
  runnable: true as const,
  needs: CLUSTER_PROGRAMS,
  async run(opts: RunOptions): Promise<ScenarioReport> {
    const why = ringkvClusterBlocked(opts.ctx);
    const r = await runClusterPlan(plan(new Map(why === undefined ? [] : [['ringkv-cluster', why]]), opts.smoke), opts);
    return {
      name: 'latency', title: TITLE,
      description: [
        `Open-loop driver at ${LATENCY_RATES.join(' and ')} ops/s (smoke: a tenth for 1 s), one driver process, latency from the`,
        'intended start of each op (coordinated omission corrected) into an HDR histogram (1 µs..60 s, 3 digits).',
        '"service p99" counts from the actual send; "backlog" = ops due but not sent or unanswered at the end',
        '(non-zero: the rate was not sustained). The ratio is p99 ringkv / p99 Redis Cluster per round; the',
        'last column is the p99.9 ratio.',
        ...r.notes.map((n) => `\n**Not measured:** ${n}`),
      ],
      systems: r.systems, commands: r.commands, sections: r.sections, summary: r.summary, failures: r.failures, raw: r.samples,
    };
  },
};
