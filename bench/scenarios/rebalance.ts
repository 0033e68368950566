/**
 * Scenario 8, `rebalance`: what a 4th node joining a loaded 3-node cluster costs.
 *
 * ringkv (N=3, memory engine): 100,000 keys (16-byte keys, 100-byte values) are loaded through
 * node 1; node 4 starts with --cluster-auto-join false, and once the others see it alive the
 * harness asks node 1 to join it (POST /admin/join) and times until the ring has 4 members and
 * no pending change (streaming done, change committed). Figures:
 * - moved fraction = slot-replica copies of the loaded keys that changed owner / all copies
 *   (K x N), from the rings before and after (GET /v1/cluster/ring) and the key list the loader
 *   wrote; ideal 1/4 (each of 4 equal nodes ends with 3/4 of the keys);
 * - keys and bytes the new node streamed (its topology progress, measured by the node);
 * - time from the join request to the commit, and keys streamed per second;
 * - every loaded key read back after the change through the new node (a lost key is a failure).
 *
 * Peer: Redis Cluster, 3 masters (no replicas: a Redis replica copies its master, it is not
 * placement), the same keys; a 4th master added with `redis-cli --cluster add-node`, then
 * `redis-cli --cluster rebalance --cluster-use-empty-masters` timed; moved fraction = DBSIZE of
 * the new master / keys (ideal 1/4). Redis moves one copy per key, ringkv N=3 copies (3/4 of the
 * keys land on the new node): compare keys moved per second as well as wall time.
 *
 * Each round starts both systems fresh, ringkv then Redis (A B A B).
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import calculateSlot from 'cluster-key-slot';
import { slotTable } from '../lib/driver.js';
import { freePort, runClient, startProcess, waitForPort } from '../lib/process.js';
import { ringkvCluster, redisCluster, startRingkvNode, waitRingkvReady, waitUntil, type RingkvClusterOptions, type RunningCluster } from '../lib/clusters.js';
import { command, countMismatches, loaderKey, loadKeys } from '../lib/resp-client.js';
import { mdTable, type RunOptions, type ScenarioReport } from '../lib/scenario.js';
import { fmtBytes, fmtFixed, fmtInt, fmtRatio, fmtSummary, summarize } from '../lib/stats.js';
import { HOST, REDIS_NO_PERSISTENCE } from '../lib/systems.js';
import { CLUSTER_PROGRAMS, ringkvClusterBlocked } from './cluster-common.js';

const TITLE = 'Rebalancing: a 4th node joins a loaded 3-node cluster (moved fraction vs ideal 1/4, time to finish streaming)';
const KEYS = 100_000;
const SMOKE_KEYS = 2_000;
const VALUE_BYTES = 100;
const SLOTS = 16384;
const CHANGE_TIMEOUT_MS = 10 * 60_000;

const RINGKV: RingkvClusterOptions = {
  id: 'ringkv-rebalance', label: 'ringkv, 3 nodes + 1 joining, N=3 R=2 W=2, memory engine',
  nodes: 3, engine: 'memory', durability: 'none', replicationFactor: 3, readConsistency: 'quorum', writeConsistency: 'quorum',
};
/** Node 4 waits to be joined explicitly, so the timed change starts at the harness's request. */
const RINGKV_N4: RingkvClusterOptions = { ...RINGKV, extraArgs: ['--cluster-auto-join', 'false'] };

const REDIS = redisCluster({ id: 'redis-rebalance', label: 'Redis Cluster, 3 masters, no replicas, persistence off; a 4th master added and rebalanced', masters: 3, replicasPerMaster: 0, persistence: REDIS_NO_PERSISTENCE });

export interface RebalanceSample {
  round: number;
  system: string;
  keys: number;
  /** Copies that changed owner / all copies. */
  movedFraction: number | undefined;
  /** Keys the new node holds after / keys, where measured by the system (Redis DBSIZE, ringkv streamed). */
  newNodeKeys: number | undefined;
  bytesStreamed: number | undefined;
  /** From the change request to the committed ring (ringkv) or rebalance exit (Redis). */
  changeSec: number | undefined;
  loadSec: number;
  lostKeys: number;
  detail: string;
}

