/**
 * ringkv as the system under test: one cluster node per host namespace, rocksdb with fsync
 * durability (a kill -9 must not lose an acknowledged write), conflict mode and strict/sloppy
 * quorum from the run's configuration, R = W = QUORUM of N = 3.
 *
 * Bootstrapping: host 1 starts with no seeds (it forms the cluster) and the others seed every
 * other host, so a restarted node finds the cluster through any live member; data directories
 * persist across restarts (membership and ring state live there too).
 *
 * Reads: GETCTX (every sibling, so the checkers see concurrent values). Shared-key set adds:
 * GETCTX, union of the siblings plus the element, SETCTX with the context read. Convergence: CLUSTER SLOTS names each key's replicas; each replica is asked for its
 * own record (see `localRead`).
 */
import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import { join } from 'node:path';
import type { HostInfo } from './netns.js';
import type { ChaosSystem, SystemOptions } from './systems.js';

export interface RingkvSystemOptions extends SystemOptions {
  readonly mode: 'siblings' | 'lww';
  readonly strict: boolean;
}

const RESP_PORT = 6379;
const PEER_PORT = 7380;
const HTTP_PORT = 7379;

interface SlotRange {
  readonly from: number;
  readonly to: number;
  /** Replica addresses in preference order. */
  readonly replicas: string[];
}

