/**
 * Commands as data (after node-redis): each command is a CommandSpec with its name, arity, flags
 * and key positions — the same facts COMMAND / COMMAND INFO / COMMAND DOCS report and that
 * cluster clients use for routing — plus its handler.
 *
 * Handlers get raw argument Buffers (args[0] is the command name) and talk to the KvStore
 * boundary only, never to a storage engine. A handler either writes a reply and returns
 * (synchronous path) or returns a promise that settles after it wrote its reply. Handlers signal
 * user errors by throwing RingkvError (the dispatcher writes it); anything else becomes ERR_INTERNAL
 * and is logged, never shown.
 */
import type { Config } from '../../config/schema.js';
import type { ConsistencyScope, KvStore } from '../../data/kv-store.js';
import type { ReplyWriter } from '../../protocol/resp/reply-writer.js';
import type { MaybePromise } from '../../util/maybe-promise.js';

export type CommandFlag =
  | 'write' | 'readonly' | 'denyoom' | 'admin' | 'pubsub' | 'noscript' | 'blocking'
  | 'loading' | 'stale' | 'skip_monitor' | 'fast' | 'no_auth' | 'may_replicate' | 'allow_busy';

export interface CommandSpec {
  /** Lower case. */
  name: string;
  /** Redis arity: positive = exact argc (including the name); negative = at least -arity. */
  arity: number;
  flags: readonly CommandFlag[];
  /** 1-based key positions; lastKey -1 = up to the last argument. 0/0/0 = no keys. */
  firstKey: number;
  lastKey: number;
  keyStep: number;
  /** ACL categories as Redis lists them ("@string", "@keyspace", ...). */
  categories?: readonly string[];
  /** For COMMAND DOCS. */
  summary?: string;
  since?: string;
  group?: string;
  /** Subcommands (CLIENT, CONFIG, COMMAND) as their own specs, names "client|list" etc. */
  subcommands?: readonly CommandSpec[];
  handler(ctx: CommandContext, args: Buffer[]): MaybePromise<void>;
}

/** Per-connection state the server keeps and some commands change. */
export interface ClientState {
  readonly id: number;
  name: string;
  protocol: 2 | 3;
  db: number;
  authenticated: boolean;
  libName: string;
  libVersion: string;
  /** Set by QUIT / CLIENT KILL: the server closes after flushing the current reply. */
  closeAfterReply: boolean;
  /** CLIENT REPLY: 'off' drops every reply, 'skip' drops the next command's reply. */
  replyMode?: 'on' | 'off' | 'skip';
  /** CONSISTENCY: this connection's read/write levels (cluster mode); absent = node defaults. */
  consistency?: ConsistencyScope;
}

/** What the server exposes to admin commands (CLIENT, INFO, CONFIG, ...). */
export interface ServerFacade {
  readonly startedAtMs: number;
  readonly config: Config;
  /** CONFIG SET: validates and applies a runtime-changeable knob, throws RingkvError if not. */
  setConfig(name: string, value: string): void;
  listClients(): readonly ClientInfo[];
  killClients(filter: { id?: number; addr?: string; laddr?: string; skipme?: boolean }, self: number): number;
  connectedClients(): number;
  /** Counters for INFO stats. */
  stats(): ServerStats;
  /** Commands by lower-case name. */
  commands(): ReadonlyMap<string, CommandSpec>;
  /** CONFIG SET with several pairs, all validated before any is applied. */
  setConfigMany?(pairs: readonly (readonly [string, string])[]): void;
  /** CONFIG RESETSTAT. */
  resetStats?(): void;
  /** 40 hex characters identifying this process run (INFO run_id). */
  readonly runId?: string;
  /** The port actually listened on (config may say 0). */
  readonly port?: number;
  /** INFO instantaneous_* figures: recent per-second rates (Redis samples every 100 ms). */
  instantaneous?(): { opsPerSec: number; inputKbps: number; outputKbps: number };
  /** INFO commandstats, by full command name ("get", "client|list"). */
  commandStats?(): ReadonlyMap<string, CommandStats>;
  /** INFO errorstats: error replies by their first word ("ERR", "WRONGTYPE"). */
  errorStats?(): ReadonlyMap<string, number>;
}

export interface CommandStats {
  calls: number;
  usec: number;
  rejectedCalls: number;
  failedCalls: number;
}

export interface ClientInfo {
  id: number;
  addr: string;
  laddr: string;
  name: string;
  ageSec: number;
  idleSec: number;
  db: number;
  protocol: 2 | 3;
  lastCommand: string;
  libName: string;
  libVersion: string;
  /** Bytes received and not yet processed, including the command running now (qbuf). */
  queryBufferBytes?: number;
}

export interface ServerStats {
  totalConnectionsReceived: number;
  totalCommandsProcessed: number;
  rejectedConnections: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  totalNetInputBytes: number;
  totalNetOutputBytes: number;
}

export interface CommandContext {
  readonly store: KvStore;
  readonly config: Config;
  readonly client: ClientState;
  readonly server: ServerFacade;
  readonly reply: ReplyWriter;
  /** Wall clock in Unix ms (injected so tests can move time). */
  now(): number;
  /** INFO keyspace_hits / misses. */
  countHit(hit: boolean): void;
  /** MULTI/EXEC/DISCARD state of this connection (absent where transactions are not served). */
  readonly transaction?: TransactionControl;
}

/**
 * A connection's transaction (Redis MULTI/EXEC). While one is open the connection queues
 * commands instead of running them; EXEC runs the queue with no other command of any
 * connection in between, and writes one array reply holding each command's reply.
 */
export interface TransactionControl {
  readonly active: boolean;
  /** MULTI. Throws RingkvError when one is already open. */
  begin(): void;
  /** EXEC. Throws RingkvError without MULTI or when queueing failed (EXECABORT). */
  exec(): MaybePromise<void>;
  /** DISCARD / RESET: drops the queue (and the watches); false when no queue was open. */
  discard(): boolean;
  /** WATCH: remembers the keys' current entries; EXEC aborts if any differs by then. */
  watch(keys: readonly Buffer[]): MaybePromise<void>;
  /** UNWATCH. */
  unwatch(): void;
}
