/**
 * RespServer: the TCP shell that speaks RESP2/RESP3 to clients. It owns the listener, the set of
 * connections, server-wide counters and the runtime-changeable configuration; everything per
 * client lives in Connection, everything per command in the command modules.
 *
 * Lifecycle (after fastify/undici): construct, `listen()`, then either `close(timeoutMs)` —
 * stop accepting, let in-flight commands finish and their replies flush, end sockets, destroy
 * whatever is left at the deadline — or `destroy()` at once.
 *
 * EXEC isolation: an EXEC runs only when no other connection has a command in flight, and while
 * it runs (or waits to) every other connection parks before its next command. With the memory
 * engine an EXEC completes synchronously, so nobody ever parks; with asynchronous engines this is
 * what makes a transaction atomic on one node.
 *
 * Limits: `maxclients` (over it a new client gets "-ERR max number of clients reached" and is
 * closed), `timeout` (idle clients closed), `pipelineDepthMax` and `protoMaxBulkLen` per
 * connection. CONFIG SET changes are validated through the one config schema, applied to live
 * connections and announced to `onConfigChange` listeners (the store/engine may need them).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import { configSchema, type Config } from '../config/schema.js';
import type { KvStore } from '../data/kv-store.js';
import { RingkvError } from '../errors/index.js';
import { isPromise, type MaybePromise } from '../util/maybe-promise.js';
import type { ClientInfo, CommandSpec, CommandStats, ServerFacade, ServerStats } from './commands/command.js';
import { findConfigParam } from './commands/connection/config-params.js';
import { Connection, type CommandMetrics, type ConnectionHost } from './connection.js';

export interface RespServerOptions {
  config: Config;
  store: KvStore;
  commands: ReadonlyMap<string, CommandSpec>;
  logger?: Logger;
  /** Wall clock, Unix ms. */
  now?: () => number;
  metrics?: CommandMetrics;
}

export type ConfigChangeListener = (next: Config, previous: Config) => void;

/** Redis keeps at most 128 distinct error prefixes in errorstats. */
const ERROR_KINDS_MAX = 128;

/** Redis's STATS_METRIC_SAMPLES and the cron period it samples at. */
const RATE_SAMPLES = 16;
const RATE_SAMPLE_MS = 100;

/** A moving average of a counter's rate (Redis's trackInstantaneousMetric). */
class RateTracker {
  private readonly samples = new Array<number>(RATE_SAMPLES).fill(0);
  private idx = 0;
  private lastValue = 0;
  private lastMs = 0;

  sample(value: number, nowMs: number): void {
    const dt = nowMs - this.lastMs;
    if (this.lastMs !== 0 && dt > 0) {
      this.samples[this.idx] = ((value - this.lastValue) * 1000) / dt;
      this.idx = (this.idx + 1) % RATE_SAMPLES;
    }
    this.lastValue = value;
    this.lastMs = nowMs;
  }

  /** Per second. */
  get rate(): number {
    return this.samples.reduce((a, b) => a + b, 0) / RATE_SAMPLES;
  }
}

const MAX_CLIENTS_REPLY = Buffer.from('-ERR max number of clients reached\r\n');

export class RespServer implements ConnectionHost, ServerFacade {
  readonly store: KvStore;
  readonly logger: Logger | undefined;
  readonly metrics: CommandMetrics | undefined;
  readonly startedAtMs: number;
  /** 40 hex chars, as Redis's run_id. */
  readonly runId = randomBytes(20).toString('hex');
  readonly counters: ServerStats = newStats();
  /** The bound port once listening. */
  port: number | undefined;

