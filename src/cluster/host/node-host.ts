/**
 * NodeHost: runs the sans-IO core Node on a real clock, a real storage engine and the peer
 * transport, and serves the ClusterNode interface (api.ts) to the front ends.
 *
 * The loop. A timer steps the core with {tick, nowMs: Date.now()} every cluster.tickMs. After
 * every step the host drains the core's effects in emission order:
 *   send         -> transport.send (fire and forget; the core owns timeouts and retries)
 *   storage      -> the engine through HostStorage; the completion is stepped back as
 *                   storage_done. A completion that is available synchronously is queued and
 *                   stepped by the same drain loop, never by recursion, so a synchronous engine
 *                   cannot grow the stack however many effects chain.
 *   reply        -> resolves the promise execute() returned
 *   ring_changed -> persisted (meta 'ring'; the core adopted it already)
 * Inbound peer values are untrusted: core messages pass peer-guard.ts, host messages
 * host-messages.ts; malformed ones are dropped and counted (`peerMessagesInvalid`).
 *
 * Identity and restarts. prepareMeta() reads the node's metadata before anything else: a data
 * directory that belongs to another node id (or to a standalone node) is refused; the
 * incarnation is the stored one plus one (never below the wall clock in seconds for engines that
 * do not persist) and is written, and synced by the caller, before the core is built. Later
 * raises by membership (refutations) are persisted from the tick with the engine's durability.
 * The topology state, the hints (core storage effects) and the address book are persisted too,
 * so a restarted node resumes with its ring, its hints and the addresses of every member.
 *
 * Ring. The core runs ring changes (topology/driver.ts): the host builds it in ring mode with
 * the persisted topology state, persists every `ring_changed` (meta 'ring', the core's state
 * payload), and only decides when to ask for a join: a node with no stored state and no seeds
 * forms a one-node ring; a node with seeds and no stored state learns the seeds' ids first (the
 * core's membership and topology need them), starts not in a ring, and once its membership
 * knows a live member it asks to join (node.changeRing {join}), retrying with backoff until the
 * ring (current or pending) holds it. start() resolves then. A node that was in a ring and left
 * it (decommissioned) does not join again by itself.
 *
 * Addresses. Seeds are host:peerPort; the transport learns their ids in the handshake. Hosts
 * send each other their address book (self first, at most ADDRESSES_PER_MESSAGE_MAX per
 * message, rotating) on connect and every ADDRESS_GOSSIP_MS; the book is bounded
 * (ADDRESS_BOOK_MAX) and every address in it is dialed. A node is the authority on its own
 * address; third parties only fill gaps, and only for ring or membership members.
 */
import { randomInt } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Effect, Input, IoId, KvOp, KvResult, StorageResult } from '../../core/messages.js';
import { Node, NODE_DEFAULTS, type NodeRing } from '../../core/node/node.js';
import { initialRing, keySlot, type RingState } from '../../core/ring/index.js';
import { decodeState, encodeState, initialState } from '../../core/topology/view.js';
import { nodeId, requestId, type NodeId, type Random, type RequestId, type Slot } from '../../core/types.js';
import { globMatch, isMatchAll } from '../../data/glob-match.js';
import { ERROR_CODES, RingkvError, type ErrorCode } from '../../errors/index.js';
import { PeerTransport } from '../../server/peer/index.js';
import type { StorageEngine } from '../../storage/engine.js';
import { isPromise } from '../../util/maybe-promise.js';
import type {
  ClusterDefaults, ClusterNode, LocalReply, LocalRequest, MemberState, MemberView, NodeAddress, RingChange, RingView, TopologyProgress,
} from '../api.js';
import {
  ADDRESSES_PER_MESSAGE_MAX, hostMessage, hostRequest, isHostKind, localReply, nodeAddress, type HostMessage, type JoinMember,
} from './host-messages.js';
import { HostStorage, META } from './host-storage.js';
import { isObj, peerMessage, type GuardLimits } from './peer-guard.js';

/** Entries kept in the address book (the membership table's own bound). */
export const ADDRESS_BOOK_MAX = 2048;
/** How often the address book goes to every connected peer. */
const ADDRESS_GOSSIP_MS = 2000;
/** Join retries back off from this to JOIN_BACKOFF_MAX_MS. */
const JOIN_BACKOFF_BASE_MS = 200;
const JOIN_BACKOFF_MAX_MS = 5000;
/** How often a node whose join is pending checks that its change was not superseded. */
const JOIN_WATCH_MS = 1000;
/** Records a local_keys page examines at most (a sparse pattern answers a short page and a cursor). */
const LOCAL_KEYS_EXAMINED_MAX = 100_000;
/** Invalid peer inputs logged per minute (the rest only counted). */
const INVALID_LOG_PER_MINUTE = 10;

const metaPackr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false });

/** What open() read from, and wrote to, the node's metadata. */
export interface NodeMeta {
  readonly nodeId: NodeId;
  /** This life's incarnation (already persisted). */
  readonly incarnation: number;
  /** The persisted topology state (null = never in a ring). */
  readonly ring: NodeRing | null;
  readonly addresses: readonly NodeAddress[];
}

