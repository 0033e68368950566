/**
 * One client connection of the RESP server: socket in, decoder, dispatch, writer, socket out.
 *
 * Invariants:
 * - replies leave in request order: while a handler's promise is pending no later command of
 *   this connection starts (other connections proceed); synchronous handlers run back-to-back
 *   in one read batch with no promise allocated;
 * - output is written once per read batch (or when a pending handler settles), not per reply;
 * - at most `pipelineDepthMax` commands are parsed but unanswered (commands are parsed ahead
 *   only while a handler is pending; otherwise each runs as soon as it is parsed); beyond that
 *   reading pauses, as it does while the socket's outgoing buffer is above
 *   OUTPUT_HIGH_WATER_BYTES;
 * - every reply, dispatch errors included, is framed by the writer's begin/end so CLIENT REPLY
 *   OFF/SKIP can drop it; every command is counted for INFO commandstats and timed with one
 *   clock read (a command's end is the next one's start within a batch);
 * - a protocol error is replied and then the connection is closed (Redis's behaviour);
 * - a handler failure other than RingkvError becomes "ERR internal error" and is logged; a
 *   client never sees a stack trace, and a half-written reply is rolled back first.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { KvEntry, KvStore } from '../data/kv-store.js';
import { RingkvError, isRingkvError } from '../errors/index.js';
import { RespDecoder, RespProtocolError } from '../protocol/resp/decoder.js';
import { RespWriter } from '../protocol/resp/writer.js';
import { isPromise, then } from '../util/maybe-promise.js';
import type {
  ClientInfo, ClientState, CommandContext, CommandSpec, CommandStats, ServerFacade, ServerStats, TransactionControl,
} from './commands/command.js';
import type { MaybePromise } from '../util/maybe-promise.js';

/** Above this many unsent bytes in the socket, stop executing commands until it drains. */
const OUTPUT_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Flush mid-batch once this much output has accumulated. */
const FLUSH_EARLY_BYTES = 256 * 1024;
/** How long an ended connection may take to flush its last replies before it is destroyed. */
const LINGER_MS = 5000;
/** Redis truncates command names and arguments in "unknown command" errors at 128 chars. */
const ECHO_MAX_CHARS = 128;

export interface CommandMetrics {
  onCommand(name: string, durationNs: number, ok: boolean): void;
}

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly config: Config;
  readonly store: KvStore;
  readonly facade: ServerFacade;
  readonly counters: ServerStats;
  readonly logger: Logger | undefined;
  readonly metrics: CommandMetrics | undefined;
  now(): number;
  lookup(name: Buffer): CommandSpec | undefined;
  lookupSubcommand(container: CommandSpec, name: Buffer): CommandSpec | undefined;
  /** The INFO commandstats counters of a command (one object per spec, kept by the host). */
  statsOf(spec: CommandSpec): CommandStats;
  /** Counts an error reply for INFO errorstats. */
  countError(line: string): void;
  onConnectionClosed(conn: Connection): void;
  /**
   * Runs `fn` (an EXEC) with no command of any other connection running meanwhile: waits for
   * commands in flight elsewhere to settle and parks other connections until it is done.
   */
  runExclusive(conn: Connection, fn: () => MaybePromise<void>): MaybePromise<void>;
  /** True when this connection must not start a command now (another one runs an EXEC). */
  mustWait(conn: Connection): boolean;
  /** Parks a connection until the exclusive section ends; the host calls `unpark()` then. */
  park(conn: Connection): void;
  /** A connection's handler promise started (+1) or settled (-1). */
  busyChanged(delta: 1 | -1): void;
}

/**
 * Single-key commands that may run concurrently with earlier commands of the same connection
 * when the store answers asynchronously (rocksdb, cluster): each writes its reply apart and
 * replies still leave in request order. They only touch the store for their one key (args[1]),
 * and the store serialises operations per key, so a connection never has two of them on one
 * key in flight (a later one on the same key waits). Any other command waits until everything
 * before it has answered, as before.
 */