  private currentConfig: Config;
  private readonly commandTable: ReadonlyMap<string, CommandSpec>;
  /**
   * Lookup by the bytes of the name as sent, without making a string: a case-folded hash of the
   * bytes picks candidates, whose lower-case names are then compared byte by byte.
   */
  private readonly byHash = new Map<number, { name: Buffer; spec: CommandSpec }[]>();
  private readonly subByContainer = new Map<CommandSpec, Map<string, CommandSpec>>();
  private readonly connections = new Set<Connection>();
  private cmdStats = new Map<CommandSpec, CommandStats>();
  private readonly opsRate = new RateTracker();
  private readonly inRate = new RateTracker();
  private readonly outRate = new RateTracker();
  private rateTimer: NodeJS.Timeout | undefined;
  /** EXEC isolation: the connection running one, those waiting to, those parked meanwhile. */
  private exclusive: Connection | undefined;
  private readonly exclusiveWaiting: { conn: Connection; start: () => void }[] = [];
  private readonly parked = new Set<Connection>();
  /** Connections with a handler promise pending. */
  private busyConnections = 0;
  private errStats = new Map<string, number>();
  private readonly listeners = new Set<ConfigChangeListener>();
  private readonly nowFn: () => number;
  private readonly server: net.Server;
  private nextClientId = 1;
  private listening = false;
  private closingPromise: Promise<void> | undefined;
  /** Set while close() waits for the last connection to go. */
  private onAllClosed: (() => void) | undefined;

