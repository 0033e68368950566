/**
 * The systems the harness can run, behind one interface: how to start a node in a host
 * namespace, how a client reads and writes, how to read a key strongly after the heal, and
 * how to read each replica's own record for the convergence check.
 *
 * - redis: redis-server 1 primary + replicas, no persistence. It is the harness's control
 *   subject: asynchronous replication and kill -9 of a primary without persistence lose
 *   acknowledged writes, so a run against it proves the checkers can fail.
 * - ringkv: one ringkv cluster node per host (see ringkv-system.ts).
 *
 * Error classification (the heart of an honest history): for writes, only replies that mean
 * "did not happen" are `fail`; MAYBE, timeouts, a connection lost after sending and anything
 * unexpected are `info` (may have happened). Reads change nothing, so a failed read is `fail`.
 */
import type { Redis } from 'ioredis';
import type { HostInfo, Topology } from './netns.js';
import type { NodeCommand } from './nodes.js';

export interface SystemOptions {
  readonly topo: Topology;
  readonly dataDir: string;
  readonly repoRoot: string;
}

export interface ChaosSystem {
  readonly name: string;
  readonly respPort: number;
  /** Human summary of the configuration under test, for the report. */
  readonly description: string;
  command(host: HostInfo): NodeCommand;
  /** Resolves when every host serves requests (and the cluster has formed); rejects at the deadline. */
  awaitReady(connect: (host: HostInfo) => Redis, deadlineMs: number): Promise<void>;
  /**
   * When present, nodes are started one at a time and this resolves once `started` (the hosts
   * running so far) form the cluster; rejects at the deadline.
   */
  awaitMembers?(started: readonly HostInfo[], deadlineMs: number): Promise<void>;
  /** Prepares a fresh client connection (per-connection levels and the like). */
  prepare(conn: Redis): Promise<void>;
  /** Reads one key: the live values (siblings), [] when absent. */
  read(conn: Redis, key: string): Promise<string[]>;
  write(conn: Redis, key: string, value: string): Promise<void>;
  /**
   * Adds `element` to the set stored under a shared `key` (values are comma-joined elements):
   * read, union every sibling, append, write back superseding what was read. Concurrent adds
   * must all survive where the system keeps concurrent versions (siblings); a last-write-wins
   * system loses some, which the set checker measures.
   */
  addShared(conn: Redis, key: string, element: string): Promise<void>;
  /** The read used for the final set check (strongest the system offers). */
  finalRead(conn: Redis, key: string): Promise<string[]>;
  /**
   * Each replica's own record of `key` (sorted values), one entry per replica; null entries =
   * that replica could not be asked. Used after the heal to measure convergence.
   */
  replicaValues(conns: ReadonlyMap<number, Redis>, key: string): Promise<(string[] | null)[]>;
  /** Prepares a connection used by replicaValues (e.g. read level ONE). */
  prepareProbe(conn: Redis): Promise<void>;
  /** Prepares a connection used by finalRead (e.g. read level ALL). */
  prepareFinal(conn: Redis): Promise<void>;
  /**
   * Repair activity counters of one host, read without touching any key (so measuring does not
   * repair): records held for others (hints), and a counter that rises whenever repair changes
   * a stored record (anti-entropy useful bytes + read repairs sent).
   * Undefined when the system has no such counters.
   */
  repairCounters?(host: HostInfo): Promise<{ held: number; repairActivity: number } | null>;
}

export type Outcome = { type: 'fail' | 'info'; error: string };

/** Replies that mean the write did not happen (ringkv's registry and Redis's own). */
const NOT_APPLIED = new Set(['UNAVAILABLE', 'BUSY', 'TRYAGAIN', 'READONLY', 'LOADING', 'SHUTDOWN', 'SIBLINGS', 'OOM', 'NOAUTH', 'WRONGTYPE', 'MASTERDOWN']);

export function classifyError(err: unknown, isWrite: boolean): Outcome {
  const e = err as { name?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (e.name === 'ReplyError') {
    const prefix = message.split(' ', 1)[0] ?? 'ERR';
    if (!isWrite) return { type: 'fail', error: prefix };
    if (NOT_APPLIED.has(prefix)) return { type: 'fail', error: prefix };
    // MAYBE, TIMEOUT, ERR (internal) ...: may have happened.
    return { type: 'info', error: prefix };
  }
  let code = 'CLIENT_OTHER';
  if (/timed out/i.test(message)) code = 'TIMEOUT_CLIENT';
  else if (/isn't writeable|enableOfflineQueue/i.test(message)) code = 'NOT_SENT';
  else if (/connection is closed|ECONNRESET|EPIPE|ECONNREFUSED/i.test(message)) code = 'CONN_LOST';
  if (!isWrite) return { type: 'fail', error: code };
  // Not sent at all: cannot have happened.
  if (code === 'NOT_SENT') return { type: 'fail', error: code };
  return { type: 'info', error: code };
}

function sortedValues(v: string | null): string[] {
  return v === null ? [] : [v];
}

export function redisSystem(o: SystemOptions): ChaosSystem {
  const port = 6379;
  const primary = o.topo.hosts[0];
  if (primary === undefined) throw new RangeError('redis system needs at least one host');
  return {
    name: 'redis',
    respPort: port,
    description: `redis-server: primary host 1, replicas on hosts 2..${o.topo.hosts.length}, asynchronous replication, no persistence`,
    command(host) {
      const args = ['--port', String(port), '--bind', host.addr, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', o.dataDir];
      if (host.index !== primary.index) args.push('--replicaof', primary.addr, String(port));
      return { cmd: 'redis-server', args, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: o.dataDir };
    },
    async awaitReady(connect, deadlineMs) {
      for (const h of o.topo.hosts) {
        for (;;) {
          const c = connect(h);
          try {
            await c.connect();
            const info = String(await c.info('replication'));
            if (h.index === primary.index || /master_link_status:up/.test(info)) break;
          } catch {
            // not up yet
          } finally {
            c.disconnect();
          }
          if (Date.now() > deadlineMs) throw new Error(`host ${h.index} not ready`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async prepare() {},
    async read(conn, key) {
      return sortedValues(await conn.get(key));
    },
    async write(conn, key, value) {
      await conn.set(key, value);
    },
    async addShared(conn, key, element) {
      const v = await conn.get(key);
      await conn.set(key, v === null || v === '' ? element : `${v},${element}`);
    },
    async finalRead(conn, key) {
      return sortedValues(await conn.get(key));
    },
    async prepareProbe() {},
    async prepareFinal() {},
    async replicaValues(conns, key) {
      return Promise.all(o.topo.hosts.map(async (h) => {
        const c = conns.get(h.index);
        if (c === undefined) return null;
        try {
          return sortedValues(await c.get(key));
        } catch {
          return null;
        }
      }));
    },
  };
}