const OVERLAP_COMMANDS = new Set([
  'get', 'set', 'setnx', 'setex', 'psetex', 'getset', 'getdel', 'getex', 'incr', 'decr', 'incrby', 'decrby',
  'incrbyfloat', 'append', 'strlen', 'getrange', 'substr', 'setrange', 'ttl', 'pttl', 'expire', 'pexpire',
  'expireat', 'pexpireat', 'expiretime', 'pexpiretime', 'persist', 'type',
]);
/** These overlap only with one key (DEL k, EXISTS k ...); with several they are barriers. */
const OVERLAP_SINGLE_KEY = new Set(['del', 'unlink', 'exists', 'touch']);
/** Commands of one connection running at once; more wait. */
const OVERLAP_WINDOW_MAX = 128;
/** A pipelined reply is usually small: its own writer starts with a small slab. */
const OVERLAP_SLAB_BYTES = 512;

interface Overlapped {
  readonly spec: CommandSpec;
  readonly t0: number;
  readonly key: string;
  readonly writer: RespWriter;
  done: boolean;
}

/** Commands that run at once inside MULTI instead of being queued (Redis's list). */
const TX_IMMEDIATE = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);
/** Bound on commands queued in one transaction. */
const TX_QUEUE_MAX = 100_000;
/** Bound on keys one connection may WATCH. */
const WATCHED_KEYS_MAX = 100_000;

/**
 * WATCH's test: same presence, value bytes and expiry. Unlike Redis, which counts any write, a
 * key rewritten with the identical value and expiry is not seen as modified (no write hook in
 * the store to tell).
 */
function sameEntry(a: KvEntry | undefined, b: KvEntry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.expiresAtMs === b.expiresAtMs && a.value.equals(b.value);
}

const INTERNAL_ERROR = new RingkvError('ERR_INTERNAL', 'internal error');
const NOAUTH_ERROR = new RingkvError('ERR_NO_AUTH', 'NOAUTH Authentication required.');

type Queued = Buffer[] | RespProtocolError;

export class Connection {
  readonly client: ClientState;
  readonly createdAtMs: number;
  lastInteractionMs: number;
  lastCommand = 'NULL';
  readonly addr: string;
  readonly laddr: string;

  private readonly decoder: RespDecoder;
  private readonly writer: RespWriter;
  private readonly ctx: CommandContext;