  constructor(opts: RespServerOptions) {
    this.currentConfig = opts.config;
    this.store = opts.store;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.nowFn = opts.now ?? Date.now;
    this.startedAtMs = this.nowFn();
    this.commandTable = opts.commands;
    for (const [name, spec] of opts.commands) {
      const lowerName = Buffer.from(name.toLowerCase(), 'latin1');
      const h = foldedHash(lowerName);
      const bucket = this.byHash.get(h);
      if (bucket === undefined) this.byHash.set(h, [{ name: lowerName, spec }]);
      else bucket.push({ name: lowerName, spec });
      if (spec.subcommands !== undefined) {
        const subs = new Map<string, CommandSpec>();
        for (const sub of spec.subcommands) {
          const bar = sub.name.indexOf('|');
          subs.set((bar === -1 ? sub.name : sub.name.slice(bar + 1)).toLowerCase(), sub);
        }
        this.subByContainer.set(spec, subs);
      }
    }
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.logger?.error({ err }, 'resp listener error'));
  }

  // ---- lifecycle --------------------------------------------------------------------------

  listen(): Promise<{ port: number }> {
    const { host, respPort } = this.currentConfig;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port: respPort }, () => {
        this.server.off('error', onError);
        this.listening = true;
        const addr = this.server.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : respPort;
        this.port = port;
        this.rateTimer = setInterval(() => this.sampleRates(), RATE_SAMPLE_MS);
        this.rateTimer.unref();
        this.logger?.info({ host, port }, 'resp server listening');
        resolve({ port });
      });
    });
  }

  /** Graceful close; connections still open after `timeoutMs` are destroyed. */
  close(timeoutMs: number): Promise<void> {
    if (this.closingPromise !== undefined) return this.closingPromise;
    this.closingPromise = new Promise<void>((resolve) => {
      const serverClosed = new Promise<void>((r) => {
        if (!this.listening) r();
        else this.server.close(() => r());
      });
      for (const c of this.connections) c.shutdown();
      const timer = setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, timeoutMs);
      timer.unref();
      const allClosed = new Promise<void>((r) => {
        if (this.connections.size === 0) r();
        else this.onAllClosed = r;
      });
      clearInterval(this.rateTimer);
      void Promise.all([serverClosed, allClosed]).then(() => {
        clearTimeout(timer);
        this.listening = false;
        resolve();
      });
    });
    return this.closingPromise;
  }

  destroy(): void {
    clearInterval(this.rateTimer);
    if (this.listening) this.server.close();
    this.listening = false;
    for (const c of this.connections) c.destroy();
  }

  /** Listen for runtime config changes; returns the unsubscribe function. */
  onConfigChange(listener: ConfigChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- ConnectionHost ---------------------------------------------------------------------

  get config(): Config {
    return this.currentConfig;
  }

  get facade(): ServerFacade {
    return this;
  }

  now(): number {
    return this.nowFn();
  }

  lookup(name: Buffer): CommandSpec | undefined {
    if (name.length > 64) return undefined;
    const bucket = this.byHash.get(foldedHash(name));
    if (bucket === undefined) return undefined;
    for (const e of bucket) if (foldedEquals(e.name, name)) return e.spec;
    return undefined;
  }

  lookupSubcommand(container: CommandSpec, name: Buffer): CommandSpec | undefined {
    if (name.length > 64) return undefined;
    return this.subByContainer.get(container)?.get(name.toString('latin1').toLowerCase());
  }

  statsOf(spec: CommandSpec): CommandStats {
    let st = this.cmdStats.get(spec);
    if (st === undefined) {
      st = { calls: 0, usec: 0, rejectedCalls: 0, failedCalls: 0 };
      this.cmdStats.set(spec, st);
    }
    return st;
  }

  countError(line: string): void {
    const sp = line.indexOf(' ');
    const kind = sp === -1 ? line : line.slice(0, sp);
    const n = this.errStats.get(kind);
    if (n !== undefined) this.errStats.set(kind, n + 1);
    else if (this.errStats.size < ERROR_KINDS_MAX) this.errStats.set(kind, 1);
  }

  // ---- EXEC isolation ----------------------------------------------------------------------

  runExclusive(conn: Connection, fn: () => MaybePromise<void>): MaybePromise<void> {
    if (this.exclusive === undefined && this.exclusiveWaiting.length === 0 && this.busyConnections === 0) {
      return this.runAsOwner(conn, fn);
    }
    // Commands are in flight elsewhere (or another EXEC is ahead): wait for them to settle.
    return new Promise<void>((resolve, reject) => {
      this.exclusiveWaiting.push({
        conn,
        start: () => {
          try {
            const r = this.runAsOwner(conn, fn);
            if (isPromise(r)) r.then(resolve, reject);
            else resolve();
          } catch (e) {
            reject(e);
          }
        },
      });
    });
  }

  private runAsOwner(conn: Connection, fn: () => MaybePromise<void>): MaybePromise<void> {
    this.exclusive = conn;
    let r: MaybePromise<void>;
    try {
      r = fn();
    } catch (e) {
      this.releaseExclusive();
      throw e;
    }
    if (!isPromise(r)) {
      this.releaseExclusive();
      return r;
    }
    return r.finally(() => this.releaseExclusive());
  }

  private releaseExclusive(): void {
    this.exclusive = undefined;
    this.grantExclusive();
    if (this.exclusive === undefined && this.exclusiveWaiting.length === 0) {
      const parked = [...this.parked];
      this.parked.clear();
      for (const c of parked) c.unpark();
    }
  }

  /** Starts the next waiting EXEC once nothing else is in flight (waiters count as busy). */
  private grantExclusive(): void {
    if (this.exclusive !== undefined) return;
    if (this.busyConnections - this.exclusiveWaiting.length > 0) return;
    const next = this.exclusiveWaiting.shift();
    if (next !== undefined) next.start();
  }

  mustWait(conn: Connection): boolean {
    return (this.exclusive !== undefined && this.exclusive !== conn) || this.exclusiveWaiting.length > 0;
  }

  park(conn: Connection): void {
    this.parked.add(conn);
  }

  busyChanged(delta: 1 | -1): void {
    this.busyConnections += delta;
    if (delta < 0 && this.exclusiveWaiting.length > 0) this.grantExclusive();
  }

  onConnectionClosed(conn: Connection): void {
    this.parked.delete(conn);
    this.connections.delete(conn);
    if (this.connections.size === 0 && this.onAllClosed !== undefined) {
      const done = this.onAllClosed;
      this.onAllClosed = undefined;
      done();
    }
  }

  // ---- ServerFacade -----------------------------------------------------------------------

  setConfig(name: string, value: string): void {
    this.setConfigMany([[name, value]]);
  }

  /** CONFIG SET with several pairs: all are validated before any is applied. */
  setConfigMany(pairs: readonly (readonly [string, string])[]): void {
    const patch: Record<string, unknown> = {};
    const seen = new Set<string>();
    for (const [name, value] of pairs) {
      const param = findConfigParam(name);
      if (param === undefined) {
        throw new RingkvError('ERR_CONFIG', `Unknown option or number of arguments for CONFIG SET - '${name}'`);
      }
      const failed = (why: string): RingkvError =>
        new RingkvError('ERR_CONFIG', `CONFIG SET failed (possibly related to argument '${name}') - ${why}`);
      if (seen.has(param.name)) throw failed('duplicate parameter');
      seen.add(param.name);
      if (param.set === undefined) throw failed("can't set immutable config");
      const r = param.set(value, this.currentConfig);
      if (!r.ok) throw failed(r.error);
      if (r.key !== undefined) patch[r.key] = r.value;
    }
    if (Object.keys(patch).length === 0) return;
    const parsed = configSchema.safeParse({ ...this.currentConfig, ...patch });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const key = String(issue?.path[0] ?? '');
      const pair = pairs.find(([n]) => findConfigParam(n)?.key === key);
      throw new RingkvError(
        'ERR_CONFIG',
        `CONFIG SET failed (possibly related to argument '${pair?.[0] ?? key}') - ${issue?.message ?? 'invalid value'}`,
      );
    }
    const previous = this.currentConfig;
    const next = deepFreeze(parsed.data) as Config;
    this.currentConfig = next;
    for (const c of this.connections) c.applyConfig(next);
    for (const l of this.listeners) {
      try {
        l(next, previous);
      } catch (err) {
        this.logger?.error({ err }, 'config change listener failed');
      }
    }
  }

  listClients(): readonly ClientInfo[] {
    const out: ClientInfo[] = [];
    for (const c of this.connections) if (!c.isClosed) out.push(c.info());
    return out;
  }

  killClients(filter: { id?: number; addr?: string; laddr?: string; skipme?: boolean }, self: number): number {
    let n = 0;
    const skipme = filter.skipme ?? true;
    for (const c of this.connections) {
      if (c.isClosed) continue;
      if (filter.id !== undefined && c.client.id !== filter.id) continue;
      if (filter.addr !== undefined && c.addr !== filter.addr) continue;
      if (filter.laddr !== undefined && c.laddr !== filter.laddr) continue;
      if (c.client.id === self) {
        if (skipme) continue;
        c.client.closeAfterReply = true; // reply first, then close (Redis)
      } else {
        c.destroy();
      }
      n++;
    }
    return n;
  }

  connectedClients(): number {
    return this.connections.size;
  }

  commands(): ReadonlyMap<string, CommandSpec> {
    return this.commandTable;
  }

  stats(): ServerStats {
    return { ...this.counters };
  }

  resetStats(): void {
    Object.assign(this.counters, newStats());
    this.cmdStats = new Map();
    this.errStats = new Map();
  }

  instantaneous(): { opsPerSec: number; inputKbps: number; outputKbps: number } {
    return { opsPerSec: Math.round(this.opsRate.rate), inputKbps: this.inRate.rate / 1024, outputKbps: this.outRate.rate / 1024 };
  }

  private sampleRates(): void {
    const now = performance.now();
    this.opsRate.sample(this.counters.totalCommandsProcessed, now);
    this.inRate.sample(this.counters.totalNetInputBytes, now);
    this.outRate.sample(this.counters.totalNetOutputBytes, now);
  }

  commandStats(): ReadonlyMap<string, CommandStats> {
    const out = new Map<string, CommandStats>();
    for (const [spec, st] of this.cmdStats) out.set(spec.name, { ...st });
    return out;
  }

  errorStats(): ReadonlyMap<string, number> {
    return new Map(this.errStats);
  }

  // ---- accept -----------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.closingPromise !== undefined) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.currentConfig.maxclients) {
      this.counters.rejectedConnections++;
      socket.on('error', () => {});
      socket.end(MAX_CLIENTS_REPLY, () => socket.destroy());
      setTimeout(() => socket.destroy(), 5000).unref();
      return;
    }
    this.counters.totalConnectionsReceived++;
    const conn = new Connection(socket, this, this.nextClientId++);
    this.connections.add(conn);
  }
}

/** ASCII case folding of one byte (A-Z to a-z). */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

function foldedHash(b: Buffer): number {
  let h = b.length;
  for (let i = 0; i < b.length; i++) h = (Math.imul(h, 31) + fold(b[i] ?? 0)) | 0;
  return h;
}

/** `lower` is already lower case; `b` is compared case-insensitively. */
function foldedEquals(lower: Buffer, b: Buffer): boolean {
  if (lower.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (lower[i] !== fold(b[i] ?? 0)) return false;
  return true;
}

function newStats(): ServerStats {
  return {
    totalConnectionsReceived: 0,
    totalCommandsProcessed: 0,
    rejectedConnections: 0,
    keyspaceHits: 0,
    keyspaceMisses: 0,
    totalNetInputBytes: 0,
    totalNetOutputBytes: 0,
  };
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