async function clusterInfo(conn: Redis): Promise<Map<string, string>> {
  const text = String(await conn.call('CLUSTER', 'INFO'));
  const m = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

async function clusterSlots(conn: Redis): Promise<SlotRange[]> {
  const raw = (await conn.call('CLUSTER', 'SLOTS')) as unknown[];
  const out: SlotRange[] = [];
  for (const r of raw) {
    if (!Array.isArray(r)) continue;
    const [from, to, ...nodes] = r as unknown[];
    out.push({
      from: Number(from), to: Number(to),
      replicas: nodes.filter(Array.isArray).map((n) => String((n as unknown[])[0])),
    });
  }
  return out;
}

function valuesOf(reply: unknown): string[] {
  if (reply === null || reply === undefined) return [];
  if (Buffer.isBuffer(reply) || typeof reply === 'string') return [String(reply)];
  if (Array.isArray(reply)) return reply.flatMap(valuesOf);
  return [String(reply)];
}

export function ringkvSystem(o: RingkvSystemOptions): ChaosSystem {
  const hosts = o.topo.hosts;
  const addrToIndex = new Map(hosts.map((h) => [h.addr, h.index]));
  /** Replica addresses per slot (16384 entries), fetched once per ring (CLUSTER SLOTS is large). */
  let slotOwners: Promise<string[][] | null> | null = null;

  function owners(conns: ReadonlyMap<number, Redis>): Promise<string[][] | null> {
    slotOwners ??= (async () => {
      for (const c of conns.values()) {
        try {
          const table: string[][] = new Array<string[]>(16384).fill([]);
          for (const r of await clusterSlots(c)) for (let s = r.from; s <= r.to; s++) table[s] = r.replicas;
          return table;
        } catch {
          // try the next host
        }
      }
      slotOwners = null;
      return null;
    })();
    return slotOwners;
  }

  /** Every counter of one node (GET /v1/cluster/stats on its HTTP port); null when it does not answer. */
  async function nodeStats(host: HostInfo): Promise<Record<string, number | undefined> | null> {
    try {
      const res = await fetch(`http://${host.addr}:${HTTP_PORT}/v1/cluster/stats`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return null;
      const body = (await res.json()) as { stats?: Record<string, unknown> };
      const out: Record<string, number | undefined> = {};
      for (const [k, v] of Object.entries(body.stats ?? {})) if (typeof v === 'number') out[k] = v;
      return out;
    } catch {
      return null;
    }
  }

  /** GETCTX key -> [context, [value, ...]]. */
  async function getctx(conn: Redis, key: string): Promise<{ context: string; values: string[] }> {
    const r = (await conn.call('GETCTX', key)) as unknown;
    if (!Array.isArray(r) || r.length !== 2 || !Array.isArray(r[1])) throw new Error(`GETCTX: unexpected reply ${JSON.stringify(r).slice(0, 200)}`);
    return { context: String(r[0]), values: valuesOf(r[1]).sort() };
  }

  async function read(conn: Redis, key: string): Promise<string[]> {
    return (await getctx(conn, key)).values;
  }

  return {
    name: 'ringkv',
    respPort: RESP_PORT,
    description: `ringkv cluster, ${o.mode} mode, ${o.strict ? 'strict' : 'sloppy'} quorum, N=3 R=W=quorum, rocksdb durability fsync`,
    command(host: HostInfo) {
      const seeds = hosts.filter((h) => h.index !== host.index).map((h) => `${h.addr}:${PEER_PORT}`);
      const args = [
        '--import', 'tsx', join(o.repoRoot, 'src', 'cli', 'main.ts'), 'start',
        '--host', host.addr, '--resp-port', String(RESP_PORT), '--peer-port', String(PEER_PORT), '--http-port', String(HTTP_PORT),
        '--data-dir', join(o.dataDir, `n${host.index}`), '--engine', 'rocksdb', '--durability', 'fsync',
        '--cluster-node-id', `n${host.index}`,
        '--cluster-conflict-mode', o.mode, '--cluster-strict-quorum', String(o.strict),
        '--cluster-replication-factor', '3', '--cluster-read-consistency', 'quorum', '--cluster-write-consistency', 'quorum',
        '--log-level', 'info',
      ];
      if (host.index !== 1) args.push('--cluster-seeds', seeds.join(','));
      return { cmd: process.execPath, args, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }, cwd: o.repoRoot };
    },
    async awaitMembers(started, deadlineMs) {
      // One join at a time: concurrent auto-joins can lose one (a pending join replaced by
      // another at the same epoch while the first joiner believes it is in; see the report).
      for (;;) {
        const stats = await Promise.all(started.map((h) => nodeStats(h)));
        if (stats.every((st) => st !== null && st.ringMembers === started.length && st.ringPending === 0)) return;
        if (Date.now() > deadlineMs) {
          throw new Error(`ringkv: ${started.length} nodes did not form a ring: ${stats.map((st, i) => `host ${started[i]?.index}: members=${String(st?.ringMembers)} pending=${String(st?.ringPending)}`).join(', ')}`);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    async awaitReady(connect, deadlineMs) {
      let last = '';
      for (;;) {
        let ready = 0;
        for (const h of hosts) {
          const c = connect(h);
          try {
            await c.connect();
            const info = await clusterInfo(c);
            const stats = await nodeStats(h);
            const ok = info.get('cluster_state') === 'ok' && info.get('cluster_slots_ok') === '16384'
              && stats !== null && stats.ringMembers === hosts.length && stats.ringPending === 0;
            if (ok) ready++;
            else last = `host ${h.index}: ${[...info].filter(([k]) => /state|slots_ok|size|known/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ')} ringMembers=${String(stats?.ringMembers)} ringPending=${String(stats?.ringPending)}`;
          } catch (err) {
            last = `host ${h.index}: ${(err as Error).message}`;
          } finally {
            c.disconnect();
          }
        }
        if (ready === hosts.length) {
          slotOwners = null;
          return;
        }
        if (Date.now() > deadlineMs) throw new Error(`ringkv cluster not ready: ${last}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    async prepare() {},
    read,
    async write(conn, key, value) {
      await conn.set(key, value);
    },
    async addShared(conn, key, element) {
      const { context, values } = await getctx(conn, key);
      const elements = new Set<string>();
      for (const v of values) for (const e of v.split(',')) if (e !== '') elements.add(e);
      elements.add(element);
      await conn.call('SETCTX', key, context, [...elements].join(','));
    },
    finalRead: read,
    async prepareProbe(conn) {
      await conn.call('CONSISTENCY', 'READ', 'ONE');
    },
    async prepareFinal(conn) {
      // Every replica answers and is merged: the strongest read (the run is healed by now).
      await conn.call('CONSISTENCY', 'READ', 'ALL');
    },
    async repairCounters(host) {
      const st = await nodeStats(host);
      if (st === null) return null;
      return { held: st.hints_held ?? 0, repairActivity: (st.ae_usefulBytes ?? 0) + (st.core_readRepairsSent ?? 0) };
    },
    async replicaValues(conns, key) {
      const table = await owners(conns);
      const replicas = table?.[calculateSlot(key)] ?? [];
      if (replicas.length === 0) return [null];
      return Promise.all(replicas.map(async (addr) => {
        const i = addrToIndex.get(addr);
        const c = i === undefined ? undefined : conns.get(i);
        if (c === undefined) return null;
        try {
          return await localRead(c, key);
        } catch {
          return null;
        }
      }));
    },
  };

  /**
   * This replica's view of the key: a read at level ONE coordinated by the replica itself. The
   * coordinator answers with the first replica that replies (normally its own store, which
   * has no network hop) and then read-repairs the others, so probing speeds convergence up:
   * this measures time to observed agreement. ringkv has no command that returns one node's
   * stored record without coordinating; the passive figures (repairCounters) come first.
   */
  async function localRead(conn: Redis, key: string): Promise<string[]> {
    return read(conn, key);
  }
}