  /**
   * No command may start now: a (non-overlapping) handler's promise is pending, or `stalled`
   * waits for overlapping commands to answer.
   */
  private busy = false;
  /** Overlapping commands in flight, oldest first; their replies leave in this order. */
  private window: Overlapped[] = [];
  /** Keys of `window` (a second command on one of them waits). */
  private readonly windowKeys = new Map<string, number>();
  /** The next command, parsed but waiting for the window (it may not overlap). */
  private stalled: Buffer[] | undefined;
  /** The store answered a command asynchronously: from now on eligible commands overlap. */
  private overlapMode = false;
  /** Waiting for another connection's EXEC to finish before running anything. */
  private parked = false;
  /** MULTI is open: commands queue here instead of running. */
  private txArgs: Buffer[][] | undefined;
  private txSpecs: CommandSpec[] = [];
  /** A command failed to queue: EXEC must answer EXECABORT. */
  private txDirty = false;
  /** WATCHed keys and the entry each had when watched (undefined = absent). */
  private watched: Map<string, KvEntry | undefined> | undefined;
  /** When the current command started (ms, performance clock); see execute(). */
  private clockMs = 0;
  /** The command being executed (CLIENT LIST reports its size in qbuf, as Redis does). */
  private currentArgs: Buffer[] | undefined;
  /** CLIENT REPLY SKIP was given: drop the next reply. */
  private skipNext = false;
  /** Commands parsed while busy, answered in order once it settles. */
  private queue: Queued[] = [];
  private queueHead = 0;
  private pausedPipeline = false;
  private pausedOutput = false;
  private reading = true;
  /** Graceful shutdown: finish what is in flight, start nothing new. */
  private closing = false;
  /** The client half-closed: answer what it sent, then end. */
  private peerEnded = false;
  /** No more commands will run (ending or closed). */
  private stopped = false;
  private closed = false;
  private readonly sink: (b: Buffer) => void;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    id: number,
  ) {
    const config = host.config;
    this.client = {
      id,
      name: '',
      protocol: 2,
      db: 0,
      authenticated: config.requirepass === '',
      libName: '',
      libVersion: '',
      closeAfterReply: false,
    };
    this.writer = new RespWriter(this.client);
    this.writer.onErrorReply = (line) => host.countError(line);
    this.createdAtMs = host.now();
    this.lastInteractionMs = this.createdAtMs;
    this.addr = formatAddr(socket.remoteAddress, socket.remotePort);
    this.laddr = formatAddr(socket.localAddress, socket.localPort);
    this.decoder = new RespDecoder({
      protoMaxBulkLen: config.protoMaxBulkLen,
      authRequired: () => this.authRequired(),
    });
    const writer = this.writer;
    const client = this.client;
    const stats = host.counters;
    // Cluster mode: a per-connection view of the store that reads CONSISTENCY's levels.
    const scope = {};
    this.client.consistency = scope;
    const store = host.store.withConsistency?.(scope) ?? host.store;
    this.ctx = {
      store,
      get config() {
        return host.config;
      },
      client,
      server: host.facade,
      reply: writer,
      now: () => host.now(),
      countHit(hit: boolean) {
        if (hit) stats.keyspaceHits++;
        else stats.keyspaceMisses++;
      },
      transaction: this.transactionControl(),
    };
    this.sink = (b) => {
      socket.write(b);
    };

    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.applyConfig(config);
  }

  /** Re-reads runtime knobs after CONFIG SET. */
  applyConfig(config: Config): void {
    this.decoder.protoMaxBulkLen = config.protoMaxBulkLen;
    this.socket.setTimeout(config.timeout > 0 ? config.timeout * 1000 : 0);
  }

  info(): ClientInfo {
    const now = this.host.now();
    return {
      id: this.client.id,
      addr: this.addr,
      laddr: this.laddr,
      name: this.client.name,
      ageSec: Math.floor((now - this.createdAtMs) / 1000),
      idleSec: Math.floor((now - this.lastInteractionMs) / 1000),
      db: this.client.db,
      protocol: this.client.protocol,
      lastCommand: this.lastCommand,
      libName: this.client.libName,
      libVersion: this.client.libVersion,
      queryBufferBytes: this.decoder.bufferedBytes + (this.currentArgs === undefined ? 0 : encodedSize(this.currentArgs)),
    };
  }

  /** Graceful close: let the in-flight command finish and its reply flush, then end. */
  shutdown(): void {
    if (this.closing) return;
    this.closing = true;
    this.updateReading();
    if (!this.busy && this.window.length === 0) this.finish();
  }

  /** Immediate close (CLIENT KILL, shutdown timeout). */
  destroy(): void {
    this.stopped = true;
    this.socket.destroy();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private authRequired(): boolean {
    return this.host.config.requirepass !== '' && !this.client.authenticated;
  }

  // ---- socket events ----------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    this.host.counters.totalNetInputBytes += chunk.length;
    this.lastInteractionMs = this.host.now();
    if (this.stopped) return;
    this.decoder.feed(chunk);
    this.guard(this.busy ? this.parseAhead : this.pausedOutput ? undefined : this.run);
  };

  /**
   * Runs a step of the command loop; a bug in it must cost this connection, not the process
   * (an exception escaping a socket event handler would crash the server).
   */
  private guard(step: (() => void) | undefined): void {
    if (step === undefined) return;
    try {
      step.call(this);
    } catch (err) {
      this.host.logger?.error({ err, client: this.client.id }, 'connection failed; closing it');
      this.destroy();
    }
  }

  private readonly onDrain = (): void => {
    if (!this.pausedOutput) return;
    this.pausedOutput = false;
    this.updateReading();
    if (!this.busy) this.guard(this.run);
  };

  private readonly onEnd = (): void => {
    this.peerEnded = true;
    if (!this.busy && !this.pausedOutput) this.guard(this.run);
  };

  private readonly onTimeout = (): void => {
    // Redis's `timeout`: close idle clients. A client waiting on us is not idle.
    if (this.busy || this.window.length > 0) return;
    this.host.logger?.debug({ client: this.client.id }, 'closing idle client');
    this.destroy();
  };

  private readonly onError = (err: Error): void => {
    this.host.logger?.debug({ client: this.client.id, err: err.message }, 'client socket error');
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.stopped = true;
    this.host.onConnectionClosed(this);
  };

  // ---- command loop -----------------------------------------------------------------------

  /** Parses commands while a handler is pending, up to the pipeline bound. */
  private parseAhead(): void {
    const max = this.host.config.pipelineDepthMax;
    while (this.queue.length - this.queueHead + 1 < max) {
      const last = this.queue[this.queue.length - 1];
      if (last instanceof RespProtocolError) return;
      let args: Buffer[] | undefined;
      try {
        args = this.decoder.next();
      } catch (e) {
        if (e instanceof RespProtocolError) this.queue.push(e);
        else throw e;
        return;
      }
      if (args === undefined) return;
      this.queue.push(args);
    }
    this.pausedPipeline = true;
    this.updateReading();
  }

  private run(): void {
    this.clockMs = performance.now();
    while (!this.busy && !this.stopped && !this.pausedOutput) {
      if (this.host.mustWait(this)) {
        // Another connection runs an EXEC: start nothing until it is done.
        this.parked = true;
        this.host.park(this);
        this.updateReading();
        break;
      }
      let args: Buffer[] | undefined;
      if (this.stalled !== undefined) {
        if (this.closing) break;
        args = this.stalled;
        this.stalled = undefined;
      } else if (this.queueHead < this.queue.length) {
        if (this.closing) break;
        const item = this.queue[this.queueHead] as Queued;
        this.queueHead++;
        if (this.queueHead === this.queue.length) {
          this.queue = [];
          this.queueHead = 0;
        }
        if (item instanceof RespProtocolError) {
          this.protocolError(item);
          return;
        }
        args = item;
      } else {
        if (this.closing) break;
        try {
          args = this.decoder.next();
        } catch (e) {
          if (e instanceof RespProtocolError) {
            this.protocolError(e);
            return;
          }
          throw e;
        }
        if (args === undefined) break;
      }
      if (this.window.length > 0 && !this.mayOverlap(args)) {
        // Wait for the commands in flight; what earlier ones answered can go out meanwhile.
        this.stalled = args;
        this.busy = true;
        this.flush();
        return;
      }
      this.execute(args);
      if (this.client.closeAfterReply && !this.busy) {
        this.finish();
        return;
      }
      if (this.writer.pendingBytes > FLUSH_EARLY_BYTES) {
        this.flush();
        if (this.socket.writableLength > OUTPUT_HIGH_WATER_BYTES) {
          this.pausedOutput = true;
          this.updateReading();
        }
      }
    }
    if (this.busy || this.stopped) return;
    if (this.parked) {
      this.flush();
      return;
    }
    if (this.pausedPipeline && this.queueHead >= this.queue.length) {
      this.pausedPipeline = false;
      this.updateReading();
    }
    this.flush();
    if (this.window.length === 0 && (this.closing || (this.peerEnded && !this.pausedOutput))) this.finish();
  }

  private execute(args: Buffer[]): void {
    const writer = this.writer;
    // Every reply, including dispatch errors, sits between begin and end so CLIENT REPLY
    // OFF/SKIP can drop it and a failing handler's partial output can be rolled back.
    writer.beginReply();
    const suppress = this.skipNext;
    this.skipNext = false;
    const spec = this.dispatch(args);
    if (spec === undefined) {
      if (this.txArgs !== undefined) this.txDirty = true; // Redis: EXEC will answer EXECABORT
      this.endReply(suppress);
      return;
    }
    if (this.txArgs !== undefined && !TX_IMMEDIATE.has(spec.name)) {
      if (this.txArgs.length >= TX_QUEUE_MAX) {
        this.txDirty = true;
        writer.errorLine(`ERR too many commands in the transaction (at most ${TX_QUEUE_MAX})`);
      } else {
        this.txArgs.push(args);
        this.txSpecs.push(spec);
        writer.simple('QUEUED');
      }
      this.endReply(suppress);
      return;
    }
    // In a batch, one command's end time is the next one's start: one clock read per command.
    const t0 = this.clockMs;
    if (this.overlapMode && !suppress) {
      const key = this.overlapKey(spec, args);
      if (key !== undefined) {
        writer.endReply(); // the reply is written apart (nothing was written for it here)
        this.executeOverlapped(spec, args, key, t0);
        return;
      }
    }
    let result;
    this.currentArgs = args;
    try {
      result = spec.handler(this.ctx, args);
    } catch (e) {
      this.currentArgs = undefined;
      this.handlerFailed(spec, e);
      this.endReply(suppress);
      this.account(spec, t0, false);
      return;
    }
    this.currentArgs = undefined;
    if (isPromise(result)) {
      if (this.overlapKey(spec, args) !== undefined) this.overlapMode = true;
      this.busy = true;
      this.host.busyChanged(1);
      result.then(
        () => this.guard(() => this.settled(spec, t0, suppress, undefined, false)),
        (e: unknown) => this.guard(() => this.settled(spec, t0, suppress, e, true)),
      );
      // Send what earlier commands of this batch produced while this one waits.
      this.flush();
      return;
    }
    this.endReply(suppress);
    this.account(spec, t0, true);
  }

  /** The command's key when it may run alongside earlier ones (see OVERLAP_COMMANDS). */
  private overlapKey(spec: CommandSpec, args: Buffer[]): string | undefined {
    if (this.txArgs !== undefined || this.skipNext || (this.client.replyMode ?? 'on') !== 'on' || args.length < 2) return undefined;
    if (!OVERLAP_COMMANDS.has(spec.name) && !(args.length === 2 && OVERLAP_SINGLE_KEY.has(spec.name))) return undefined;
    return (args[1] as Buffer).toString('latin1');
  }

  /** Whether `args` may start while the window is not empty. */
  private mayOverlap(args: Buffer[]): boolean {
    if (!this.overlapMode || this.window.length >= OVERLAP_WINDOW_MAX || this.authRequired()) return false;
    const spec = this.host.lookup(args[0] as Buffer);
    if (spec === undefined || spec.subcommands !== undefined) return false;
    const arity = spec.arity;
    if ((arity > 0 && args.length !== arity) || args.length < -arity) return false;
    const key = this.overlapKey(spec, args);
    return key !== undefined && !this.windowKeys.has(key);
  }

  /** Runs a command with its own reply writer; its reply joins the output in request order. */
  private executeOverlapped(spec: CommandSpec, args: Buffer[], key: string, t0: number): void {
    const writer = new RespWriter(this.client, OVERLAP_SLAB_BYTES);
    writer.onErrorReply = this.writer.onErrorReply;
    const ctx: CommandContext = Object.create(this.ctx, { reply: { value: writer } }) as CommandContext;
    const entry: Overlapped = { spec, t0, key, writer, done: false };
    this.window.push(entry);
    this.windowKeys.set(key, (this.windowKeys.get(key) ?? 0) + 1);
    writer.beginReply();
    let result;
    this.currentArgs = args;
    try {
      result = spec.handler(ctx, args);
    } catch (e) {
      this.currentArgs = undefined;
      this.overlapDone(entry, e, true);
      return;
    }
    this.currentArgs = undefined;
    if (!isPromise(result)) {
      this.overlapDone(entry, undefined, false);
      return;
    }
    this.host.busyChanged(1);
    result.then(
      () => this.guard(() => this.overlapSettled(entry, undefined, false)),
      (e: unknown) => this.guard(() => this.overlapSettled(entry, e, true)),
    );
  }

  /** Finishes an overlapped command's reply and moves every finished reply at the window's head out. */
  private overlapDone(entry: Overlapped, err: unknown, failed: boolean): void {
    if (failed) this.handlerFailed(entry.spec, err, entry.writer);
    entry.writer.endReply();
    entry.done = true;
    this.account(entry.spec, entry.t0, !failed);
    let n = 0;
    while (n < this.window.length && (this.window[n] as Overlapped).done) {
      const head = this.window[n] as Overlapped;
      this.writer.appendFrom(head.writer);
      const left = (this.windowKeys.get(head.key) ?? 1) - 1;
      if (left === 0) this.windowKeys.delete(head.key);
      else this.windowKeys.set(head.key, left);
      n++;
    }
    if (n > 0) this.window.splice(0, n);
  }

  private overlapSettled(entry: Overlapped, err: unknown, failed: boolean): void {
    this.host.busyChanged(-1);
    this.overlapDone(entry, err, failed);
    if (this.closed) return;
    if (this.busy && this.stalled !== undefined && (this.window.length === 0 || this.mayOverlap(this.stalled))) {
      this.busy = false;
      if (!this.pausedOutput) {
        this.run();
        return;
      }
    }
    if (this.window.length > 0 || this.busy) {
      this.flush();
      return;
    }
    if (this.pausedOutput) {
      this.flush();
      return;
    }
    // Nothing is pending: carry on as a settled command does (more input, shutdown, half-close).
    this.run();
  }

  /** INFO commandstats and the optional metrics hook. */
  private account(spec: CommandSpec, t0: number, ok: boolean): void {
    const t1 = performance.now();
    this.clockMs = t1;
    const ms = t1 - t0;
    const st = this.host.statsOf(spec);
    st.calls++;
    st.usec += ms * 1000;
    if (!ok) st.failedCalls++;
    this.host.metrics?.onCommand(spec.name, Math.round(ms * 1e6), ok);
  }

  /** Resolves the command to run, or writes the dispatch error and returns undefined. */
  private dispatch(args: Buffer[]): CommandSpec | undefined {
    const host = this.host;
    const writer = this.writer;
    const name = args[0] as Buffer;
    let spec = host.lookup(name);
    if (spec === undefined) {
      writer.errorLine(unknownCommandLine(args));
      return undefined;
    }
    if (spec.subcommands !== undefined && args.length >= 2) {
      const sub = host.lookupSubcommand(spec, args[1] as Buffer);
      if (sub === undefined) {
        writer.errorLine(
          `ERR unknown subcommand '${truncate((args[1] as Buffer).toString('latin1'))}'. Try ${name.toString('latin1').toUpperCase()} HELP.`,
        );
        return undefined;
      }
      spec = sub;
    }
    const arity = spec.arity;
    if ((arity > 0 && args.length !== arity) || args.length < -arity) {
      host.statsOf(spec).rejectedCalls++;
      writer.errorLine(`ERR wrong number of arguments for '${spec.name}' command`);
      return undefined;
    }
    if (this.authRequired() && !spec.flags.includes('no_auth')) {
      host.statsOf(spec).rejectedCalls++;
      writer.error(NOAUTH_ERROR);
      return undefined;
    }
    this.lastCommand = spec.name;
    host.counters.totalCommandsProcessed++;
    return spec;
  }

  /** `skipped`: CLIENT REPLY SKIP applied to this command. OFF is read at the end, so ON's +OK is sent. */
  private endReply(skipped: boolean): void {
    if (skipped || this.client.replyMode === 'off') this.writer.rollback();
    this.writer.endReply();
    const mode = this.client.replyMode;
    if (mode === 'skip') {
      // CLIENT REPLY SKIP: drop the reply of the command after this one.
      this.skipNext = true;
      this.client.replyMode = 'on';
    }
  }

  private settled(spec: CommandSpec, t0: number, suppress: boolean, err: unknown, failed: boolean): void {
    this.account(spec, t0, !failed);
    this.busy = false;
    this.host.busyChanged(-1);
    if (failed) this.handlerFailed(spec, err);
    this.endReply(suppress);
    if (this.closed) return;
    if (this.client.closeAfterReply || this.closing) {
      this.finish();
      return;
    }
    if (this.pausedOutput) {
      this.flush();
      return;
    }
    this.run();
  }

  /** Called by the host when the EXEC that parked this connection is done. */
  unpark(): void {
    if (!this.parked) return;
    this.parked = false;
    this.updateReading();
    if (!this.busy && !this.closed) this.guard(this.run);
  }

  private transactionControl(): TransactionControl {
    const self = this; // for the getter; the arrow functions below bind `this` themselves
    return {
      get active() {
        return self.txArgs !== undefined;
      },
      begin: () => {
        if (this.txArgs !== undefined) throw new RingkvError('ERR_SYNTAX', 'MULTI calls can not be nested');
        this.txArgs = [];
        this.txSpecs = [];
        this.txDirty = false;
      },
      exec: () => {
        const args = this.txArgs;
        const specs = this.txSpecs;
        if (args === undefined) throw new RingkvError('ERR_SYNTAX', 'EXEC without MULTI');
        const dirty = this.txDirty;
        this.txArgs = undefined;
        this.txSpecs = [];
        this.txDirty = false;
        const watched = this.watched;
        this.watched = undefined;
        if (dirty) throw new RingkvError('ERR_EXEC_ABORT', 'Transaction discarded because of previous errors.');
        return this.host.runExclusive(this, () => {
          const run = (): MaybePromise<void> => {
            this.writer.array(args.length);
            return this.runQueued(args, specs, 0);
          };
          if (watched === undefined || watched.size === 0) return run();
          // Optimistic check inside the exclusive section: nothing can change between it and the run.
          const keys = [...watched.keys()];
          return then(this.host.store.getMany(keys), (current) => {
            for (let i = 0; i < keys.length; i++) {
              if (!sameEntry(watched.get(keys[i] as string), current[i])) {
                this.writer.nilArray();
                return undefined;
              }
            }
            return run();
          });
        });
      },
      discard: () => {
        this.watched = undefined;
        if (this.txArgs === undefined) return false;
        this.txArgs = undefined;
        this.txSpecs = [];
        this.txDirty = false;
        return true;
      },
      watch: (keys) => {
        if (this.txArgs !== undefined) throw new RingkvError('ERR_SYNTAX', 'WATCH inside MULTI is not allowed');
        const names = keys.map((k) => k.toString('latin1'));
        return then(this.host.store.getMany(names), (entries) => {
          const watched = (this.watched ??= new Map());
          if (watched.size + names.length > WATCHED_KEYS_MAX) {
            throw new RingkvError('ERR_INVALID_ARGUMENT', `too many watched keys (at most ${WATCHED_KEYS_MAX})`);
          }
          // A key watched twice keeps its first snapshot, as Redis keeps its first watch.
          names.forEach((k, i) => {
            if (!watched.has(k)) watched.set(k, entries[i]);
          });
        });
      },
      unwatch: () => {
        this.watched = undefined;
      },
    };
  }

  /** Runs queued commands from `i` on, each reply nested in EXEC's array reply. */
  private runQueued(args: Buffer[][], specs: CommandSpec[], i: number): MaybePromise<void> {
    const writer = this.writer;
    for (; i < args.length; i++) {
      const spec = specs[i] as CommandSpec;
      const t0 = performance.now();
      writer.beginReply();
      let result;
      try {
        result = spec.handler(this.ctx, args[i] as Buffer[]);
      } catch (e) {
        this.handlerFailed(spec, e);
        writer.endReply();
        this.account(spec, t0, false);
        continue;
      }
      if (isPromise(result)) {
        const next = i + 1;
        return result.then(
          () => {
            writer.endReply();
            this.account(spec, t0, true);
            return this.runQueued(args, specs, next);
          },
          (e: unknown) => {
            this.handlerFailed(spec, e);
            writer.endReply();
            this.account(spec, t0, false);
            return this.runQueued(args, specs, next);
          },
        );
      }
      writer.endReply();
      this.account(spec, t0, true);
    }
    return undefined;
  }

  private handlerFailed(spec: CommandSpec, e: unknown, writer: RespWriter = this.writer): void {
    writer.rollback();
    if (isRingkvError(e)) {
      writer.error(e);
      return;
    }
    this.host.logger?.error({ err: e, command: spec.name, client: this.client.id }, 'command handler failed');
    writer.error(INTERNAL_ERROR);
  }

  private protocolError(e: RespProtocolError): void {
    this.host.logger?.debug({ client: this.client.id, error: e.message }, 'protocol error, closing client');
    this.writer.error(e);
    this.finish();
  }

  /** Flushes and ends the socket; no more commands run. */
  private finish(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.flush();
    // Close fully once the reply is flushed (Redis closes the fd): a bare end() half-closes, and
    // a client that keeps writing (protocol desync tests) would never notice.
    this.socket.end(() => this.socket.destroy());
    // A peer that does not read its final replies would keep 'finish' from ever firing.
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private flush(): void {
    if (!this.writer.pending || this.socket.destroyed) return;
    const before = this.writer.bytesWritten;
    this.socket.cork();
    this.writer.drain(this.sink);
    this.socket.uncork();
    this.host.counters.totalNetOutputBytes += this.writer.bytesWritten - before;
  }

  private updateReading(): void {
    const want = !this.pausedPipeline && !this.pausedOutput && !this.closing && !this.stopped;
    if (want === this.reading) return;
    this.reading = want;
    if (want) this.socket.resume();
    else this.socket.pause();
  }
}

function truncate(s: string): string {
  return s.length > ECHO_MAX_CHARS ? s.slice(0, ECHO_MAX_CHARS) : s;
}

/** Redis 7's "unknown command" error, arguments quoted and cut at 128 characters in total. */
export function unknownCommandLine(args: readonly Buffer[]): string {
  let list = '';
  for (let i = 1; i < args.length && list.length < ECHO_MAX_CHARS; i++) {
    const a = (args[i] as Buffer).toString('latin1');
    list += `'${a.slice(0, ECHO_MAX_CHARS - list.length)}' `;
  }
  const name = truncate((args[0] as Buffer).toString('latin1'));
  return `ERR unknown command '${name}', with args beginning with: ${list}`;
}

/** Size of `args` as a multibulk request. */
function encodedSize(args: readonly Buffer[]): number {
  let n = 3 + String(args.length).length;
  for (const a of args) n += 5 + String(a.length).length + a.length;
  return n;
}

function formatAddr(ip: string | undefined, port: number | undefined): string {
  const host = ip ?? '?';
  return host.includes(':') ? `[${host}]:${port ?? 0}` : `${host}:${port ?? 0}`;
}
