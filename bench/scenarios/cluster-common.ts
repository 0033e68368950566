/**
 * What the cluster scenarios (cluster, latency, rebalance) share: the systems (a 3-node ringkv
 * cluster in two storage configurations, Redis Cluster with 3 masters + 3 replicas, a 3-member
 * etcd), whether this build of ringkv has cluster mode at all, and the two kinds of cases:
 * redis-benchmark runs and Node driver runs.
 *
 * redis-benchmark against ringkv "through all nodes" has two forms: `--cluster` (redis-benchmark
 * reads CLUSTER NODES and sends each key to the first node of its slot, as it does for Redis
 * Cluster) and "parallel" (one redis-benchmark per node, clients and requests split evenly, every
 * node coordinating any key). The harness probes `--cluster` once per started cluster and falls
 * back to parallel; each figure says which form produced it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { etcdCluster, redisCluster, redisMasters, ringkvCluster, type ClusterSpec, type RunningCluster } from '../lib/clusters.js';
import type { CaseContext, ClusterCase, Figure } from '../lib/cluster-rounds.js';
import type { DriverSpec, DriverTarget } from '../lib/driver.js';
import { runDriverInProcess, runDrivers } from '../lib/driver-runner.js';
import { runRedisBenchmark, type LoadSpec } from '../lib/redis-benchmark.js';
import { REDIS_NO_PERSISTENCE, type StartContext } from '../lib/systems.js';
import type { Program } from '../lib/tools.js';

export const CLUSTER_PROGRAMS: readonly Program[] = ['redis-server', 'redis-cli', 'redis-benchmark'];
export const ETCD_PROGRAMS: readonly Program[] = ['etcd', 'etcdctl'];

/** Why ringkv's cluster cannot run from this build, or undefined when it can. */
export function ringkvClusterBlocked(ctx: StartContext): string | undefined {
  if (!existsSync(join(ctx.ringkvRoot ?? ctx.repoRoot, 'dist/cluster/host'))) return 'this build has no cluster node host (dist/cluster/host): cluster mode is not in the tree yet';
  return undefined;
}

export const RINGKV_CLUSTER_MEMORY = ringkvCluster({
  id: 'ringkv-cluster', label: 'ringkv, 3 nodes, N=3 R=2 W=2 (quorum), memory engine, --durability none',
  nodes: 3, engine: 'memory', durability: 'none', replicationFactor: 3, readConsistency: 'quorum', writeConsistency: 'quorum',
});

export const RINGKV_CLUSTER_FSYNC = ringkvCluster({
  id: 'ringkv-cluster-fsync', label: 'ringkv, 3 nodes, N=3 R=2 W=2 (quorum), rocksdb engine, --durability fsync',
  nodes: 3, engine: 'rocksdb', durability: 'fsync', replicationFactor: 3, readConsistency: 'quorum', writeConsistency: 'quorum',
});

export const REDIS_CLUSTER = redisCluster({
  id: 'redis-cluster', label: 'Redis Cluster, 3 masters + 3 replicas (async replication), persistence off',
  masters: 3, replicasPerMaster: 1, persistence: REDIS_NO_PERSISTENCE,
});

export const ETCD = etcdCluster({ id: 'etcd', label: 'etcd, 3 members (every write fsynced on a majority)', members: 3 });

export function systemsById(...specs: ClusterSpec[]): Map<string, ClusterSpec> {
  return new Map(specs.map((s) => [s.id, s]));
}

// ---------------------------------------------------------------- redis-benchmark cases

type RingkvBenchMode = 'cluster' | 'parallel';
const probed = new WeakMap<RunningCluster, RingkvBenchMode>();

async function ringkvBenchMode(sys: RunningCluster, ctx: CaseContext): Promise<RingkvBenchMode> {
  const known = probed.get(sys);
  if (known !== undefined) return known;
  const first = sys.endpoints()[0];
  if (first === undefined) throw new Error(`${sys.id} has no endpoint`);
  const probe = await runRedisBenchmark(first.host, first.port, { clients: 4, requests: 200, keyspace: 1000, valueBytes: 10, pipeline: 1, test: 'set', cluster: true }, 20_000);
  const mode: RingkvBenchMode = probe.errors.length === 0 && probe.row !== undefined ? 'cluster' : 'parallel';
  if (mode === 'parallel') ctx.log(`${sys.id}: redis-benchmark --cluster did not work (${probe.errors.join('; ') || 'no result'}); one redis-benchmark per node instead`);
  probed.set(sys, mode);
  return mode;
}

/** One redis-benchmark per endpoint at once, clients and requests split; rps summed, p99 the worst. */
async function parallelBenchmark(sys: RunningCluster, load: LoadSpec, timeoutMs: number): Promise<Figure> {
  const eps = sys.endpoints();
  const runs = await Promise.all(eps.map((ep) => runRedisBenchmark(ep.host, ep.port, {
    ...load, cluster: false, clients: Math.max(1, Math.ceil(load.clients / eps.length)), requests: Math.ceil(load.requests / eps.length),
  }, timeoutMs)));
  const rps = runs.map((r) => r.row?.rps);
  const ok = rps.every((x) => x !== undefined);
  const wall = Math.max(...runs.map((r) => r.client.wallSec));
  const cpu = runs.reduce((n, r) => n + (r.client.cpuSec ?? 0), 0);
  const p50s = runs.map((r) => r.row?.p50Ms).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  const p99s = runs.map((r) => r.row?.p99Ms).filter((x): x is number => x !== undefined);
  return {
    opsPerSec: ok ? rps.reduce((n: number, x) => n + (x ?? 0), 0) : undefined,
    p50Ms: p50s[Math.floor(p50s.length / 2)], p99Ms: p99s.length > 0 ? Math.max(...p99s) : undefined,
    clientCpu: wall > 0 ? cpu / wall : undefined, requests: load.requests, wallSec: wall,
    errors: runs.flatMap((r) => r.errors),
    command: runs.map((r) => r.client.commandLine).join(' & '),
    note: `one redis-benchmark per node in parallel (${eps.length} x -c ${Math.ceil(load.clients / eps.length)}); ops/s summed, p50 the median node's, p99 the worst node's`,
  };
}

