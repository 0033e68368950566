/**
 * Scenario 8, `rebalance`: what a 4th node joining a loaded 3-node cluster costs.
 *
 * ringkv (N=3, rocksdb engine, --durability none): 100,000 keys (16-byte keys, 100-byte values)
 * are loaded through node 1; node 4 starts seeded with node 1 and asks to join by itself
 * (autoJoin; a node with seeds and autoJoin off refuses to start). The harness polls node 1's
 * ring every 50 ms from before node 4 starts: "change s" runs from the first poll that shows the
 * pending ring to the first that shows 4 members and no pending change (streaming done, change
 * committed; +-50 ms), or from node 4's spawn when the pending ring was never seen. Figures:
 * - moved fraction, measured: records on node 4 / (keys x N), counted on disk after a settle
 *   time and a graceful stop (bench/lib/stored-records.ts); ideal 1/4 (each of 4 equal nodes
 *   ends with 3/4 of the keys, so node 4 holds 1/4 of all copies). What old owners still hold
 *   beyond their share (purge not done yet) is reported beside it;
 * - moved fraction by the rings: copies of the loaded keys whose owner changed / all copies,
 *   from GET /v1/cluster/ring before and after (what placement asks for);
 * - every loaded key read back through node 4 after the change (a miss is a failure).

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
import { countStoredRecords } from '../lib/stored-records.js';
import { takeOrStart } from '../lib/cluster-rounds.js';
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
/** Wait after the commit before stopping the nodes, so purges of moved-away slots can run. */
const SETTLE_MS = 5000;

export const RINGKV: RingkvClusterOptions = {
  id: 'ringkv-rebalance', label: 'ringkv, 3 nodes + 1 joining, N=3 R=2 W=2, rocksdb engine, --durability none',
  nodes: 3, engine: 'rocksdb', durability: 'none', replicationFactor: 3, readConsistency: 'quorum', writeConsistency: 'quorum',
};

/** The 3-node cluster a round starts with (smoke runs may have it started early). */
export const REBALANCE_RINGKV_CLUSTER = ringkvCluster(RINGKV);

const REDIS = redisCluster({ id: 'redis-rebalance', label: 'Redis Cluster, 3 masters, no replicas, persistence off; a 4th master added and rebalanced', masters: 3, replicasPerMaster: 0, persistence: REDIS_NO_PERSISTENCE });

