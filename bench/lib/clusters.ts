/**
 * Multi-process systems for the cluster scenarios, each started on 127.0.0.1 with random free
 * ports and data under the run's work directory, ready when `start` resolves, stopped by PID:
 *
 * - ringkv: N `ringkv start` processes with cluster flags; node 1 forms the ring, the others join
 *   through it as seeds; ready when every node answers and the ring holds all of them.
 * - Redis Cluster: 2N redis-server --cluster-enabled yes, then `redis-cli --cluster create
 *   ... --cluster-replicas 1 --cluster-yes` (N masters, one replica each); ready when every node
 *   reports cluster_state:ok with all 16384 slots.
 * - etcd: an N-member cluster (static bootstrap); ready when every member's /health is true.
 *
 * Invariant: a start that fails stops what it already started before rethrowing.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint } from './driver.js';
import { freePort, logTail, processCpuSeconds, processRssBytes, runClient, startProcess, stopProcess, waitForPort, type ServerProcess } from './process.js';
import { command, type SimpleReply } from './resp-client.js';
import { HOST, ringkvEntry, type StartContext } from './systems.js';

export interface ClusterMember {
  readonly name: string;
  readonly proc: ServerProcess;
  /** The client port (RESP, or etcd's client URL port). */
  readonly port: number;
  readonly httpPort: number | undefined;
  readonly peerPort: number | undefined;
  readonly dir: string;
}

export type ClusterKind = 'ringkv' | 'redis-cluster' | 'etcd';

export interface RunningCluster {
  readonly id: string;
  readonly kind: ClusterKind;
  readonly label: string;
  readonly members: ClusterMember[];
  /** Client endpoints (every member that serves clients). */
  endpoints(): Endpoint[];
  /** Commands that built it (servers and setup), for the results file. */
  readonly commandLines: string[];
  /** Sum of user+sys CPU seconds over live members. */
  cpuSeconds(): number;
  rssBytes(): number;
  stop(): Promise<void>;
}

export interface ClusterSpec {
  readonly id: string;
  readonly kind: ClusterKind;
  readonly label: string;
  start(ctx: StartContext): Promise<RunningCluster>;
}

let seq = 0;

