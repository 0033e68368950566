/**
 * ringkv as the system under test: one cluster node per host namespace, rocksdb with fsync
 * durability (a kill -9 must not lose an acknowledged write), conflict mode and strict/sloppy
 * quorum from the run's configuration, R = W = QUORUM of N = 3.
 *
 * Bootstrapping: host 1 starts with no seeds (it forms the cluster) and the others seed every
 * other host, so a restarted node finds the cluster through any live member; data directories
 * persist across restarts (membership and ring state live there too).
 *
 * Reads: GETCTX when the server has it (every sibling, so the checkers see concurrent values),
 * else GET. Convergence: CLUSTER SLOTS names each key's replicas; each replica is asked for its
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
  let hasGetctx: boolean | null = null;
  let slots: SlotRange[] | null = null;

  async function read(conn: Redis, key: string): Promise<string[]> {
    if (hasGetctx !== false) {
      try {
        const r = (await conn.call('GETCTX', key)) as unknown;
        hasGetctx = true;
        // [values..., context] or [[values...], context]: values are all but the trailing context.
        if (Array.isArray(r)) {
          const head = r[0];
          return Array.isArray(head) ? valuesOf(head).sort() : valuesOf(r.slice(0, -1)).sort();
        }
        return valuesOf(r).sort();
      } catch (err) {
        if (hasGetctx === null && /unknown command/i.test((err as Error).message)) hasGetctx = false;
        else throw err;
      }
    }
    const v = await conn.get(key);
    return v === null ? [] : [v];
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
        '--log-level', 'warn',
      ];
      if (host.index !== 1) args.push('--cluster-seeds', seeds.join(','));
      return { cmd: process.execPath, args, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }, cwd: o.repoRoot };
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
            const ok = info.get('cluster_state') === 'ok' && info.get('cluster_slots_ok') === '16384' && Number(info.get('cluster_size')) === hosts.length;
            if (ok) ready++;
            else last = `host ${h.index}: ${[...info].filter(([k]) => /state|slots_ok|size|known/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ')}`;
          } catch (err) {
            last = `host ${h.index}: ${(err as Error).message}`;
          } finally {
            c.disconnect();
          }
        }
        if (ready === hosts.length) {
          slots = null;
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
    finalRead: read,
    async replicaValues(conns, key) {
      const any = conns.values().next().value;
      if (any === undefined) return [null];
      if (slots === null) slots = await clusterSlots(any);
      const slot = calculateSlot(key);
      const range = slots.find((r) => r.from <= slot && slot <= r.to);
      if (range === undefined) return [null];
      return Promise.all(range.replicas.map(async (addr) => {
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

  /** This replica's own record of the key (read at ONE through the replica itself). */
  async function localRead(conn: Redis, key: string): Promise<string[]> {
    return read(conn, key);
  }
}