// ---------------------------------------------------------------- ring arithmetic

export interface RingRanges {
  ranges: Array<{ first: number; last: number; replicas: string[] }>;
}

/** slot -> sorted replica ids, from a /v1/cluster/ring `current` body. */
export function replicasBySlot(ring: RingRanges): string[][] {
  const out: string[][] = Array.from({ length: SLOTS }, () => []);
  for (const r of ring.ranges) for (let s = r.first; s <= r.last && s < SLOTS; s++) out[s] = [...r.replicas].sort();
  return out;
}

/**
 * Copies of the given keys that a ring change moves: for every key, the replicas in `after` that
 * were not in `before`. Returns [moved copies, all copies after].
 */
export function movedCopies(keysPerSlot: readonly number[], before: readonly string[][], after: readonly string[][]): [number, number] {
  let moved = 0;
  let total = 0;
  for (let s = 0; s < SLOTS; s++) {
    const n = keysPerSlot[s] ?? 0;
    if (n === 0) continue;
    const b = new Set(before[s] ?? []);
    const a = after[s] ?? [];
    total += n * a.length;
    moved += n * a.filter((id) => !b.has(id)).length;
  }
  return [moved, total];
}

export function keysPerSlot(count: number): number[] {
  const out = new Array<number>(SLOTS).fill(0);
  for (let i = 0; i < count; i++) {
    const s = calculateSlot(loaderKey(i));
    out[s] = (out[s] ?? 0) + 1;
  }
  return out;
}

// ---------------------------------------------------------------- ringkv

