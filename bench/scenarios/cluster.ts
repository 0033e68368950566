/**
 * Scenario 5, `cluster` and `cluster-etcd`: a 3-node ringkv cluster (N=3, R=2, W=2, every node
 * coordinating any key) against its two peers, one scenario each, so idle systems of one
 * comparison do not share the machine with the other:
 *
 * 1. vs Redis Cluster (3 masters + 3 replicas, asynchronous replication, persistence off):
 *    redis-benchmark -c 50 -r 100000 -d 100, SET then GET, at -P 1 and -P 16, ringkv with its
 *    memory engine. Redis acknowledges a write after one node; ringkv after two of three.
 * 2. vs etcd (3 members, every write on a majority's disk): writes only, one Node driver for both
 *    (64 closed loops in 2 processes, SET over RESP / PUT over etcd's JSON gateway, 100-byte
 *    values), ringkv with rocksdb and --durability fsync so both sync before acknowledging.
 */
import { prestart, runClusterPlan, type ClusterPlan } from '../lib/cluster-rounds.js';
import type { RunOptions, ScenarioReport } from '../lib/scenario.js';
import {
  benchmarkCase, CLUSTER_PROGRAMS, driverCase, ETCD, ETCD_PROGRAMS, REDIS_CLUSTER, RINGKV_CLUSTER_FSYNC, RINGKV_CLUSTER_MEMORY, ringkvClusterBlocked,
} from './cluster-common.js';
import { REBALANCE_RINGKV_CLUSTER } from './rebalance.js';

const TITLE = '3-node cluster: ringkv N=3 R=2 W=2 vs Redis Cluster 3 masters + 3 replicas';

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
    name: 'cluster-etcd', systems: [RINGKV_CLUSTER_FSYNC, ETCD], latency: false, blocked,
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
  needs: CLUSTER_PROGRAMS,
  async run(opts: RunOptions): Promise<ScenarioReport> {
    const why = ringkvClusterBlocked(opts.ctx);
    const blocked = new Map<string, string>(why === undefined ? [] : [['ringkv-cluster', why]]);
    // Smoke: the systems of this scenario, of cluster-etcd, latency (the same as this one's) and
    // rebalance's first cluster start at once.
    prestart([RINGKV_CLUSTER_MEMORY, REDIS_CLUSTER, RINGKV_CLUSTER_FSYNC, ETCD, REBALANCE_RINGKV_CLUSTER].filter((x) => why === undefined || x.kind !== 'ringkv'), opts);
    const r = await runClusterPlan(redisPlan(blocked), opts);
    return {
      name: 'cluster', title: TITLE,
      description: [
        'ringkv (memory engine) vs Redis Cluster under redis-benchmark, SET then GET at -P 1 and -P 16. Redis',
        'acknowledges a write on one node (replication is asynchronous); ringkv on two of three (W=2).',
        'Server CPU is summed over all processes of a system. The durable-writes comparison with etcd is',
        'scenario `cluster-etcd`.',
        ...(r.notes.length > 0 ? ['', ...r.notes.map((n) => `**Not measured:** ${n}`)] : []),
      ],
      systems: r.systems, commands: r.commands, sections: r.sections, summary: r.summary, failures: r.failures, raw: r.samples,
    };
  },
};

const ETCD_TITLE = '3-node cluster, durable writes: ringkv N=3 W=2 --durability fsync vs etcd 3 members, one Node driver for both';

export const clusterEtcd = {
  name: 'cluster-etcd',
  title: ETCD_TITLE,
  runnable: true as const,
  needs: ETCD_PROGRAMS,
  async run(opts: RunOptions): Promise<ScenarioReport> {
    const why = ringkvClusterBlocked(opts.ctx);
    const r = await runClusterPlan(etcdPlan(new Map(why === undefined ? [] : [['ringkv-cluster-fsync', why]])), opts);
    return {
      name: 'cluster-etcd', title: ETCD_TITLE,
      description: [
        'Writes only, both durable: ringkv (rocksdb, --durability fsync, W=2 of N=3) vs etcd (its WAL fsynced on a',
        'majority), through the same Node driver (bench/lib/driver.ts): 64 closed loops in 2 processes, 64',
        'connections spread over all members, SET over RESP / PUT over etcd\'s JSON gateway, 100-byte values, 10 s.',
        'The protocols differ (RESP vs HTTP/JSON): client CPU is printed with each figure.',
        ...(r.notes.length > 0 ? ['', ...r.notes.map((n) => `**Not measured:** ${n}`)] : []),
      ],
      systems: r.systems, commands: r.commands, sections: r.sections, summary: r.summary, failures: r.failures, raw: r.samples,
    };
  },
};