export interface RebalanceSample {
  round: number;
  system: string;
  keys: number;
  /** Records on the new node / (keys x copies per key) (measured: ringkv on disk, Redis DBSIZE). */
  movedFraction: number | undefined;
  /** Copies whose owner changed / all copies, predicted from the rings (ringkv only). */
  ringFraction: number | undefined;
  /** Records per node after the change (ringkv: counted on disk after stop; Redis: DBSIZE). */
  perNode: Record<string, number>;
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

/**
 * Polls a node's ring every POLL_MS until it has `members` members and no pending change;
 * returns when the pending ring was first seen (undefined if the change came and went between
 * two polls) and when the commit was seen.
 */
async function watchJoin(httpPort: number, members: number): Promise<{ pendingAt: bigint | undefined; committedAt: bigint; after: RingBody }> {
  const POLL_MS = 50;
  const deadline = Date.now() + CHANGE_TIMEOUT_MS;
  let pendingAt: bigint | undefined;
  for (;;) {
    const r = await ringOf(httpPort).catch(() => undefined);
    const now = process.hrtime.bigint();
    if (r !== undefined) {
      if (r.pending !== null) pendingAt ??= now;
      if (r.current.members.length >= members && r.pending === null) return { pendingAt, committedAt: now, after: r };
    }
    if (Date.now() > deadline) throw new Error(`the join did not commit within ${CHANGE_TIMEOUT_MS} ms`);
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}

async function ringkvRound(round: number, keys: number, opts: RunOptions): Promise<RebalanceSample> {
  const cluster = await takeOrStart(REBALANCE_RINGKV_CLUSTER, opts);
  try {
    const [n1] = cluster.members;
    if (n1?.httpPort === undefined || n1.peerPort === undefined) throw new Error('node 1 has no HTTP or peer port');
    const load = await loadKeys(HOST, n1.port, { count: keys, valueBytes: VALUE_BYTES, batch: 500 });
    if (load.errorReplies > 0) throw new Error(`${load.errorReplies} SETs failed, first: ${load.firstError ?? ''}`);
    const before = await ringOf(n1.httpPort);
    const base = join(n1.dir, '..');
    // Node 4 asks to join by itself once it reaches its seed (autoJoin): watch node 1's ring from
    // before the start, so the change's first appearance (pending ring) is seen within a poll.
    const t0 = process.hrtime.bigint();
    const watch = watchJoin(n1.httpPort, 4);
    const n4 = await startRingkvNode(opts.ctx, RINGKV, base, 'n4', [`${HOST}:${n1.peerPort}`]);
    cluster.members.push(n4);
    const seen = await watch;
    const after = seen.after;
    const startToCommitSec = Number(seen.committedAt - t0) / 1e9;
    const changeSec = seen.pendingAt === undefined ? undefined : Number(seen.committedAt - seen.pendingAt) / 1e9;
    const progress = await httpJson(n4.httpPort as number, '/admin/topology') as Progress;
    const streamedBytes = progress.bytesStreamed ?? progress.bytes_streamed;
    const [moved, total] = movedCopies(keysPerSlot(keys), replicasBySlot(before.current), replicasBySlot(after.current));
    await waitRingkvReady(cluster.members, 4, opts.ctx.startTimeoutMs);
    const lost = await countMismatches(HOST, n4.port, { count: keys, expected: 'v'.repeat(VALUE_BYTES), batch: 500 });
    // Old owners drop what they no longer own only after the commit: give that a moment, then
    // stop every node and count what each one holds on disk.
    if (!opts.smoke) await new Promise((r) => setTimeout(r, SETTLE_MS));
    await cluster.stop();
    const perNode: Record<string, number> = {};
    for (const m of cluster.members) perNode[m.name] = await countStoredRecords(join(m.dir, 'data'));
    const onNew = perNode.n4 ?? 0;
    const copies = keys * RINGKV.replicationFactor;
    // What old owners still hold beyond their share (not purged yet), and readiness probe keys.
    const oldExcess = Object.entries(perNode).filter(([id]) => id !== 'n4').reduce((a, [, n]) => a + n, 0) - (copies - onNew);
    opts.log(`rebalance r${round} ringkv: ${fmtInt(keys)} keys, join committed ${changeSec === undefined ? '(pending ring not seen)' : `${changeSec.toFixed(2)} s after it appeared`}, ${startToCommitSec.toFixed(2)} s after node 4 started; ring moves ${(moved / total).toFixed(3)} of copies; on disk ${JSON.stringify(perNode)}; ${lost} keys not read back`);
    return {
      round, system: RINGKV.id, keys, movedFraction: onNew / copies, ringFraction: total > 0 ? moved / total : undefined, perNode,
      newNodeKeys: onNew, bytesStreamed: streamedBytes, changeSec: changeSec ?? startToCommitSec, loadSec: load.wallSec, lostKeys: lost,
      detail: `old nodes hold ${fmtInt(oldExcess)} records beyond their share (not purged yet, plus readiness probe keys); node 4 start to commit ${startToCommitSec.toFixed(2)} s${changeSec === undefined ? ' (pending ring never seen: "change s" is start to commit)' : ''}; records per node ${JSON.stringify(perNode)}; node 4 progress after: phase ${progress.phase ?? '?'}, ${progress.keysStreamed ?? progress.keys_streamed ?? '?'} keys streamed`,
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
    await waitUntil('redis 4th master known to all, cluster state ok', opts.ctx.startTimeoutMs, async () => {
      for (const m of cluster.members) {
        const r = await command(HOST, m.port, ['CLUSTER', 'INFO']);
        const text = r.kind === 'bulk' ? r.text ?? '' : '';
        if (!text.includes('cluster_known_nodes:4') || !text.includes('cluster_state:ok')) return `${m.name} does not know 4 nodes with cluster_state ok yet`;
      }
      return undefined;
    });
    const t0 = process.hrtime.bigint();
    const reb = await runClient({ cmd: 'redis-cli', args: ['--cluster', 'rebalance', `${HOST}:${first.port}`, '--cluster-use-empty-masters'], timeoutMs: CHANGE_TIMEOUT_MS });
    const changeSec = Number(process.hrtime.bigint() - t0) / 1e9;
    if (reb.exitCode !== 0) throw new Error(`redis-cli --cluster rebalance: ${(reb.stdout + reb.stderr).slice(-400)}`);
    const newKeys = await dbsize(port);
    let sumKeys = 0;
    const perNode: Record<string, number> = {};
    for (const m of cluster.members) {
      perNode[m.name] = await dbsize(m.port);
      sumKeys += perNode[m.name] ?? 0;
    }
    const lost = keys - sumKeys;
    opts.log(`rebalance r${round} redis: ${fmtInt(keys)} keys, rebalance took ${changeSec.toFixed(2)} s, new master holds ${fmtInt(newKeys)} (${(newKeys / keys).toFixed(3)})`);
    return {
      round, system: REDIS.id, keys, movedFraction: sumKeys > 0 ? newKeys / sumKeys : undefined, ringFraction: undefined, perNode, newNodeKeys: newKeys, bytesStreamed: undefined,
      changeSec, loadSec, lostKeys: Math.max(0, lost), detail: `DBSIZE per master after ${JSON.stringify(perNode)}`,
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
    const blocked = ringkvClusterBlocked(opts.ctx);
    const failures: string[] = [];
    const samples: RebalanceSample[] = [];
    for (let round = 1; round <= rounds; round++) {
      const runs: Array<[string, () => Promise<RebalanceSample>]> = [];
      if (blocked === undefined) runs.push([RINGKV.id, () => ringkvRound(round, keys, opts)]);
      // redis-cli moves slots one at a time (about 25 s for 4096 slots here, whatever the keys):
      // too slow for the smoke run's one-minute budget.
      if (!opts.smoke) runs.push([REDIS.id, () => redisRound(round, keys, opts)]);
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
        fmtSummary(summarize(ss.map((s) => s.ringFraction)), fmtFixed(3)),
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
      mdTable(['system', 'moved fraction (measured)', 'by the rings', 'measured / ideal (1/4)', 'keys to new node', 'bytes streamed', 'change s', 'keys to new node / s', 'load s', 'lost keys'], ids.map(row)),
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
        `${fmtInt(keys)} keys (16-byte key:%012d, ${VALUE_BYTES}-byte values). ringkv: N=3, rocksdb, node 4 started`,
        'seeded with node 1 and joining by itself (autoJoin); node 1\'s ring polled every 50 ms: "change s" runs from',
        'the first poll showing the pending ring to the first showing 4 members and no pending change (+-50 ms;',
        'from node 4\'s start when the pending ring was never seen). Measured moved fraction = records on node 4 /',
        `(keys x 3), counted on disk after ${SETTLE_MS / 1000} s and a graceful stop; "by the rings" = copies whose`,
        'owner changed / all copies, from the rings before and after. Redis Cluster: 3 masters, no replicas;',
        '`redis-cli --cluster add-node` then `--cluster rebalance --cluster-use-empty-masters`, timed; moved fraction =',
        'DBSIZE of the new master / all keys.',
        'Every key is read back after the change (ringkv: through node 4, at the default quorum).',
        ...(blocked !== undefined ? ['', `**Not measured:** \`${RINGKV.id}\`: ${blocked}`] : []),
        ...(opts.smoke ? ['', 'Smoke run: Redis Cluster\'s rebalance is skipped (it takes ~25 s whatever the key count).'] : []),
      ],
      systems: [
        { id: RINGKV.id, label: RINGKV.label, commandLine: blocked ?? '(started fresh each round; see the cluster scenario for node command lines; node 4 is seeded with node 1)' },
        { id: REDIS.id, label: REDIS.label, commandLine: '(started fresh each round) redis-server --cluster-enabled yes ...; redis-cli --cluster create ...; redis-cli --cluster add-node NEW EXISTING; redis-cli --cluster rebalance EXISTING --cluster-use-empty-masters' },
      ],
      commands: [`loader: SET key:%012d <${VALUE_BYTES} bytes> for 0..${keys - 1}, 500 per pipelined batch`],
      sections, summary, failures, raw: samples,
    };
  },
};