export function benchmarkCase(o: { id: string; load: LoadSpec; smokeRequests: number; systems: readonly string[] }): ClusterCase {
  const l = o.load;
  return {
    id: o.id, systems: o.systems,
    title: `redis-benchmark -c ${l.clients} -n ${l.requests} -r ${l.keyspace} -d ${l.valueBytes} -P ${l.pipeline} -t ${l.test}`,
    async run(sys, ctx, warmup) {
      const requests = ctx.smoke ? o.smokeRequests : Math.max(100, Math.round(l.requests * ctx.scale * (warmup ? 0.25 : 1)));
      const load = { ...l, requests };
      const timeoutMs = ctx.smoke ? 60_000 : Math.max(120_000, requests);
      if (sys.kind === 'ringkv' && (await ringkvBenchMode(sys, ctx)) === 'parallel') return await parallelBenchmark(sys, load, timeoutMs);
      if (sys.kind === 'etcd') throw new TypeError('redis-benchmark cannot drive etcd');
      const first = sys.endpoints()[0];
      if (first === undefined) throw new Error(`${sys.id} has no endpoint`);
      const r = await runRedisBenchmark(first.host, first.port, { ...load, cluster: true }, timeoutMs);
      return {
        opsPerSec: r.row?.rps, p50Ms: r.row?.p50Ms, p99Ms: r.row?.p99Ms,
        clientCpu: r.client.cpuSec !== undefined && r.client.wallSec > 0 ? r.client.cpuSec / r.client.wallSec : undefined,
        requests, wallSec: r.client.wallSec, errors: r.errors, command: r.client.commandLine,
        note: 'redis-benchmark --cluster (keys sent to the first node CLUSTER NODES names for their slot)',
      };
    },
  };
}

// ---------------------------------------------------------------- Node driver cases

/** How the driver reaches each kind of system: ringkv through every node, Redis by slot, etcd by member. */
export async function driverTarget(sys: RunningCluster, ringkvRouting: 'any' | 'slots'): Promise<DriverTarget> {
  switch (sys.kind) {
    case 'ringkv': return { kind: 'resp', endpoints: sys.endpoints(), routing: ringkvRouting };
    case 'redis-cluster': return { kind: 'resp', endpoints: await redisMasters(sys), routing: 'slots' };
    case 'etcd': return { kind: 'etcd', endpoints: sys.endpoints() };
    default: {
      const never: never = sys.kind;
      throw new Error(`unknown system kind ${String(never)}`);
    }
  }
}

export interface DriverCaseOptions {
  id: string;
  title: string;
  systems: readonly string[];
  spec: Omit<DriverSpec, 'target' | 'startAtMs'>;
  processes: number;
  /** Smoke: the same shape at this duration and (open loop) rate. */
  smoke: { durationMs: number; warmupMs: number; rateOpsPerSec?: number };
  ringkvRouting?: 'any' | 'slots';
}

export function driverCase(o: DriverCaseOptions): ClusterCase {
  return {
    id: o.id, title: o.title, systems: o.systems,
    async run(sys, ctx, warmup) {
      const target = await driverTarget(sys, o.ringkvRouting ?? 'any');
      let spec: DriverSpec = { ...o.spec, target };
      if (ctx.smoke) {
        spec = { ...spec, durationMs: o.smoke.durationMs, warmupMs: o.smoke.warmupMs };
        if (spec.mode.kind === 'open' && o.smoke.rateOpsPerSec !== undefined) spec = { ...spec, mode: { ...spec.mode, rateOpsPerSec: o.smoke.rateOpsPerSec } };
      } else {
        spec = { ...spec, durationMs: Math.max(500, Math.round(spec.durationMs * ctx.scale * (warmup ? 0.3 : 1))) };
      }
      const f = ctx.smoke ? await runDriverInProcess(spec) : await runDrivers(ctx.repoRoot, spec, o.processes);
      const errors = [...f.failures];
      if (f.errors > 0) errors.push(`${f.errors} error replies, first: ${f.firstError ?? '?'}`);
      return {
        opsPerSec: f.opsPerSec, p50Ms: f.p50Ms, p99Ms: f.p99Ms, p999Ms: f.p999Ms, serviceP99Ms: f.serviceP99Ms,
        // Servers work through warm-up and window alike (driver start-up is idle): CPU shares and
        // CPU per op are over both.
        clientCpu: f.clientCpu, requests: f.ops, wallSec: (spec.warmupMs + spec.durationMs) / 1000, errors, backlog: f.backlog,
        command: f.commandLine,
      };
    },
  };
}
