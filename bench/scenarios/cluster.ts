/**
 * Scenario 5, `cluster`: a 3-node ringkv cluster (N=3, R=2, W=2, every node coordinating any key)
 * against its two peers, each in its own session so idle systems of one comparison do not share
 * the machine with the other:
 *
 * 1. vs Redis Cluster (3 masters + 3 replicas, asynchronous replication, persistence off):
 *    redis-benchmark -c 50 -r 100000 -d 100, SET then GET, at -P 1 and -P 16, ringkv with its
 *    memory engine. Redis acknowledges a write after one node; ringkv after two of three.
 * 2. vs etcd (3 members, every write on a majority's disk): writes only, one Node driver for both
 *    (64 closed loops in 2 processes, SET over RESP / PUT over etcd's JSON gateway, 100-byte
 *    values), ringkv with rocksdb and --durability fsync so both sync before acknowledging.
 */
import { prestart, runClusterPlan, type ClusterPlan, type PlanResult } from '../lib/cluster-rounds.js';
import type { RunOptions, ScenarioReport } from '../lib/scenario.js';
import {
  benchmarkCase, CLUSTER_PROGRAMS, driverCase, ETCD, ETCD_PROGRAMS, REDIS_CLUSTER, RINGKV_CLUSTER_FSYNC, RINGKV_CLUSTER_MEMORY, ringkvClusterBlocked,
} from './cluster-common.js';
import { REBALANCE_RINGKV_CLUSTER } from './rebalance.js';

const TITLE = '3-node cluster: ringkv N=3 R=2 W=2 vs Redis Cluster 3+3 and vs etcd 3 members (writes)';

function redisPlan(blocked: ReadonlyMap<string, string>): ClusterPlan {
  const systems = ['ringkv-cluster', 'redis-cluster'] as const;
  const cases = [1, 16].flatMap((pipeline) => (['set', 'get'] as const).map((test) => benchmarkCase({
    id: `${test.toUpperCase()} -P ${pipeline}`, systems, smokeRequests: 2000,
    load: { clients: 50, requests: 200_000, keyspace: 100_000, valueBytes: 100, pipeline, test },
  })));
  return { name: 'cluster', systems: [RINGKV_CLUSTER_MEMORY, REDIS_CLUSTER], cases, pairs: [['ringkv-cluster', 'redis-cluster']], latency: false, blocked };
}

function etcdPlan(blocked: ReadonlyMap<string, string>): ClusterPlan {
  const systems = ['ringkv-cluster-fsync', 'etcd'] as const;
  return {
    name: 'cluster', systems: [RINGKV_CLUSTER_FSYNC, ETCD], latency: false, blocked,
    pairs: [['ringkv-cluster-fsync', 'etcd']],
    cases: [driverCase({
      id: 'durable writes, driver', systems, processes: 2,
      title: 'Node driver, 64 closed loops in 2 processes, 64 connections over all members, SET/PUT key:%012d (-r 100000) 100-byte value, 10 s',
      spec: { mode: { kind: 'closed', loops: 64 }, op: 'set', keyspace: 100_000, valueBytes: 100, connections: 64, warmupMs: 1000, durationMs: 10_000 },
      smoke: { durationMs: 1000, warmupMs: 200 },
    })],
  };
}

export const cluster = {
  name: 'cluster',
  title: TITLE,
  runnable: true as const,
  needs: [...CLUSTER_PROGRAMS, ...ETCD_PROGRAMS],
  async run(opts: RunOptions): Promise<ScenarioReport> {
    const why = ringkvClusterBlocked(opts.ctx);
    const blocked = new Map<string, string>(why === undefined ? [] : [['ringkv-cluster', why], ['ringkv-cluster-fsync', why]]);
    const results: PlanResult[] = [];
    // Smoke: every system of both sessions (and latency's, the same as session 1, and rebalance's
    // first cluster) starts at once.
    prestart([RINGKV_CLUSTER_MEMORY, REDIS_CLUSTER, RINGKV_CLUSTER_FSYNC, ETCD, REBALANCE_RINGKV_CLUSTER].filter((x) => !blocked.has(x.id) && (why === undefined || x.kind !== 'ringkv')), opts);
    results.push(await runClusterPlan(redisPlan(blocked), opts));
    results.push(await runClusterPlan(etcdPlan(blocked), opts));
    const notes = results.flatMap((r) => r.notes);
    return {
      name: 'cluster', title: TITLE,
      description: [
        'Two sessions, each with only its two systems running: (1) ringkv (memory engine) vs Redis Cluster',
        'under redis-benchmark, SET then GET at -P 1 and -P 16; (2) ringkv (rocksdb, --durability fsync) vs',
        'etcd, writes through the same Node driver (bench/lib/driver.ts) for both. Redis acknowledges a write',
        'on one node (replication is asynchronous); ringkv on two of three (W=2); etcd on a majority after fsync.',
        'Server CPU is summed over all processes of a system.',
        ...(notes.length > 0 ? ['', ...notes.map((n) => `**Not measured:** ${n}`)] : []),
      ],
      systems: results.flatMap((r) => r.systems),
      commands: results.flatMap((r) => r.commands),
      sections: results.flatMap((r) => r.sections),
      summary: results.flatMap((r) => r.summary),
      failures: results.flatMap((r) => r.failures),
      raw: results.flatMap((r) => r.samples),
    };
  },
};