async function httpJson(port: number, path: string, init?: { method: string; body: string }): Promise<unknown> {
  const res = await fetch(`http://${HOST}:${port}${path}`, {
    method: init?.method ?? 'GET', body: init?.body, headers: init ? { 'content-type': 'application/json' } : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  // NDJSON (the admin POST streams progress): the last line is the latest.
  const lines = text.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as unknown;
}

interface RingBody {
  current: RingRanges & { members: Array<{ id: string }> };
  pending: (RingRanges & { members: Array<{ id: string }> }) | null;
}

function isRingBody(x: unknown): x is RingBody {
  if (typeof x !== 'object' || x === null) return false;
  const c = (x as { current?: unknown }).current;
  return typeof c === 'object' && c !== null && Array.isArray((c as { ranges?: unknown }).ranges) && Array.isArray((c as { members?: unknown }).members);
}

async function ringOf(httpPort: number): Promise<RingBody> {
  const body = await httpJson(httpPort, '/v1/cluster/ring');
  if (!isRingBody(body)) throw new Error(`GET /v1/cluster/ring: unexpected body ${JSON.stringify(body).slice(0, 200)}`);
  return body;
}

interface Progress { phase?: string; keysStreamed?: number; bytesStreamed?: number; keys_streamed?: number; bytes_streamed?: number; message?: string }

async function ringkvRound(round: number, keys: number, opts: RunOptions): Promise<RebalanceSample> {
  const cluster = await ringkvCluster(RINGKV).start(opts.ctx);
  try {
    const [n1] = cluster.members;
    if (n1?.httpPort === undefined || n1.peerPort === undefined) throw new Error('node 1 has no HTTP or peer port');
    const load = await loadKeys(HOST, n1.port, { count: keys, valueBytes: VALUE_BYTES, batch: 500 });
    if (load.errorReplies > 0) throw new Error(`${load.errorReplies} SETs failed, first: ${load.firstError ?? ''}`);
    const before = await ringOf(n1.httpPort);
    const base = join(n1.dir, '..');
    const n4 = await startRingkvNode(opts.ctx, RINGKV_N4, base, 'n4', [`${HOST}:${n1.peerPort}`]);
    cluster.members.push(n4);
    await waitUntil('node 4 seen alive by node 1', opts.ctx.startTimeoutMs, async () => {
      const body = await httpJson(n1.httpPort as number, '/cluster/members') as { members?: Array<{ id: string; state: string }> };
      const m = body.members?.find((x) => x.id === 'n4');
      return m?.state === 'alive' ? undefined : `n4 is ${m?.state ?? 'unknown'}`;
    });
    const t0 = process.hrtime.bigint();
    const joinReq = httpJson(n1.httpPort, '/admin/join', { method: 'POST', body: JSON.stringify({ id: 'n4' }) });
    let after: RingBody | undefined;
    await waitUntil('join committed (4 members, no pending change)', CHANGE_TIMEOUT_MS, async () => {
      const r = await ringOf(n1.httpPort as number);
      if (r.current.members.length === 4 && r.pending === null) {
        after = r;
        return undefined;
      }
      return `current ${r.current.members.length} members, pending ${r.pending === null ? 'none' : `${r.pending.members.length} members`}`;
    });
    const changeSec = Number(process.hrtime.bigint() - t0) / 1e9;
    const last = await joinReq.catch((e: unknown) => ({ message: e instanceof Error ? e.message : String(e) })) as Progress;
    if (after === undefined) throw new Error('no ring after the join');
    const progress = await httpJson(n4.httpPort as number, '/admin/topology') as Progress;
    const streamedKeys = progress.keysStreamed ?? progress.keys_streamed;
    const streamedBytes = progress.bytesStreamed ?? progress.bytes_streamed;
    const [moved, total] = movedCopies(keysPerSlot(keys), replicasBySlot(before.current), replicasBySlot(after.current));
    await waitRingkvReady(cluster.members, 4, opts.ctx.startTimeoutMs);
    const lost = await countMismatches(HOST, n4.port, { count: keys, expected: 'v'.repeat(VALUE_BYTES), batch: 500 });
    opts.log(`rebalance r${round} ringkv: ${fmtInt(keys)} keys, join committed in ${changeSec.toFixed(2)} s, moved copies ${fmtInt(moved)}/${fmtInt(total)} = ${(moved / total).toFixed(3)}, n4 streamed ${streamedKeys ?? '?'} keys, ${lost} lost`);
    return {
      round, system: RINGKV.id, keys, movedFraction: total > 0 ? moved / total : undefined,
      newNodeKeys: streamedKeys, bytesStreamed: streamedBytes, changeSec, loadSec: load.wallSec, lostKeys: lost,
      detail: `join answer: phase ${last.phase ?? '?'} ${last.message ?? ''}; node 4 progress: phase ${progress.phase ?? '?'}`,
    };
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------- Redis Cluster

async function dbsize(port: number): Promise<number> {
  const r = await command(HOST, port, ['DBSIZE']);
  if (r.kind !== 'integer') throw new Error(`DBSIZE answered ${JSON.stringify(r)}`);
  return r.value;
}

/** Loads keys 0..count-1 into a Redis Cluster, each batch straight to its slot's master. */
async function loadRedisCluster(c: RunningCluster, count: number): Promise<number> {
  const first = c.endpoints()[0];
  if (first === undefined) throw new Error('no endpoint');
  const table = slotTable(await command(first.host, first.port, ['CLUSTER', 'SLOTS']));
  const byPort = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const ep = table[calculateSlot(loaderKey(i))];
    if (ep === undefined) throw new Error(`no master for ${loaderKey(i)}`);
    const list = byPort.get(ep.port) ?? [];
    list.push(i);
    byPort.set(ep.port, list);
  }
  const started = process.hrtime.bigint();
  const results = await Promise.all([...byPort].map(([port, idx]) => loadKeys(HOST, port, { count: idx.length, valueBytes: VALUE_BYTES, batch: 500, keyAt: (j) => loaderKey(idx[j] as number) })));
  for (const r of results) if (r.errorReplies > 0) throw new Error(`${r.errorReplies} SETs failed, first: ${r.firstError ?? ''}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function redisRound(round: number, keys: number, opts: RunOptions): Promise<RebalanceSample> {
  const cluster = await REDIS.start(opts.ctx);
  try {
    const loadSec = await loadRedisCluster(cluster, keys);
    const first = cluster.members[0];
    if (first === undefined) throw new Error('no member');
    const dir = join(first.dir, '..', `r4-${round}`);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const proc = startProcess({
      name: 'redis-rebalance-r4', cmd: 'redis-server', logPath: join(dir, 'server.log'),
      args: ['--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no', '--logfile', '', '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000', ...REDIS_NO_PERSISTENCE],
    });
    cluster.members.push({ name: 'r4', proc, port, httpPort: undefined, peerPort: port + 10000, dir });
    await waitForPort(proc, HOST, port, opts.ctx.startTimeoutMs);
    const add = await runClient({ cmd: 'redis-cli', args: ['--cluster', 'add-node', `${HOST}:${port}`, `${HOST}:${first.port}`], timeoutMs: 60_000 });
    if (add.exitCode !== 0) throw new Error(`redis-cli --cluster add-node: ${(add.stdout + add.stderr).slice(-400)}`);
    await waitUntil('redis 4th master known to all', opts.ctx.startTimeoutMs, async () => {
      for (const m of cluster.members) {
        const r = await command(HOST, m.port, ['CLUSTER', 'INFO']);
        if (r.kind !== 'bulk' || !(r.text ?? '').includes('cluster_known_nodes:4')) return `${m.name} does not know 4 nodes yet`;
      }
      return undefined;
    });
    const t0 = process.hrtime.bigint();
    const reb = await runClient({ cmd: 'redis-cli', args: ['--cluster', 'rebalance', `${HOST}:${first.port}`, '--cluster-use-empty-masters'], timeoutMs: CHANGE_TIMEOUT_MS });
    const changeSec = Number(process.hrtime.bigint() - t0) / 1e9;
    if (reb.exitCode !== 0) throw new Error(`redis-cli --cluster rebalance: ${(reb.stdout + reb.stderr).slice(-400)}`);
    const newKeys = await dbsize(port);
    let sumKeys = 0;
    for (const m of cluster.members) sumKeys += await dbsize(m.port);
    const lost = keys - sumKeys;
    opts.log(`rebalance r${round} redis: ${fmtInt(keys)} keys, rebalance took ${changeSec.toFixed(2)} s, new master holds ${fmtInt(newKeys)} (${(newKeys / keys).toFixed(3)})`);
    return {
      round, system: REDIS.id, keys, movedFraction: newKeys / keys, newNodeKeys: newKeys, bytesStreamed: undefined,
      changeSec, loadSec, lostKeys: Math.max(0, lost), detail: `DBSIZE sum after ${sumKeys}`,
    };
  } finally {
    await cluster.stop();
  }
}

// ---------------------------------------------------------------- report

export const rebalance = {
  name: 'rebalance',
  title: TITLE,
  runnable: true as const,
  needs: CLUSTER_PROGRAMS,
  async run(opts: RunOptions): Promise<ScenarioReport> {
    const keys = opts.smoke ? SMOKE_KEYS : Math.max(1000, Math.round(KEYS * opts.scale));
    const rounds = opts.smoke ? 1 : opts.rounds;
    const blocked = ringkvClusterBlocked(opts.ctx.repoRoot);
    const failures: string[] = [];
    const samples: RebalanceSample[] = [];
    for (let round = 1; round <= rounds; round++) {
      const runs: Array<[string, () => Promise<RebalanceSample>]> = [];
      if (blocked === undefined) runs.push([RINGKV.id, () => ringkvRound(round, keys, opts)]);
      runs.push([REDIS.id, () => redisRound(round, keys, opts)]);
      for (const [id, run] of runs) {
        try {
          const s = await run();
          samples.push(s);
          if (s.lostKeys > 0) failures.push(`round ${round} ${id}: ${s.lostKeys} of ${keys} keys missing or wrong after the change`);
        } catch (err) {
          failures.push(`round ${round} ${id}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    const of = (id: string): RebalanceSample[] => samples.filter((s) => s.system === id);
    const row = (id: string): string[] => {
      const ss = of(id);
      return [
        id,
        fmtSummary(summarize(ss.map((s) => s.movedFraction)), fmtFixed(3)),
        fmtSummary(summarize(ss.map((s) => (s.movedFraction === undefined ? undefined : s.movedFraction / 0.25))), fmtRatio),
        fmtSummary(summarize(ss.map((s) => s.newNodeKeys)), fmtInt),
        fmtSummary(summarize(ss.map((s) => s.bytesStreamed)), fmtBytes),
        fmtSummary(summarize(ss.map((s) => s.changeSec)), fmtFixed(2)),
        fmtSummary(summarize(ss.map((s) => (s.newNodeKeys === undefined || s.changeSec === undefined || s.changeSec <= 0 ? undefined : s.newNodeKeys / s.changeSec))), fmtInt),
        fmtSummary(summarize(ss.map((s) => s.loadSec)), fmtFixed(1)),
        String(ss.reduce((n, s) => n + s.lostKeys, 0)),
      ];
    };
    const ids = [RINGKV.id, REDIS.id].filter((id) => of(id).length > 0);
    const timeRatio = of(RINGKV.id).map((a) => {
      const b = of(REDIS.id).find((s) => s.round === a.round);
      return a.changeSec !== undefined && b?.changeSec !== undefined && b.changeSec > 0 ? a.changeSec / b.changeSec : undefined;
    });
    const sections = [[
      mdTable(['system', 'moved fraction', 'moved / ideal (1/4)', 'keys to new node', 'bytes streamed', 'change s', 'keys to new node / s', 'load s', 'lost keys'], ids.map(row)),
      '',
      ids.length === 2 ? mdTable(['ratio', 'median [min–max]'], [['change time ringkv / redis', fmtSummary(summarize(timeRatio), fmtRatio)]]) : '',
      '',
      ...samples.map((s) => `- r${s.round} ${s.system}: ${s.detail}`),
    ].join('\n')];
    const summary = of(RINGKV.id).length > 0 ? [{
      scenario: 'rebalance', case: `${fmtInt(keys)} keys, 3 -> 4 nodes`, pair: 'ringkv moved fraction / ideal 1/4', metric: 'fraction',
      numerator: fmtSummary(summarize(of(RINGKV.id).map((s) => s.movedFraction)), fmtFixed(3)), denominator: '0.250',
      ratio: fmtSummary(summarize(of(RINGKV.id).map((s) => (s.movedFraction === undefined ? undefined : s.movedFraction / 0.25))), fmtRatio),
    }, ...(ids.length === 2 ? [{
      scenario: 'rebalance', case: `${fmtInt(keys)} keys, 3 -> 4 nodes`, pair: 'ringkv / redis-cluster', metric: 'seconds to finish',
      numerator: fmtSummary(summarize(of(RINGKV.id).map((s) => s.changeSec)), fmtFixed(2)),
      denominator: fmtSummary(summarize(of(REDIS.id).map((s) => s.changeSec)), fmtFixed(2)),
      ratio: fmtSummary(summarize(timeRatio), fmtRatio),
    }] : [])] : [];
    return {
      name: 'rebalance', title: TITLE,
      description: [
        `${fmtInt(keys)} keys (16-byte key:%012d, ${VALUE_BYTES}-byte values). ringkv: N=3, node 4 started with`,
        '--cluster-auto-join false and joined with POST /admin/join on node 1; "change s" runs from that request',
        'until node 1 reports 4 members and no pending change. Moved fraction = copies whose owner changed /',
        'all copies, from the rings before and after and the loaded key list; "keys to new node" = what node 4',
        'streamed (its own progress counters). Redis Cluster: 3 masters, no replicas; `redis-cli --cluster',
        'add-node` then `--cluster rebalance --cluster-use-empty-masters`, timed; moved fraction = DBSIZE of the',
        'new master / keys. Every key is read back after the change (ringkv: through node 4).',
        ...(blocked !== undefined ? ['', `**Not measured:** \`${RINGKV.id}\`: ${blocked}`] : []),
      ],
      systems: [
        { id: RINGKV.id, label: RINGKV.label, commandLine: blocked ?? '(started fresh each round; see the cluster scenario for node command lines; node 4 adds --cluster-auto-join false)' },
        { id: REDIS.id, label: REDIS.label, commandLine: '(started fresh each round) redis-server --cluster-enabled yes ...; redis-cli --cluster create ...; redis-cli --cluster add-node NEW EXISTING; redis-cli --cluster rebalance EXISTING --cluster-use-empty-masters' },
      ],
      commands: [`loader: SET key:%012d <${VALUE_BYTES} bytes> for 0..${keys - 1}, 500 per pipelined batch`],
      sections, summary, failures, raw: samples,
    };
  },
};
