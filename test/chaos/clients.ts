/**
 * Logical clients: each one an independent process in the history, with one connection at a
 * time to a host it picks at random (seeded), and at most one operation outstanding. A
 * connection-level failure (timeout, reset, refused) drops the connection and the next
 * operation goes through a freshly picked host, so clients follow the cluster around faults.
 *
 * Workload mix per operation: `add` (set workload: a unique element written under its own
 * key `s:<process>:<n>`, or added by read-modify-write to a shared key `ss:<period>:<i>`
 * that every client adds to concurrently) or a register operation on one of a few shared
 * keys `r:<i>` (read or write of a unique value). All run in every run so every checker sees data.
 *
 * Bounds: an operation waits at most `opTimeoutMs` (client side), a client stops at the
 * deadline or after `opsMax` operations, and the think time keeps the load modest (the
 * harness measures safety, not throughput, and shares a small machine).
 */
import { Redis } from 'ioredis';
import { Prng } from '../sim/prng.js';
import type { HistoryRecorder, InvokeEntry, OpF } from './history.js';
import type { HostInfo } from './netns.js';
import { classifyError, type ChaosSystem } from './systems.js';

export interface ClientOptions {
  readonly hosts: readonly HostInfo[];
  readonly system: ChaosSystem;
  readonly history: HistoryRecorder;
  readonly seed: number;
  readonly opTimeoutMs: number;
  readonly thinkMs: readonly [number, number];
  /** Fraction of operations that are set adds (the rest are register reads/writes). */
  readonly addFraction: number;
  /** Fraction of adds that go to a shared key (read-modify-write) instead of their own key. */
  readonly sharedFraction: number;
  /** A shared key is used for this long, then the next one starts (keeps values small). */
  readonly sharedKeyPeriodMs: number;
  /** Concurrent shared keys per period. */
  readonly sharedKeys: number;
  readonly registerKeys: number;
}

export function connectTo(host: HostInfo, port: number, opTimeoutMs: number): Redis {
  return new Redis({
    host: host.addr,
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    connectTimeout: Math.min(2000, opTimeoutMs),
    commandTimeout: opTimeoutMs,
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ChaosClient {
  private readonly prng: Prng;
  private conn: Redis | null = null;
  private host: HostInfo | null = null;
  private counter = 0;
  ops = 0;

  constructor(readonly process: number, private readonly o: ClientOptions) {
    this.prng = new Prng(o.seed);
  }

  private dropConnection(): void {
    this.conn?.disconnect();
    this.conn = null;
    this.host = null;
  }

  /** Connects to a random host; null when that host does not answer (the caller retries later). */
  private async connection(): Promise<{ conn: Redis; host: HostInfo } | null> {
    if (this.conn !== null && this.host !== null) return { conn: this.conn, host: this.host };
    const host = this.prng.pick(this.o.hosts);
    const conn = connectTo(host, this.o.system.respPort, this.o.opTimeoutMs);
    // Errors surface through the commands; an unhandled 'error' event must not crash the harness.
    conn.on('error', () => {});
    try {
      await conn.connect();
      await this.o.system.prepare(conn);
    } catch {
      conn.disconnect();
      return null;
    }
    this.conn = conn;
    this.host = host;
    return { conn, host };
  }

  private async perform(f: OpF, key: string, value: string | null, run: (conn: Redis) => Promise<string[] | null>): Promise<void> {
    const c = await this.connection();
    if (c === null) {
      await sleep(100);
      return;
    }
    this.ops++;
    const inv: InvokeEntry = this.o.history.invoke({ process: this.process, f, key, value, node: c.host.index });
    try {
      const values = await run(c.conn);
      this.o.history.complete(inv, 'ok', values, null);
    } catch (err) {
      const isWrite = f === 'add' || f === 'write';
      const out = classifyError(err, isWrite);
      this.o.history.complete(inv, out.type, null, out.error);
      // Connection-level failures, and a node that only serves reads (a Redis replica), send the
      // next operation through another host.
      if (out.error === 'TIMEOUT_CLIENT' || out.error === 'CONN_LOST' || out.error === 'NOT_SENT' || out.error === 'CLIENT_OTHER' || out.error === 'READONLY') this.dropConnection();
    }
  }

  async step(): Promise<void> {
    const { system } = this.o;
    if (this.prng.chance(this.o.addFraction)) {
      const n = ++this.counter;
      const element = `${this.process}-${n}`;
      if (this.prng.chance(this.o.sharedFraction)) {
        const key = `ss:${Math.floor(this.o.history.now() / this.o.sharedKeyPeriodMs)}:${this.prng.int(this.o.sharedKeys)}`;
        await this.perform('add', key, element, async (conn) => {
          await system.addShared(conn, key, element);
          return null;
        });
        return;
      }
      const key = `s:${this.process}:${n}`;
      await this.perform('add', key, element, async (conn) => {
        await system.write(conn, key, element);
        return null;
      });
      return;
    }
    const key = `r:${this.prng.int(this.o.registerKeys)}`;
    if (this.prng.chance(0.5)) {
      await this.perform('read', key, null, (conn) => system.read(conn, key));
    } else {
      const value = `${this.process}-${++this.counter}`;
      await this.perform('write', key, value, async (conn) => {
        await system.write(conn, key, value);
        return null;
      });
    }
  }

  /** Runs until `shouldStop()` or `opsMax` operations. */
  async run(shouldStop: () => boolean, opsMax: number): Promise<void> {
    try {
      while (!shouldStop() && this.ops < opsMax) {
        await this.step();
        await sleep(this.prng.between(this.o.thinkMs[0], this.o.thinkMs[1]));
      }
    } finally {
      this.dropConnection();
    }
  }
}