function memberDir(ctx: StartContext, id: string, name: string): string {
  const dir = join(ctx.workDir, `${id}-${++seq}`, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function makeCluster(id: string, kind: ClusterKind, label: string, members: ClusterMember[], commandLines: string[]): RunningCluster {
  const live = (): ClusterMember[] => members.filter((m) => m.proc.child.exitCode === null && m.proc.child.signalCode === null);
  return {
    id, kind, label, members, commandLines,
    endpoints: () => members.map((m) => ({ host: HOST, port: m.port })),
    cpuSeconds: () => live().reduce((n, m) => n + safe(() => processCpuSeconds(m.proc.pid)), 0),
    rssBytes: () => live().reduce((n, m) => n + safe(() => processRssBytes(m.proc.pid)), 0),
    stop: async () => { await Promise.all(members.map((m) => stopProcess(m.proc))); },
  };
}

function safe(f: () => number): number {
  try {
    return f();
  } catch {
    return 0;
  }
}

async function stopAllOf(members: readonly ClusterMember[]): Promise<void> {
  await Promise.all(members.map((m) => stopProcess(m.proc)));
}

/** Polls `check` until it returns undefined (ready) or time runs out; the last reason is thrown. */
export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not checked';
  for (;;) {
    try {
      const why = await check();
      if (why === undefined) return;
      last = why;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- ringkv

export interface RingkvClusterOptions {
  id: string;
  label: string;
  nodes: number;
  engine: 'memory' | 'rocksdb';
  durability: 'none' | 'batch' | 'fsync';
  replicationFactor: number;
  readConsistency: string;
  writeConsistency: string;
  /** Extra `ringkv start` flags (e.g. --cluster-anti-entropy-interval-ms 0). */
  extraArgs?: readonly string[];
}

/** The `ringkv start` arguments of one cluster node. */
export function ringkvNodeArgs(o: RingkvClusterOptions, p: { nodeId: string; dir: string; respPort: number; httpPort: number; peerPort: number; seeds: readonly string[] }): string[] {
  return [
    'start', '--host', HOST, '--resp-port', String(p.respPort), '--http-port', String(p.httpPort),
    '--peer-port', String(p.peerPort), '--cluster-node-id', p.nodeId,
    ...(p.seeds.length > 0 ? ['--cluster-seeds', p.seeds.join(',')] : []),
    '--cluster-replication-factor', String(o.replicationFactor),
    '--cluster-read-consistency', o.readConsistency, '--cluster-write-consistency', o.writeConsistency,
    '--data-dir', join(p.dir, 'data'), '--engine', o.engine, '--durability', o.durability, '--log-level', 'warn',
    // Nothing is in flight when the harness stops a node: do not wait the default 10 s for it.
    '--shutdown-timeout-ms', '1000',
    ...(o.extraArgs ?? []),
  ];
}

/** Starts one ringkv cluster node and waits for its RESP port. */
export async function startRingkvNode(ctx: StartContext, o: RingkvClusterOptions, dirBase: string, nodeId: string, seeds: readonly string[]): Promise<ClusterMember> {
  const dir = join(dirBase, nodeId);
  mkdirSync(dir, { recursive: true });
  const [respPort, httpPort, peerPort] = [await freePort(), await freePort(), await freePort()];
  const args = ringkvNodeArgs(o, { nodeId, dir, respPort, httpPort, peerPort, seeds });
  const proc = startProcess({ name: `${o.id}-${nodeId}`, cmd: process.execPath, args: [ringkvEntry(ctx), ...args], logPath: join(dir, 'server.log'), cwd: ctx.repoRoot });
  const member = { name: nodeId, proc, port: respPort, httpPort, peerPort, dir };
  try {
    await waitForPort(proc, HOST, respPort, ctx.startTimeoutMs);
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return member;
}

/**
 * Node ids in the ring as one node sees it, from the admin HTTP API (GET /cluster/members), or
 * from CLUSTER NODES when that is all the node serves. Undefined when neither answers.
 */
export async function ringMembers(m: ClusterMember): Promise<string[] | undefined> {
  if (m.httpPort !== undefined) {
    try {
      const res = await fetch(`http://${HOST}:${m.httpPort}/cluster/members`, { signal: AbortSignal.timeout(3000) });
      if (res.ok) {
        const body: unknown = await res.json();
        const list = Array.isArray(body) ? body : (typeof body === 'object' && body !== null && Array.isArray((body as { members?: unknown }).members) ? (body as { members: unknown[] }).members : undefined);
        if (list !== undefined) {
          return list.filter((x): x is { id: string; inRing?: boolean; state?: string } => typeof x === 'object' && x !== null && typeof (x as { id?: unknown }).id === 'string')
            .filter((x) => x.inRing !== false && (x.state === undefined || x.state === 'alive'))
            .map((x) => x.id);
        }
      }
    } catch {
      // Fall back to CLUSTER NODES.
    }
  }
  const r = await command(HOST, m.port, ['CLUSTER', 'NODES']).catch(() => undefined);
  if (r?.kind !== 'bulk' || r.text === null) return undefined;
  // Lines: <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <state> <slots...>; members with slots are in the ring.
  return r.text.split('\n').map((l) => l.trim().split(' ')).filter((f) => f.length >= 9 && !(f[2] ?? '').includes('fail')).map((f) => f[1] ?? '');
}

/** Waits until every node sees `count` ring members and a SET/GET round trip works through each. */
export async function waitRingkvReady(members: readonly ClusterMember[], count: number, timeoutMs: number): Promise<void> {
  for (const m of members) {
    await waitUntil(`ringkv ${m.name} ring of ${count}`, timeoutMs, async () => {
      const ids = await ringMembers(m);
      if (ids === undefined) return 'no member list (GET /cluster/members, CLUSTER NODES)';
      return ids.length >= count ? undefined : `sees ${ids.length} ring members: ${ids.join(' ')}`;
    });
  }
  for (const m of members) {
    await waitUntil(`ringkv ${m.name} write path`, timeoutMs, async () => {
      const k = `bench:ready:${m.name}`;
      const set = await command(HOST, m.port, ['SET', k, 'x']);
      if (set.kind !== 'status') return `SET answered ${describe(set)}`;
      const get = await command(HOST, m.port, ['GET', k]);
      return get.kind === 'bulk' && get.text === 'x' ? undefined : `GET answered ${describe(get)}`;
    });
  }
}

function describe(r: SimpleReply): string {
  return JSON.stringify(r).slice(0, 200);
}

export function ringkvCluster(o: RingkvClusterOptions): ClusterSpec {
  return {
    id: o.id, kind: 'ringkv', label: o.label,
    async start(ctx) {
      const base = join(ctx.workDir, `${o.id}-${++seq}`);
      mkdirSync(base, { recursive: true });
      const members: ClusterMember[] = [];
      try {
        const first = await startRingkvNode(ctx, o, base, 'n1', []);
        members.push(first);
        const seed = `${HOST}:${first.peerPort ?? 0}`;
        for (let i = 2; i <= o.nodes; i++) members.push(await startRingkvNode(ctx, o, base, `n${i}`, [seed]));
        await waitRingkvReady(members, o.nodes, ctx.startTimeoutMs);
      } catch (err) {
        const logs = members.map((m) => `--- ${m.name}\n${logTail(join(m.dir, 'server.log'), 8)}`).join('\n');
        await stopAllOf(members);
        throw new Error(`${o.id}: ${err instanceof Error ? err.message : String(err)}\n${logs}`);
      }
      return makeCluster(o.id, 'ringkv', o.label, members, members.map((m) => m.proc.commandLine));
    },
  };
}

// ---------------------------------------------------------------- Redis Cluster

export interface RedisClusterOptions {
  id: string;
  label: string;
  masters: number;
  replicasPerMaster: number;
  persistence: readonly string[];
}

async function clusterInfo(port: number): Promise<Map<string, string>> {
  const r = await command(HOST, port, ['CLUSTER', 'INFO']);
  const out = new Map<string, string>();
  if (r.kind !== 'bulk' || r.text === null) return out;
  for (const line of r.text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

export function redisCluster(o: RedisClusterOptions): ClusterSpec {
  return {
    id: o.id, kind: 'redis-cluster', label: o.label,
    async start(ctx) {
      const members: ClusterMember[] = [];
      const total = o.masters * (1 + o.replicasPerMaster);
      try {
        for (let i = 1; i <= total; i++) {
          const dir = memberDir(ctx, o.id, `r${i}`);
          const port = await freePort();
          const proc = startProcess({
            name: `${o.id}-r${i}`, cmd: 'redis-server', logPath: join(dir, 'server.log'),
            args: ['--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no', '--logfile', '',
              '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000',
              ...o.persistence],
          });
          members.push({ name: `r${i}`, proc, port, httpPort: undefined, peerPort: port + 10000, dir });
          await waitForPort(proc, HOST, port, ctx.startTimeoutMs);
        }
        const createArgs = ['--cluster', 'create', ...members.map((m) => `${HOST}:${m.port}`), '--cluster-replicas', String(o.replicasPerMaster), '--cluster-yes'];
        const create = await runClient({ cmd: 'redis-cli', args: createArgs, timeoutMs: 60_000 });
        if (create.exitCode !== 0) throw new Error(`redis-cli --cluster create exited ${create.exitCode ?? create.signal}: ${(create.stderr + create.stdout).slice(-500)}`);
        for (const m of members) {
          await waitUntil(`redis cluster node ${m.name}`, ctx.startTimeoutMs, async () => {
            const ci = await clusterInfo(m.port);
            const ok = ci.get('cluster_state') === 'ok' && ci.get('cluster_slots_ok') === '16384' && ci.get('cluster_known_nodes') === String(total);
            return ok ? undefined : `cluster_state ${ci.get('cluster_state') ?? '?'}, slots_ok ${ci.get('cluster_slots_ok') ?? '?'}, known ${ci.get('cluster_known_nodes') ?? '?'}`;
          });
        }
        // Replicas must be attached (link up) before writes are measured: a full sync mid-run costs.
        for (const m of members) {
          await waitUntil(`redis cluster replication on ${m.name}`, ctx.startTimeoutMs, async () => {
            const r = await command(HOST, m.port, ['INFO', 'replication']);
            const text = r.kind === 'bulk' ? r.text ?? '' : '';
            if (text.includes('role:master')) return undefined;
            return text.includes('master_link_status:up') ? undefined : 'replica link not up';
          });
        }
        return makeCluster(o.id, 'redis-cluster', o.label, members, [...members.map((m) => m.proc.commandLine), create.commandLine]);
      } catch (err) {
        await stopAllOf(members);
        throw err;
      }
    },
  };
}

/** Redis Cluster masters only: where redis-benchmark --cluster and slot-routed drivers send. */
export async function redisMasters(c: RunningCluster): Promise<Endpoint[]> {
  const out: Endpoint[] = [];
  for (const m of c.members) {
    const r = await command(HOST, m.port, ['INFO', 'replication']);
    if (r.kind === 'bulk' && (r.text ?? '').includes('role:master')) out.push({ host: HOST, port: m.port });
  }
  return out;
}

// ---------------------------------------------------------------- etcd

export interface EtcdClusterOptions {
  id: string;
  label: string;
  members: number;
}

export function etcdCluster(o: EtcdClusterOptions): ClusterSpec {
  return {
    id: o.id, kind: 'etcd', label: o.label,
    async start(ctx) {
      const members: ClusterMember[] = [];
      try {
        const ports: Array<{ name: string; client: number; peer: number; dir: string }> = [];
        for (let i = 1; i <= o.members; i++) ports.push({ name: `e${i}`, client: await freePort(), peer: await freePort(), dir: memberDir(ctx, o.id, `e${i}`) });
        const initial = ports.map((p) => `${p.name}=http://${HOST}:${p.peer}`).join(',');
        const token = `ringkv-bench-${process.pid}-${++seq}`;
        for (const p of ports) {
          const proc = startProcess({
            name: `${o.id}-${p.name}`, cmd: 'etcd', logPath: join(p.dir, 'server.log'),
            args: [
              '--name', p.name, '--data-dir', join(p.dir, 'data'),
              '--listen-client-urls', `http://${HOST}:${p.client}`, '--advertise-client-urls', `http://${HOST}:${p.client}`,
              '--listen-peer-urls', `http://${HOST}:${p.peer}`, '--initial-advertise-peer-urls', `http://${HOST}:${p.peer}`,
              '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
              '--logger', 'zap', '--log-level', 'warn',
            ],
          });
          members.push({ name: p.name, proc, port: p.client, httpPort: p.client, peerPort: p.peer, dir: p.dir });
        }
        for (const m of members) {
          await waitForPort(m.proc, HOST, m.port, ctx.startTimeoutMs);
          await waitUntil(`etcd ${m.name} health`, ctx.startTimeoutMs, async () => {
            const res = await fetch(`http://${HOST}:${m.port}/health`, { signal: AbortSignal.timeout(2000) });
            const body = await res.text();
            return res.ok && body.includes('"true"') ? undefined : `health ${res.status} ${body.slice(0, 100)}`;
          });
        }
        return makeCluster(o.id, 'etcd', o.label, members, members.map((m) => m.proc.commandLine));
      } catch (err) {
        await stopAllOf(members);
        throw err;
      }
    },
  };
}