export interface NodeHostOptions {
  config: Config;
  /** Opened; the host owns it from here (closes it in close()). */
  engine: StorageEngine;
  meta: NodeMeta;
  logger: Logger;
  /** Wall clock, Unix ms. */
  now?: () => number;
}

export interface NodeHostStats {
  peerMessagesInvalid: number;
  peerRequestsInvalid: number;
  peerMessagesFailed: number;
  hostMessages: number;
  storageFailures: number;
  ringPersists: number;
  joinAttempts: number;
  localRequestsServed: number;
}

interface Pending {
  resolve: (r: KvResult) => void;
  write: boolean;
}

interface Completion {
  ioId: IoId;
  result: StorageResult;
}

const cryptoRandom: Random = {
  next: () => randomInt(0, 2 ** 47) / 2 ** 47,
  int: (n) => (n <= 1 ? 0 : randomInt(0, n)),
};

function errorResult(code: RingkvError['code'], message: string): KvResult {
  return { kind: 'error', code, message };
}

/**
 * Reads the node's metadata, refuses a data directory of another node, and writes the next
 * incarnation. Call before NodeHost is built; the incarnation must survive a crash before the
 * core runs, so the caller makes the write durable (main.ts reopens a durable engine that does
 * not sync every write: close syncs the WAL).
 */
export async function prepareMeta(engine: StorageEngine, config: Config, now: () => number = Date.now): Promise<NodeMeta> {
  const storage = new HostStorage(engine);
  const id = config.cluster.nodeId;
  if (id === '') throw new RingkvError('ERR_CONFIG', 'cluster mode needs cluster.nodeId');
  const storedId = await storage.readMeta(META.nodeId);
  if (storedId !== undefined && storedId.toString('utf8') !== id) {
    throw new RingkvError('ERR_CONFIG', `data directory ${config.dataDir} belongs to node "${storedId.toString('utf8')}", not "${id}"`);
  }
  if (storedId === undefined) {
    // A data directory that already holds records of a standalone node would mix layouts.
    for await (const [k] of engine.scan({ limit: 1 })) {
      throw new RingkvError('ERR_CONFIG', `data directory ${config.dataDir} holds data that is not a cluster node's (first key ${JSON.stringify(k.slice(0, 32))}); use an empty directory`);
    }
  }
  const storedInc = await storage.readMeta(META.incarnation);
  const previous = storedInc === undefined || storedInc.length !== 8 ? 0 : Number(storedInc.readBigUInt64BE(0));
  // Engines that forget everything on restart (memory) still need a rising incarnation.
  const floor = engine.capabilities.durable ? 0 : Math.floor(now() / 1000);
  const incarnation = Math.max(previous + 1, floor);
  let ring: NodeRing | null = null;
  const ringBytes = await storage.readMeta(META.ring);
  if (ringBytes !== undefined) {
    const st = decodeState(ringBytes);
    ring = { current: st.current, pending: st.pending, change: st.change, origin: st.origin, id: st.id };
    if (st.current.replicationFactor !== config.cluster.replicationFactor) {
      throw new RingkvError('ERR_CONFIG', `stored ring has replication factor ${st.current.replicationFactor}, config says ${config.cluster.replicationFactor}`);
    }
  }
  const addresses: NodeAddress[] = [];
  const addrBytes = await storage.readMeta(META.addresses);
  if (addrBytes !== undefined) {
    let v: unknown;
    try {
      v = metaPackr.unpack(addrBytes);
    } catch {
      v = undefined;
    }
    if (Array.isArray(v)) for (const a of v as unknown[]) {
      const x = nodeAddress(a);
      if (x !== null && addresses.length < ADDRESS_BOOK_MAX) addresses.push(x);
    }
  }
  await storage.writeMeta(META.nodeId, Buffer.from(id, 'utf8'));
  await storage.writeMeta(META.incarnation, incarnationBytes(incarnation));
  return { nodeId: nodeId(id), incarnation, ring, addresses };
}

function incarnationBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

const seedKey = (s: { host: string; port: number }): string => `${s.host}:${s.port}`;

/** A code from a peer's answer, mapped to the registry (a newer peer's unknown code is internal). */
function knownCode(code: string): ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'ERR_INTERNAL';
}

/** Parses "host:port" seeds (the schema checked the shape). */
function parseSeed(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export class NodeHost implements ClusterNode {
  readonly id: NodeId;
  readonly defaults: ClusterDefaults;
  readonly hostStats: NodeHostStats = {
    peerMessagesInvalid: 0, peerRequestsInvalid: 0, peerMessagesFailed: 0, hostMessages: 0, storageFailures: 0, ringPersists: 0,
    joinAttempts: 0, localRequestsServed: 0,
  };

  private readonly config: Config;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly storage: HostStorage;
  private readonly transport: PeerTransport;
  private readonly limits: GuardLimits;

  private node: Node | null = null;
  private readonly incarnation: number;
  private persistedIncarnation: number;
  /** The topology state the node starts with (persisted); null = never in a ring. */
  private readonly storedRing: NodeRing | null;
  private placeholder: RingState | undefined;
  private readonly book = new Map<NodeId, NodeAddress>();
  private bookDirty = false;
  private bookRotate = 0;
  private selfAddress: NodeAddress;
  private seedIds: NodeId[] = [];

  private nextRequestId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly completions: Completion[] = [];
  private draining = false;

  private tickTimer: NodeJS.Timeout | undefined;
  private gossipTimer: NodeJS.Timeout | undefined;
  private joinTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closing = false;
  /** Pending backoff sleeps, cut short by close(). */
  private readonly wakers = new Set<() => void>();
  /** Resolvers of start() while this node waits to be in a ring. */
  private ringWaiters: (() => void)[] = [];
  private invalidLogged = 0;
  private invalidLogWindowMs = 0;

  constructor(opts: NodeHostOptions) {
    const c = opts.config;
    this.config = c;
    this.id = opts.meta.nodeId;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.storage = new HostStorage(opts.engine);
    this.incarnation = opts.meta.incarnation;
    this.persistedIncarnation = opts.meta.incarnation;
    this.storedRing = opts.meta.ring;
    this.limits = { keyBytesMax: c.maxKeyBytes };
    this.defaults = {
      replicationFactor: c.cluster.replicationFactor, readConsistency: c.cluster.readConsistency, writeConsistency: c.cluster.writeConsistency,
      strictQuorum: c.cluster.strictQuorum, conflictMode: c.cluster.conflictMode,
    };
    const advertise = c.cluster.advertiseHost !== '' ? c.cluster.advertiseHost : c.host;
    this.selfAddress = { id: this.id, host: advertise, respPort: c.respPort, peerPort: c.peer.port, httpPort: c.httpPort };
    for (const a of opts.meta.addresses) if (a.id !== this.id) this.book.set(a.id, a);
    this.transport = new PeerTransport({
      nodeId: this.id,
      host: c.host,
      config: c.peer,
      logger: opts.logger.child({ component: 'peer' }),
      onMessage: (from, msg) => this.onPeerMessage(from, msg),
      onRequest: (from, msg) => this.onPeerRequest(from, msg),
      onPeerConnected: (peer) => this.sendAddresses(peer),
    });
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** Binds the peer port; call before the front ends listen so the address is known. */
  async listenPeer(): Promise<number> {
    const { port } = await this.transport.listen();
    this.selfAddress = { ...this.selfAddress, peerPort: port };
    return port;
  }

  /**
   * Starts the node: builds the core (with its stored ring, a new one-node ring, or none for a
   * node joining through seeds, whose ids are learned first) and starts the clock. A node that
   * joins by itself (autoJoin) resolves once it is in a ring (current or pending), retrying until
   * it is or until close() is called (then it rejects with ERR_SHUTTING_DOWN); with autoJoin off
   * it resolves at once and waits, out of the ring, for `ringkv admin join`.
   */
  async start(ports: { respPort: number; httpPort: number }): Promise<void> {
    if (this.started) throw new TypeError('node host already started');
    this.started = true;
    this.selfAddress = { ...this.selfAddress, respPort: ports.respPort, httpPort: ports.httpPort };
    this.transport.setPeers(this.peerBook());
    this.gossipTimer = setInterval(() => this.gossip(), ADDRESS_GOSSIP_MS);
    const seeds = this.config.cluster.seeds.map(parseSeed).filter((s) => !this.isSelf(s));
    let ring = this.storedRing;
    if (ring === null && seeds.length === 0) {
      const state = initialState(initialRing([this.selfMember()], this.config.cluster.replicationFactor));
      ring = { current: state.current, pending: null, change: null, origin: null, id: state.id };
      await this.storage.writeMeta(META.ring, Buffer.from(encodeState(state)));
      this.log.info({ epoch: state.current.epoch }, 'formed a one-node ring');
    }
    if (ring === null) {
      // The core's membership and topology take their seeds as node ids: learn them first.
      await this.discoverSeeds(seeds, 1);
      if (this.closing) throw new RingkvError('ERR_SHUTTING_DOWN', 'closed while reaching the seeds');
      void this.discoverSeeds(seeds.filter((s) => !this.seedReached.has(seedKey(s))), seeds.length);
    } else if (seeds.length > 0) {
      void this.discoverSeeds(seeds, seeds.length);
    }
    this.buildNode(ring ?? { current: null, pending: null });
    this.tickTimer = setInterval(() => this.tick(), this.config.cluster.tickMs);
    if (this.inRing()) return;
    if (ring !== null) {
      // It was in a ring and is not any more (decommissioned or removed): it stays out.
      this.log.warn('this node is not in its ring; it coordinates requests but holds no data (join it with ringkv admin join)');
      return;
    }
    if (!this.config.cluster.autoJoin) {
      // Up and reachable (its HTTP and peer ports too), serving no data until an operator adds it.
      this.log.warn('cluster.autoJoin is off: this node waits for an operator to add it (ringkv admin join)');
      return;
    }
    this.scheduleJoin(0, 0);
    await new Promise<void>((resolve) => this.ringWaiters.push(resolve));
    if (this.closing) throw new RingkvError('ERR_SHUTTING_DOWN', 'closed while joining the cluster');
  }

  /** Graceful: stop the clock, answer what is pending, close the transport, persist, close the engine. */
  async close(timeoutMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const w of this.ringWaiters.splice(0)) w();
    for (const w of [...this.wakers]) w();
    if (this.joinTimer !== undefined) clearTimeout(this.joinTimer);
    if (this.gossipTimer !== undefined) clearInterval(this.gossipTimer);
    // Keep ticking while in-flight requests finish (their deadlines are in ticks).
    const deadline = this.now() + Math.min(timeoutMs, this.config.cluster.requestTimeoutMs + 500);
    while (this.pending.size > 0 && this.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    this.failPending('ERR_SHUTTING_DOWN', 'the node is shutting down');
    await this.transport.close(Math.max(100, Math.min(2000, timeoutMs)));
    await this.persistState();
    await this.storage.engine.close();
  }

  // ---- ClusterNode ----------------------------------------------------------------------

  execute(op: KvOp): Promise<KvResult> {
    return this.submit(op.kind !== 'get', (node, id) => node.step({ kind: 'client_request', requestId: id, op }));
  }

  ring(): RingView {
    const v = this.node?.ringView() ?? null;
    return v ?? { current: this.placeholderRing(), pending: null };
  }

  members(): MemberView[] {
    const ids = new Set<NodeId>([this.id]);
    const view = this.node?.ringView() ?? null;
    const inRing = new Set<NodeId>();
    if (view !== null) {
      for (const m of view.current.members) inRing.add(m.id);
      for (const m of view.pending?.members ?? []) inRing.add(m.id);
    }
    for (const id of inRing) ids.add(id);
    for (const id of this.book.keys()) ids.add(id);
    const membership = this.node?.members ?? null;
    if (membership !== null) for (const s of membership.snapshot()) ids.add(s.id);
    const out: MemberView[] = [];
    for (const id of [...ids].sort()) {
      const status: MemberState = id === this.id ? 'alive' : (membership?.status(id) ?? 'alive');
      out.push({
        id,
        state: status,
        incarnation: id === this.id ? this.currentIncarnation : (membership?.incarnationOf(id) ?? 0),
        address: id === this.id ? this.selfAddress : this.book.get(id),
        inRing: inRing.has(id),
      });
    }
    return out;
  }

  address(): NodeAddress {
    return this.selfAddress;
  }

  isDown(id: NodeId): boolean {
    return this.node?.downMembers.includes(id) ?? false;
  }

  async request(to: NodeId, req: LocalRequest): Promise<LocalReply> {
    if (to === this.id) return this.serveLocal(req);
    const raw = await this.transport.request(to, req);
    const reply = localReply(raw, req.kind);
    if (reply === null) throw new RingkvError('ERR_PROTOCOL', `malformed ${req.kind} reply from ${to}`);
    return reply;
  }

  /** Starts a ring change in the core; resolves once it started (watch topology() for progress). */
  async changeRing(change: RingChange): Promise<void> {
    const r = await this.submit(true, (node, id) => node.changeRing(id, change));
    if (r.kind === 'error') throw new RingkvError(knownCode(r.code), r.message);
  }

  /** Operator repair: anti-entropy sessions with every live replica peer now. */
  async startRepair(): Promise<void> {
    const opened = this.node?.repairAntiEntropy() ?? -1;
    if (opened < 0) throw new RingkvError('ERR_UNAVAILABLE', 'anti-entropy is off on this node (cluster.antiEntropyIntervalMs = 0) or it has not started');
    this.log.info({ sessions: opened }, 'repair: anti-entropy sessions opened');
    this.drain();
  }

  /** When each slot this node replicates was last fully in sync with its other replicas. */
  antiEntropySlots(): ReadonlyMap<Slot, number | null> {
    return this.node?.antiEntropy?.syncMarks() ?? new Map();
  }

  topology(): TopologyProgress {
    return this.node?.topologyProgress() ?? { change: null, phase: 'idle', slotsToMove: 0, slotsMoved: 0, keysStreamed: 0, bytesStreamed: 0, message: 'not started' };
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.hostStats };
    const node = this.node;
    const view = node?.ringView() ?? null;
    out.incarnation = this.currentIncarnation;
    out.ringEpoch = view?.current.epoch ?? 0;
    out.ringMembers = view?.current.members.length ?? 0;
    out.ringPending = view?.pending === null || view === null ? 0 : 1;
    out.pendingRequests = this.pending.size;
    if (node !== null) {
      for (const [k, v] of Object.entries(node.stats)) if (typeof v === 'number') out[`core_${k}`] = v;
      for (const [k, v] of Object.entries(node.hintStats)) if (typeof v === 'number') out[`hints_${k}`] = v;
      const ae = node.antiEntropyStats;
      if (ae !== null) for (const [k, v] of Object.entries(ae)) out[`ae_${k}`] = v;
      const ms = node.members;
      if (ms !== null) for (const [k, v] of Object.entries(ms.stats)) if (typeof v === 'number') out[`membership_${k}`] = v;
      const ts = node.topologyStats;
      if (ts !== null) for (const [k, v] of Object.entries(ts)) if (typeof v === 'number') out[`topology_${k}`] = v;
    }
    const t = this.transport.stats();
    for (const [k, v] of Object.entries(t)) if (typeof v === 'number') out[`peer_${k}`] = v;
    return out;
  }

  /** Incarnation of the running core (rises on every restart and with membership refutations). */
  get currentIncarnation(): number {
    return this.node?.incarnationToPersist ?? this.incarnation;
  }

  get peerPort(): number {
    return this.selfAddress.peerPort;
  }

  // ---- the core loop --------------------------------------------------------------------

  /** Registers a reply-bearing request, steps the core with it and drains; never rejects. */
  private submit(write: boolean, stepWith: (node: Node, id: RequestId) => void): Promise<KvResult> {
    const node = this.node;
    if (this.closing) return Promise.resolve(errorResult('ERR_SHUTTING_DOWN', 'the node is shutting down'));
    if (node === null) return Promise.resolve(errorResult('ERR_UNAVAILABLE', 'this node has not started yet'));
    const id = requestId(this.nextRequestId);
    this.nextRequestId = this.nextRequestId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextRequestId + 1;
    return new Promise<KvResult>((resolve) => {
      this.pending.set(id, { resolve, write });
      try {
        stepWith(node, id);
      } catch (err) {
        this.pending.delete(id);
        this.log.error({ err }, 'core refused a request');
        resolve(errorResult('ERR_INTERNAL', 'internal error'));
        return;
      }
      this.drain();
    });
  }

  private tick(): void {
    const node = this.node;
    if (node === null) return;
    node.step({ kind: 'tick', nowMs: this.now() });
    this.drain();
    const inc = node.incarnationToPersist;
    if (inc > this.persistedIncarnation) {
      this.persistedIncarnation = inc;
      void this.storage.writeMeta(META.incarnation, incarnationBytes(inc)).catch((err: unknown) => this.log.error({ err }, 'cannot persist incarnation'));
    }
    if (!this.joinedRing && this.inCurrentRing()) {
      // Joined for good: the join loop ends here, so a later decommission is never undone by it.
      this.joinedRing = true;
      if (this.joinTimer !== undefined) clearTimeout(this.joinTimer);
      this.joinTimer = undefined;
    }
    if (this.ringWaiters.length > 0 && this.inRing()) {
      this.log.info({ epoch: this.ring().current.epoch }, 'this node is in the ring');
      for (const w of this.ringWaiters.splice(0)) w();
    }
  }

  /** Executes effects until the core is quiet; synchronous completions go through the queue. */
  private drain(): void {
    if (this.draining) return;
    const node = this.node;
    if (node === null) return;
    this.draining = true;
    try {
      for (;;) {
        const effects = node.takeEffects();
        for (const e of effects) this.effect(e);
        if (effects.length > 0) continue;
        const c = this.completions.shift();
        if (c === undefined) break;
        node.step({ kind: 'storage_done', ioId: c.ioId, result: c.result });
      }
    } finally {
      this.draining = false;
    }
  }

  private effect(e: Effect): void {
    switch (e.kind) {
      case 'send':
        this.transport.send(e.to, e.message);
        return;
      case 'storage': {
        const r = this.storage.execute(e.op);
        if (isPromise(r)) {
          void r.then((result) => {
            if (result.kind === 'failed') this.storageFailed(result.message);
            this.completions.push({ ioId: e.ioId, result });
            this.drain();
          });
        } else {
          if (r.kind === 'failed') this.storageFailed(r.message);
          this.completions.push({ ioId: e.ioId, result: r });
        }
        return;
      }
      case 'reply': {
        const p = this.pending.get(e.requestId);
        if (p === undefined) return;
        this.pending.delete(e.requestId);
        p.resolve(e.result);
        return;
      }
      case 'ring_changed': {
        // Persist the whole state (rank id, change, origin) so a restart ranks it as peers do.
        const st = this.node?.topologyState ?? null;
        const state = st ?? initialState(e.current, e.pending, e.change ?? null, e.origin ?? null, e.id);
        this.hostStats.ringPersists++;
        this.log.info({ epoch: e.current.epoch, pendingEpoch: e.pending?.epoch ?? null, change: e.change ?? null, members: e.current.members.map((m) => m.id) }, 'ring changed');
        void this.storage.writeMeta(META.ring, Buffer.from(encodeState(state))).catch((err: unknown) => this.log.error({ err }, 'cannot persist ring'));
        return;
      }
      default: {
        const never: never = e;
        throw new TypeError(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  private storageFailed(message: string): void {
    this.hostStats.storageFailures++;
    if (this.hostStats.storageFailures <= 10) this.log.error({ message }, 'storage operation failed');
  }

  private failPending(code: 'ERR_SHUTTING_DOWN', message: string): void {
    for (const [id, p] of [...this.pending]) {
      this.pending.delete(id);
      // A write handed to the core may have reached replicas: it may have happened.
      p.resolve(errorResult(p.write ? 'ERR_MAYBE_APPLIED' : code, message));
    }
  }

  private buildNode(ring: NodeRing): void {
    const c = this.config.cluster;
    const others = [...(ring.current?.members ?? []), ...(ring.pending?.members ?? [])].map((m) => m.id).filter((id) => id !== this.id);
    const known = [...new Set([...others, ...this.book.keys()])].filter((id) => id !== this.id).slice(0, ADDRESS_BOOK_MAX - 1);
    const seeds = [...new Set([...this.seedIds, ...others])];
    this.node = new Node({
      ...NODE_DEFAULTS,
      id: this.id,
      incarnation: this.incarnation,
      ring,
      topology: { seeds: this.seedIds },
      mode: c.conflictMode,
      siblingsMax: c.siblingsMax,
      requestTimeoutMs: c.requestTimeoutMs,
      strict: c.strictQuorum,
      routeAroundSuspects: c.routeAroundSuspects,
      hintCountMax: c.hintCountMax,
      hintBytesMax: c.hintBytesMax,
      hintWindowMs: c.hintWindowMs,
      startMs: this.now(),
      membership: { seeds, members: known, probeIntervalMs: c.probeIntervalMs, probeTimeoutMs: c.probeTimeoutMs },
      random: cryptoRandom,
      antiEntropy: c.antiEntropyIntervalMs > 0 ? this.antiEntropyOptions() : null,
    });
    this.log.info({ incarnation: this.incarnation, ringEpoch: ring.current?.epoch ?? 0, seeds }, 'core started');
    this.drain();
  }

  /** Anti-entropy settings from config; the tombstone grace is raised to the core's minimum. */
  private antiEntropyOptions(): { intervalMs: number; tombstoneGraceMs: number } {
    const c = this.config.cluster;
    const graceMin = c.hintWindowMs + 2 * c.requestTimeoutMs;
    return { intervalMs: c.antiEntropyIntervalMs, tombstoneGraceMs: Math.max(c.tombstoneGraceMs, graceMin) };
  }

  // ---- ring -----------------------------------------------------------------------------

  /** In the committed ring (not only in a pending change's target). */
  private inCurrentRing(): boolean {
    return this.node?.ringView()?.current.members.some((m) => m.id === this.id) ?? false;
  }

  private inRing(): boolean {
    const v = this.node?.ringView() ?? null;
    if (v === null) return false;
    return v.current.members.some((m) => m.id === this.id) || (v.pending?.members.some((m) => m.id === this.id) ?? false);
  }

  private selfMember(): JoinMember {
    const c = this.config.cluster;
    const m: JoinMember = { id: this.id, weight: c.weight };
    if (c.rack !== '') m.rack = c.rack;
    if (c.zone !== '') m.zone = c.zone;
    return m;
  }

  /** A stand-in before the node knows a ring (itself only); never persisted or sent. */
  private placeholderRing(): RingState {
    this.placeholder ??= initialRing([this.selfMember()], this.config.cluster.replicationFactor);
    return this.placeholder;
  }

  private isSelf(s: { host: string; port: number }): boolean {
    return s.port === this.selfAddress.peerPort && (s.host === this.selfAddress.host || s.host === this.config.host);
  }

  private readonly seedReached = new Set<string>();
  /** A committed ring held this node once (seen on a tick): it never asks to join again. */
  private joinedRing = false;

  /**
   * Dials seeds by address until `want` of them answered (or close()), with backoff; their ids
   * become membership and topology seeds and their addresses enter the book.
   */
  private async discoverSeeds(seeds: readonly { host: string; port: number }[], want: number): Promise<void> {
    let attempt = 0;
    const todo = seeds.filter((s) => !this.seedReached.has(seedKey(s)));
    let reached = 0;
    while (!this.closing && todo.length > 0 && reached < want) {
      for (const s of [...todo]) {
        try {
          const id = await this.transport.connectAddress(s);
          if (!this.seedIds.includes(id) && id !== this.id) this.seedIds.push(id);
          this.seedReached.add(seedKey(s));
          todo.splice(todo.indexOf(s), 1);
          reached++;
          this.log.info({ seed: seedKey(s), id }, 'seed reached');
          if (reached >= want) return;
        } catch (err) {
          if (attempt % 10 === 0) this.log.warn({ seed: seedKey(s), reason: err instanceof Error ? err.message : String(err) }, 'seed not reachable yet');
        }
      }
      attempt++;
      if (todo.length > 0 && reached < want && !this.closing) {
        await this.sleep(Math.min(JOIN_BACKOFF_MAX_MS, JOIN_BACKOFF_BASE_MS * 2 ** Math.min(attempt, 8)));
      }
    }
  }

  /** A backoff wait that close() ends at once. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private scheduleJoin(delayMs: number, attempt: number): void {
    if (this.closing) return;
    this.joinTimer = setTimeout(() => {
      this.joinTimer = undefined;
      void this.tryJoin(attempt);
    }, delayMs);
  }

  /**
   * Asks the core to add this node to the ring (the core forwards the change to a ring member).
   * Waits until membership knows a live peer first; retries with backoff on any refusal
   * (a change already in flight: ERR_TOPOLOGY_BUSY) until the ring holds this node.
   */
  private async tryJoin(attempt: number): Promise<void> {
    // Done only once a committed ring holds this node: a pending join can still be superseded
    // by a concurrent change of higher rank (another node's join), and then it must ask again.
    if (this.closing || this.joinedRing || this.inCurrentRing()) return;
    if (this.inRing()) {
      this.scheduleJoin(JOIN_WATCH_MS, attempt);
      return;
    }
    const node = this.node;
    const livePeers = node?.members?.liveMembers().filter((m) => m !== this.id).length ?? 0;
    if (node !== null && livePeers > 0) {
      this.hostStats.joinAttempts++;
      const m = this.selfMember();
      const change: RingChange = { kind: 'join', id: this.id, weight: m.weight };
      if (m.rack !== undefined) change.rack = m.rack;
      if (m.zone !== undefined) change.zone = m.zone;
      const r = await this.submit(true, (n, id) => n.changeRing(id, change));
      if (r.kind === 'written') {
        this.log.info({ attempt }, 'join accepted; waiting for the ring to hold this node');
      } else if (r.kind === 'error' && (attempt % 5 === 0 || r.code !== 'ERR_TOPOLOGY_BUSY')) {
        this.log.info({ attempt, code: r.code, reason: r.message }, 'join not accepted yet; retrying');
      }
    }
    if (this.closing || this.joinedRing || this.inCurrentRing()) return;
    if (this.inRing()) this.scheduleJoin(JOIN_WATCH_MS, attempt);
    else this.scheduleJoin(Math.min(JOIN_BACKOFF_MAX_MS, JOIN_BACKOFF_BASE_MS * 2 ** Math.min(attempt, 8)), attempt + 1);
  }

  // ---- addresses ------------------------------------------------------------------------

  private peerBook(): Map<string, { host: string; port: number }> {
    const out = new Map<string, { host: string; port: number }>();
    for (const [id, a] of this.book) if (id !== this.id) out.set(id, { host: a.host, port: a.peerPort });
    return out;
  }

  private addressesMessage(): HostMessage {
    const all = [...this.book.values()];
    const room = ADDRESSES_PER_MESSAGE_MAX - 1;
    let slice = all;
    if (all.length > room) {
      this.bookRotate = (this.bookRotate + room) % all.length;
      slice = [...all, ...all].slice(this.bookRotate, this.bookRotate + room);
    }
    return { kind: 'host_addresses', addresses: [this.selfAddress, ...slice] };
  }

  private sendAddresses(peer: NodeId): void {
    this.transport.send(peer, this.addressesMessage());
  }

  private gossip(): void {
    this.pruneBook();
    const msg = this.addressesMessage();
    for (const p of this.transport.connectedPeers()) this.transport.send(p, msg);
    if (this.bookDirty) {
      this.bookDirty = false;
      void this.persistBook();
    }
  }

  /**
   * Forgets members that left the ring and that membership holds dead or gone (a removed or
   * decommissioned node), so the transport stops redialing them. A node that is not in the ring
   * but alive (joining) is kept.
   */
  private pruneBook(): void {
    const view = this.node?.ringView() ?? null;
    const membership = this.node?.members ?? null;
    if (view === null || membership === null) return;
    let changed = false;
    for (const id of [...this.book.keys()]) {
      if (view.current.members.some((m) => m.id === id) || view.pending?.members.some((m) => m.id === id) === true) continue;
      const status = membership.status(id);
      if (status === 'dead' || status === 'left') {
        this.book.delete(id);
        changed = true;
        this.log.info({ peer: id, status }, 'forgetting the address of a member out of the ring');
      }
    }
    if (changed) {
      this.bookDirty = true;
      this.transport.setPeers(this.peerBook());
    }
  }

  private worthAddress(id: NodeId, view: RingView): boolean {
    if (view.current.members.some((m) => m.id === id) || view.pending?.members.some((m) => m.id === id) === true) return true;
    const status = this.node?.members?.status(id);
    return status === 'alive' || status === 'suspect';
  }

  private learnAddresses(from: NodeId, addresses: readonly NodeAddress[]): void {
    let changed = false;
    const view = this.node?.ringView() ?? null;
    for (const a of addresses) {
      if (a.id === this.id) continue;
      // A node is the authority on its own address; others only fill gaps.
      const cur = this.book.get(a.id);
      const authoritative = a.id === from;
      if (cur !== undefined && !authoritative) continue;
      if (cur !== undefined && cur.host === a.host && cur.peerPort === a.peerPort && cur.respPort === a.respPort && cur.httpPort === a.httpPort) continue;
      if (cur === undefined && this.book.size >= ADDRESS_BOOK_MAX) continue;
      // Third parties' books may hold members long gone: only ring members and live members enter.
      if (!authoritative && view !== null && !this.worthAddress(a.id, view)) continue;
      this.book.set(a.id, a);
      changed = true;
    }
    if (changed) {
      this.bookDirty = true;
      this.transport.setPeers(this.peerBook());
    }
  }

  private async persistBook(): Promise<void> {
    try {
      await this.storage.writeMeta(META.addresses, metaPackr.pack([...this.book.values()]));
    } catch (err) {
      this.log.error({ err }, 'cannot persist the address book');
    }
  }

  private async persistState(): Promise<void> {
    try {
      await this.persistBook();
      const inc = this.currentIncarnation;
      if (inc > this.persistedIncarnation) await this.storage.writeMeta(META.incarnation, incarnationBytes(inc));
      const st = this.node?.topologyState ?? null;
      if (st !== null) await this.storage.writeMeta(META.ring, Buffer.from(encodeState(st)));
    } catch (err) {
      this.log.error({ err }, 'cannot persist node state at shutdown');
    }
  }

  // ---- peer input -----------------------------------------------------------------------

  private invalid(kind: 'message' | 'request', from: NodeId, raw: unknown): void {
    if (kind === 'message') this.hostStats.peerMessagesInvalid++;
    else this.hostStats.peerRequestsInvalid++;
    const now = this.now();
    if (now - this.invalidLogWindowMs > 60_000) {
      this.invalidLogWindowMs = now;
      this.invalidLogged = 0;
    }
    if (this.invalidLogged++ < INVALID_LOG_PER_MINUTE) {
      const k = isObj(raw) && typeof raw.kind === 'string' ? raw.kind.slice(0, 32) : typeof raw;
      this.log.warn({ peer: from, kind: k }, `dropped a malformed peer ${kind}`);
    }
  }

  private onPeerMessage(from: NodeId, raw: unknown): void {
    if (from === this.id) return;
    if (isObj(raw) && isHostKind(raw.kind)) {
      const m = hostMessage(raw);
      if (m === null) {
        this.invalid('message', from, raw);
        return;
      }
      this.hostStats.hostMessages++;
      this.learnAddresses(from, m.addresses);
      return;
    }
    const m = peerMessage(raw, this.limits);
    if (m === null) {
      this.invalid('message', from, raw);
      return;
    }
    const node = this.node;
    if (node === null) return;
    try {
      node.step({ kind: 'peer_message', from, message: m } satisfies Input);
    } catch (err) {
      // The guard lets through only well-formed messages; a throw here is a core bug, contained
      // to this message rather than taking the node down for every client.
      this.hostStats.peerMessagesFailed++;
      if (this.hostStats.peerMessagesFailed <= 10) this.log.error({ err, peer: from, kind: m.kind }, 'core failed on a peer message');
    }
    this.drain();
  }

  private async onPeerRequest(from: NodeId, raw: unknown): Promise<unknown> {
    const req = hostRequest(raw);
    if (req === null) {
      this.invalid('request', from, raw);
      throw new RingkvError('ERR_PROTOCOL', 'malformed request');
    }
    return this.serveLocal(req);
  }

  // ---- local requests -------------------------------------------------------------------

  /** Whether stored record bytes hold a live value (not a tombstone, not expired). */
  private live(bytes: Buffer, nowMs: number): boolean {
    const node = this.node;
    if (node === null) return false;
    try {
      return node.versions.live(node.versions.decode(bytes), nowMs).length > 0;
    } catch {
      return false;
    }
  }

  async serveLocal(req: LocalRequest): Promise<LocalReply> {
    this.hostStats.localRequestsServed++;
    const nowMs = this.now();
    const slotSet = req.kind !== 'local_flush' && req.slots !== undefined ? new Set(req.slots) : null;
    const inSlots = (key: string): boolean => slotSet === null || slotSet.has(keySlot(key));
    switch (req.kind) {
      case 'local_keys': {
        const pattern = req.pattern !== undefined && !isMatchAll(req.pattern) ? req.pattern : null;
        const keys: string[] = [];
        let examined = 0;
        let last: string | null = null;
        for await (const r of this.storage.records(req.after)) {
          if (keys.length >= req.limit || examined >= LOCAL_KEYS_EXAMINED_MAX) return { kind: 'local_keys', page: { keys, next: last } };
          examined++;
          last = r.key;
          if (!inSlots(r.key) || (pattern !== null && !globMatch(pattern, r.key)) || !this.live(r.record, nowMs)) continue;
          keys.push(r.key);
        }
        return { kind: 'local_keys', page: { keys, next: null } };
      }
      case 'local_count': {
        let count = 0;
        for await (const r of this.storage.records(null)) if (inSlots(r.key) && this.live(r.record, nowMs)) count++;
        return { kind: 'local_count', count };
      }
      case 'local_flush': {
        let removed = 0;
        const doomed: { key: string; live: boolean }[] = [];
        for await (const r of this.storage.records(null)) doomed.push({ key: r.key, live: this.live(r.record, nowMs) });
        for (const d of doomed) {
          await this.storage.deleteRecord(d.key);
          if (d.live) removed++;
        }
        return { kind: 'local_flush', removed };
      }
      default: {
        const never: never = req;
        throw new TypeError(`unknown local request ${JSON.stringify(never)}`);
      }
    }
  }
}
