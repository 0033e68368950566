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
 *   ring_changed -> persisted (meta 'ring') and adopted
 * Inbound peer values are untrusted: core messages pass peer-guard.ts, host messages
 * host-messages.ts; malformed ones are dropped and counted (`peerMessagesInvalid`).
 *
 * Identity and restarts. open() reads the node's metadata before anything else: a data
 * directory that belongs to another node id is refused; the incarnation is the stored one plus
 * one (never below the wall clock in seconds for engines that do not persist), written before
 * the core is built; later raises by membership (refutations) are persisted from the tick.
 * The ring and the address book are persisted too, so a restarted node resumes with both.
 *
 * Ring (host-managed, temporary until the core runs topology changes itself): the ring lives
 * here and the core is built over a placement of it. A node with no stored ring and no seeds
 * forms a one-node ring; a node with seeds and no stored ring asks a ring member to add it
 * (host_join, retried with backoff) and adopts the ring it gets back. Changes (join,
 * decommission, remove) are computed by the node that receives them, which adopts the new ring
 * (epoch + 1) and pushes it; others learn newer epochs from the address gossip and fetch the
 * ring. Adopting a ring rebuilds the core at a higher incarnation (the core's placement and
 * anti-entropy tables are fixed per instance); requests in flight at that moment are answered
 * ERR_UNAVAILABLE (reads) or ERR_MAYBE_APPLIED (writes). No data is streamed: new replicas are
 * filled by read repair and Merkle anti-entropy. Concurrent changes made at two nodes are
 * resolved by epoch, then a deterministic tie-break, so every node ends on the same ring, but
 * one of the two changes is lost: make changes through one node at a time.
 *
 * Addresses. Seeds are host:peerPort; the transport learns their ids in the handshake. Hosts
 * send each other their address book (self first, at most ADDRESSES_PER_MESSAGE_MAX per
 * message, rotating) on connect and every ADDRESS_GOSSIP_MS, with their ring epoch; the book is
 * bounded (ADDRESS_BOOK_MAX) and every address in it is dialed.
 */
import { randomInt } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Effect, Input, IoId, KvOp, KvResult, StorageResult } from '../../core/messages.js';
import { Node, NODE_DEFAULTS } from '../../core/node/node.js';
import { ringPlacement } from '../../core/node/ring-placement.js';
import { initialRing, keySlot, movedReplicas, withMemberAdded, withMemberRemoved, type RingState } from '../../core/ring/index.js';
import { nodeId, requestId, type NodeId, type Random, type RequestId } from '../../core/types.js';
import { globMatch, isMatchAll } from '../../data/glob-match.js';
import { RingkvError } from '../../errors/index.js';
import { PeerTransport } from '../../server/peer/index.js';
import type { StorageEngine } from '../../storage/engine.js';
import { isPromise } from '../../util/maybe-promise.js';
import type {
  ClusterDefaults, ClusterNode, LocalReply, LocalRequest, MemberState, MemberView, NodeAddress, RingChange, RingView, TopologyProgress,
} from '../api.js';
import {
  ADDRESSES_PER_MESSAGE_MAX, hostMessage, hostRequest, isHostKind, localReply, nodeAddress, packRing, ringReply, unpackRing,
  type HostMessage, type HostRequest, type JoinMember,
} from './host-messages.js';
import { HostStorage, META } from './host-storage.js';
import { isObj, peerMessage, type GuardLimits } from './peer-guard.js';

/** Entries kept in the address book (the membership table's own bound). */
export const ADDRESS_BOOK_MAX = 2048;
/** How often the address book (and ring epoch) goes to every connected peer. */
const ADDRESS_GOSSIP_MS = 2000;
/** Join retries back off from this to JOIN_BACKOFF_MAX_MS. */
const JOIN_BACKOFF_BASE_MS = 200;
const JOIN_BACKOFF_MAX_MS = 5000;
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
  readonly ring: RingState | null;
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
  ringAdoptions: number;
  nodeRebuilds: number;
  joinAttempts: number;
  localRequestsServed: number;
}

interface Pending {
  resolve: (r: KvResult) => void;
  write: boolean;
}

interface Completion {
  gen: number;
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
 * Reads the node's metadata, refuses a data directory of another node, and persists the next
 * incarnation. Call before NodeHost is built; `durable` = the incarnation must survive a crash
 * before the core runs (the caller syncs the engine, e.g. by reopening it).
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
  let ring: RingState | null = null;
  const ringBytes = await storage.readMeta(META.ring);
  if (ringBytes !== undefined) ring = unpackRing(ringBytes);
  if (ring !== null && ring.replicationFactor !== config.cluster.replicationFactor) {
    throw new RingkvError('ERR_CONFIG', `stored ring has replication factor ${ring.replicationFactor}, config says ${config.cluster.replicationFactor}`);
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

/** Parses "host:port" seeds (the schema checked the shape). */
function parseSeed(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** Deterministic order of two rings at the same epoch: every node picks the same winner. */
function ringWins(candidate: RingState, current: RingState | null): boolean {
  if (current === null) return true;
  if (candidate.epoch !== current.epoch) return candidate.epoch > current.epoch;
  const a = candidate.members.map((m) => m.id).join(',');
  const b = current.members.map((m) => m.id).join(',');
  if (candidate.members.length !== current.members.length) return candidate.members.length > current.members.length;
  return a > b;
}

export class NodeHost implements ClusterNode {
  readonly id: NodeId;
  readonly defaults: ClusterDefaults;
  readonly hostStats: NodeHostStats = {
    peerMessagesInvalid: 0, peerRequestsInvalid: 0, peerMessagesFailed: 0, hostMessages: 0, storageFailures: 0, ringAdoptions: 0,
    nodeRebuilds: 0, joinAttempts: 0, localRequestsServed: 0,
  };

  private readonly config: Config;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly storage: HostStorage;
  private readonly transport: PeerTransport;
  private readonly limits: GuardLimits;

  private node: Node | null = null;
  /** Generation of `node`: completions of a previous core instance are dropped. */
  private gen = 0;
  private incarnation: number;
  private persistedIncarnation: number;
  private ringState: RingState | null;
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
  private ringFetching = false;
  private changeInFlight = false;
  private progress: TopologyProgress = { change: null, phase: 'idle', slotsToMove: 0, slotsMoved: 0, keysStreamed: 0, bytesStreamed: 0, message: '' };
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
    this.ringState = opts.meta.ring;
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
   * Starts the node: learns the seeds' ids, gets a ring (stored, a new one-node ring, or by
   * joining through a seed), builds the core and starts the clock. Resolves once the node has a
   * ring; a joining node retries until a seed answers (or close() is called).
   */
  async start(ports: { respPort: number; httpPort: number }): Promise<void> {
    if (this.started) throw new TypeError('node host already started');
    this.started = true;
    this.selfAddress = { ...this.selfAddress, respPort: ports.respPort, httpPort: ports.httpPort };
    this.transport.setPeers(this.peerBook());
    this.tickTimer = setInterval(() => this.tick(), this.config.cluster.tickMs);
    this.gossipTimer = setInterval(() => this.gossip(), ADDRESS_GOSSIP_MS);
    const seeds = this.config.cluster.seeds.map(parseSeed);
    if (this.ringState === null && seeds.length === 0) {
      this.adoptRing(initialRing([this.selfMember()], this.config.cluster.replicationFactor), 'formed a one-node ring');
    } else if (this.ringState !== null) {
      this.buildNode();
    }
    if (seeds.length > 0) void this.discoverSeeds(seeds);
    if (this.ringState === null) {
      if (!this.config.cluster.autoJoin) {
        throw new RingkvError('ERR_CONFIG', 'this node has no ring and cluster.autoJoin is off: start it with autoJoin or without seeds');
      }
      this.scheduleJoin(0, 0);
      await new Promise<void>((resolve) => this.ringWaiters.push(resolve));
      if (this.closing) throw new RingkvError('ERR_SHUTTING_DOWN', 'closed while joining the cluster');
    }
  }

  /** Graceful: stop the clock, answer what is pending, close the transport, persist, close the engine. */
  async close(timeoutMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const w of this.ringWaiters.splice(0)) w();
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
    const node = this.node;
    if (this.closing) return Promise.resolve(errorResult('ERR_SHUTTING_DOWN', 'the node is shutting down'));
    if (node === null) return Promise.resolve(errorResult('ERR_UNAVAILABLE', 'this node has not joined a ring yet'));
    const id = requestId(this.nextRequestId);
    this.nextRequestId = this.nextRequestId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextRequestId + 1;
    return new Promise<KvResult>((resolve) => {
      this.pending.set(id, { resolve, write: op.kind !== 'get' });
      try {
        node.step({ kind: 'client_request', requestId: id, op });
      } catch (err) {
        this.pending.delete(id);
        this.log.error({ err }, 'core refused a client request');
        resolve(errorResult('ERR_INTERNAL', 'internal error'));
        return;
      }
      this.drain();
    });
  }

  ring(): RingView {
    return { current: this.ringState ?? this.placeholderRing(), pending: null };
  }

  members(): MemberView[] {
    const ids = new Set<NodeId>([this.id]);
    const ring = this.ringState;
    if (ring !== null) for (const m of ring.members) ids.add(m.id);
    for (const id of this.book.keys()) ids.add(id);
    const membership = this.node?.members ?? null;
    if (membership !== null) for (const s of membership.snapshot()) ids.add(s.id);
    const out: MemberView[] = [];
    for (const id of [...ids].sort()) {
      const status: MemberState = id === this.id ? 'alive' : (membership?.status(id) ?? 'alive');
      out.push({
        id,
        state: status,
        incarnation: id === this.id ? (this.node?.incarnationToPersist ?? this.incarnation) : (membership?.incarnationOf(id) ?? 0),
        address: id === this.id ? this.selfAddress : this.book.get(id),
        inRing: ring?.members.some((m) => m.id === id) ?? false,
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

  async changeRing(change: RingChange): Promise<void> {
    const ring = this.ringState;
    if (ring === null) throw new RingkvError('ERR_UNAVAILABLE', 'this node has no ring yet');
    if (this.changeInFlight) throw new RingkvError('ERR_TOPOLOGY_BUSY', 'a ring change is in flight on this node');
    this.changeInFlight = true;
    try {
      let next: RingState;
      switch (change.kind) {
        case 'join': {
          if (ring.members.some((m) => m.id === change.id)) return;
          if (change.id !== this.id && !this.book.has(change.id)) {
            throw new RingkvError('ERR_UNKNOWN_NODE', `node ${change.id} is not known to this node (start it with this cluster's seeds first)`);
          }
          const member: JoinMember = { id: change.id, weight: change.weight ?? 1 };
          if (change.rack !== undefined) member.rack = change.rack;
          if (change.zone !== undefined) member.zone = change.zone;
          next = withMemberAdded(ring, member);
          break;
        }
        case 'decommission':
        case 'remove': {
          if (!ring.members.some((m) => m.id === change.id)) throw new RingkvError('ERR_UNKNOWN_NODE', `node ${change.id} is not in the ring`);
          if (ring.members.length === 1) throw new RingkvError('ERR_INVALID_ARGUMENT', 'cannot remove the last member of the ring');
          next = withMemberRemoved(ring, change.id);
          if (change.kind === 'remove') this.forget(change.id);
          break;
        }
        default: {
          const never: never = change;
          throw new TypeError(`unknown ring change ${JSON.stringify(never)}`);
        }
      }
      const moved = movedReplicas(ring, next);
      this.progress = { change, phase: 'committing', slotsToMove: moved, slotsMoved: 0, keysStreamed: 0, bytesStreamed: 0, message: `epoch ${next.epoch}` };
      this.adoptRing(next, `ring change ${change.kind} ${change.id}`);
      this.pushRing();
      this.progress = {
        change, phase: 'done', slotsToMove: moved, slotsMoved: moved, keysStreamed: 0, bytesStreamed: 0,
        message: `ring epoch ${next.epoch} adopted; new replicas are filled by read repair and anti-entropy`,
      };
    } finally {
      this.changeInFlight = false;
    }
  }

  topology(): TopologyProgress {
    return this.progress;
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.hostStats };
    const node = this.node;
    out.incarnation = node?.incarnationToPersist ?? this.incarnation;
    out.ringEpoch = this.ringState?.epoch ?? 0;
    out.ringMembers = this.ringState?.members.length ?? 0;
    out.pendingRequests = this.pending.size;
    if (node !== null) {
      for (const [k, v] of Object.entries(node.stats)) if (typeof v === 'number') out[`core_${k}`] = v;
      for (const [k, v] of Object.entries(node.hintStats)) if (typeof v === 'number') out[`hints_${k}`] = v;
      const ae = node.antiEntropyStats;
      if (ae !== null) for (const [k, v] of Object.entries(ae)) out[`ae_${k}`] = v;
      const ms = node.members;
      if (ms !== null) for (const [k, v] of Object.entries(ms.stats)) if (typeof v === 'number') out[`membership_${k}`] = v;
    }
    const t = this.transport.stats();
    for (const [k, v] of Object.entries(t)) if (typeof v === 'number') out[`peer_${k}`] = v;
    return out;
  }

  /** Incarnation of the running core (rises on restarts and on every ring adoption). */
  get currentIncarnation(): number {
    return this.node?.incarnationToPersist ?? this.incarnation;
  }

  get peerPort(): number {
    return this.selfAddress.peerPort;
  }

  // ---- the core loop --------------------------------------------------------------------

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
        if (c.gen !== this.gen) continue;
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
        const gen = this.gen;
        const r = this.storage.execute(e.op);
        if (isPromise(r)) {
          void r.then((result) => {
            if (result.kind === 'failed') this.storageFailed(result.message);
            this.completions.push({ gen, ioId: e.ioId, result });
            this.drain();
          });
        } else {
          if (r.kind === 'failed') this.storageFailed(r.message);
          this.completions.push({ gen, ioId: e.ioId, result: r });
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
      case 'ring_changed':
        // The core adopted a ring (topology changes run in the core): persist and publish it.
        this.ringState = e.current;
        void this.storage.writeMeta(META.ring, packRing(e.current)).catch((err: unknown) => this.log.error({ err }, 'cannot persist ring'));
        return;
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

  private failPending(code: 'ERR_SHUTTING_DOWN' | 'ERR_UNAVAILABLE', message: string): void {
    for (const [id, p] of [...this.pending]) {
      this.pending.delete(id);
      // A write handed to the core may have reached replicas: it may have happened.
      p.resolve(errorResult(p.write ? 'ERR_MAYBE_APPLIED' : code, message));
    }
  }

  /** Builds a new core over the current ring, at a fresh incarnation. */
  private buildNode(): void {
    const ring = this.ringState;
    if (ring === null) throw new Error('buildNode without a ring');
    const c = this.config.cluster;
    if (this.node !== null) {
      this.incarnation = Math.max(this.incarnation, this.node.incarnationToPersist) + 1;
      this.failPending('ERR_UNAVAILABLE', 'the ring changed while the request was in flight');
      this.hostStats.nodeRebuilds++;
      // Engines here apply the put synchronously; it is synced with the engine's durability.
      this.persistedIncarnation = this.incarnation;
      void this.storage.writeMeta(META.incarnation, incarnationBytes(this.incarnation)).catch((err: unknown) => this.log.error({ err }, 'cannot persist incarnation'));
    }
    this.gen++;
    this.completions.length = 0;
    const others = ring.members.map((m) => m.id).filter((id) => id !== this.id);
    const known = [...new Set([...others, ...this.book.keys()])].filter((id) => id !== this.id).slice(0, ADDRESS_BOOK_MAX - 1);
    const seeds = [...new Set([...this.seedIds, ...others])];
    const placement = ringPlacement(ring);
    this.node = new Node({
      ...NODE_DEFAULTS,
      id: this.id,
      incarnation: this.incarnation,
      placement,
      mode: c.conflictMode,
      siblingsMax: c.siblingsMax,
      requestTimeoutMs: c.requestTimeoutMs,
      strict: c.strictQuorum,
      hintCountMax: c.hintCountMax,
      hintBytesMax: c.hintBytesMax,
      hintWindowMs: c.hintWindowMs,
      startMs: this.now(),
      membership: { seeds, members: known, probeIntervalMs: c.probeIntervalMs, probeTimeoutMs: c.probeTimeoutMs, ringEpoch: ring.epoch },
      random: cryptoRandom,
      antiEntropy: c.antiEntropyIntervalMs > 0 ? { intervalMs: c.antiEntropyIntervalMs } : null,
    });
    this.log.info({ incarnation: this.incarnation, ringEpoch: ring.epoch, members: ring.members.length }, 'core started');
    this.drain();
  }

  // ---- ring -----------------------------------------------------------------------------

  private selfMember(): JoinMember {
    const c = this.config.cluster;
    const m: JoinMember = { id: this.id, weight: c.weight };
    if (c.rack !== '') m.rack = c.rack;
    if (c.zone !== '') m.zone = c.zone;
    return m;
  }

  /** A stand-in before the node has a ring (itself only); never persisted or sent. */
  private placeholderRing(): RingState {
    this.placeholder ??= initialRing([this.selfMember()], this.config.cluster.replicationFactor);
    return this.placeholder;
  }

  /** Takes `ring` if it wins over the current one; rebuilds the core over it. */
  private adoptRing(ring: RingState, why: string): boolean {
    if (!ringWins(ring, this.ringState)) return false;
    if (ring.replicationFactor !== this.config.cluster.replicationFactor) {
      this.log.error({ theirs: ring.replicationFactor, ours: this.config.cluster.replicationFactor }, 'ignoring a ring with another replication factor');
      return false;
    }
    const previous = this.ringState;
    this.ringState = ring;
    this.hostStats.ringAdoptions++;
    this.log.info({ epoch: ring.epoch, previousEpoch: previous?.epoch ?? 0, members: ring.members.map((m) => m.id), why }, 'ring adopted');
    void this.storage.writeMeta(META.ring, packRing(ring)).catch((err: unknown) => this.log.error({ err }, 'cannot persist ring'));
    if (this.started) this.buildNode();
    // start() waits until this node is IN the ring, not merely holding one.
    if (ring.members.some((m) => m.id === this.id)) for (const w of this.ringWaiters.splice(0)) w();
    return true;
  }

  private pushRing(): void {
    const ring = this.ringState;
    if (ring === null) return;
    const msg: HostMessage = { kind: 'host_ring', ring: packRing(ring) };
    for (const peer of this.transport.connectedPeers()) this.transport.send(peer, msg);
  }

  private forget(id: NodeId): void {
    if (id === this.id) return;
    this.book.delete(id);
    this.bookDirty = true;
    this.transport.setPeers(this.peerBook());
  }

  private async discoverSeeds(seeds: readonly { host: string; port: number }[]): Promise<void> {
    let attempt = 0;
    const pendingSeeds = [...seeds];
    while (!this.closing && pendingSeeds.length > 0) {
      for (const s of [...pendingSeeds]) {
        if (s.port === this.selfAddress.peerPort && (s.host === this.selfAddress.host || s.host === this.config.host)) {
          pendingSeeds.splice(pendingSeeds.indexOf(s), 1); // a seed list may name this node itself
          continue;
        }
        try {
          const id = await this.transport.connectAddress(s);
          if (!this.seedIds.includes(id) && id !== this.id) this.seedIds.push(id);
          pendingSeeds.splice(pendingSeeds.indexOf(s), 1);
          this.log.info({ seed: `${s.host}:${s.port}`, id }, 'seed reached');
        } catch (err) {
          if (attempt % 10 === 0) this.log.warn({ seed: `${s.host}:${s.port}`, reason: err instanceof Error ? err.message : String(err) }, 'seed not reachable yet');
        }
      }
      if (pendingSeeds.length === 0 || this.closing) return;
      attempt++;
      await new Promise((r) => setTimeout(r, Math.min(JOIN_BACKOFF_MAX_MS, JOIN_BACKOFF_BASE_MS * 2 ** Math.min(attempt, 8))));
    }
  }

  private scheduleJoin(delayMs: number, attempt: number): void {
    if (this.closing) return;
    this.joinTimer = setTimeout(() => {
      this.joinTimer = undefined;
      void this.tryJoin(attempt);
    }, delayMs);
  }

  /** Asks a ring member (a seed, else any connected peer) to add this node to the ring. */
  private async tryJoin(attempt: number): Promise<void> {
    if (this.closing || this.ringState?.members.some((m) => m.id === this.id) === true) return;
    const candidates = [...this.seedIds, ...this.transport.connectedPeers().map((p) => nodeId(p))];
    const target = candidates.length === 0 ? undefined : candidates[attempt % candidates.length];
    if (target !== undefined) {
      this.hostStats.joinAttempts++;
      try {
        const req: HostRequest = { kind: 'host_join', member: this.selfMember() };
        const reply = ringReply(await this.transport.request(target, req));
        if (reply === null) throw new RingkvError('ERR_PROTOCOL', 'malformed join reply');
        const ring = unpackRing(reply.ring);
        if (ring.members.some((m) => m.id === this.id)) {
          // Already adopted when the member's push arrived first; then nothing changes here.
          this.adoptRing(ring, `joined through ${target}`);
          for (const w of this.ringWaiters.splice(0)) w();
          return;
        }
      } catch (err) {
        if (attempt % 5 === 0) this.log.warn({ via: target, attempt, reason: err instanceof Error ? err.message : String(err) }, 'join not accepted yet; retrying');
      }
    }
    this.scheduleJoin(Math.min(JOIN_BACKOFF_MAX_MS, JOIN_BACKOFF_BASE_MS * 2 ** Math.min(attempt, 8)), attempt + 1);
  }

  /** A ring member answers a join: adds the member (idempotent) and returns the ring. */
  private async serveJoin(member: JoinMember): Promise<{ ring: Buffer }> {
    const ring = this.ringState;
    if (ring === null || !ring.members.some((m) => m.id === this.id)) throw new RingkvError('ERR_UNAVAILABLE', 'this node is not a ring member');
    if (!ring.members.some((m) => m.id === member.id)) {
      const change: RingChange = { kind: 'join', id: member.id, weight: member.weight };
      if (member.rack !== undefined) change.rack = member.rack;
      if (member.zone !== undefined) change.zone = member.zone;
      await this.changeRing(change);
    }
    const now = this.ringState;
    if (now === null) throw new RingkvError('ERR_UNAVAILABLE', 'this node has no ring');
    return { ring: packRing(now) };
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
    return { kind: 'host_addresses', ringEpoch: this.ringState?.epoch ?? 0, addresses: [this.selfAddress, ...slice] };
  }

  private sendAddresses(peer: NodeId): void {
    this.transport.send(peer, this.addressesMessage());
  }

  private gossip(): void {
    const msg = this.addressesMessage();
    for (const p of this.transport.connectedPeers()) this.transport.send(p, msg);
    if (this.bookDirty) {
      this.bookDirty = false;
      void this.persistBook();
    }
  }

  private learnAddresses(from: NodeId, addresses: readonly NodeAddress[]): void {
    let changed = false;
    for (const a of addresses) {
      if (a.id === this.id) continue;
      // A node is the authority on its own address; others only fill gaps.
      const cur = this.book.get(a.id);
      const authoritative = a.id === from;
      if (cur !== undefined && !authoritative) continue;
      if (cur !== undefined && cur.host === a.host && cur.peerPort === a.peerPort && cur.respPort === a.respPort && cur.httpPort === a.httpPort) continue;
      if (cur === undefined && this.book.size >= ADDRESS_BOOK_MAX) continue;
      // A removed member is not re-learned from third parties' stale books.
      if (!authoritative && this.ringState !== null && !this.ringState.members.some((m) => m.id === a.id) && this.node?.members?.status(a.id) === undefined) continue;
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
      const inc = this.node?.incarnationToPersist ?? this.incarnation;
      if (inc > this.persistedIncarnation) await this.storage.writeMeta(META.incarnation, incarnationBytes(inc));
      if (this.ringState !== null) await this.storage.writeMeta(META.ring, packRing(this.ringState));
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
      this.onHostMessage(from, m);
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

  private onHostMessage(from: NodeId, m: HostMessage): void {
    switch (m.kind) {
      case 'host_addresses':
        this.learnAddresses(from, m.addresses);
        if (m.ringEpoch > (this.ringState?.epoch ?? 0) && !this.ringFetching) void this.fetchRing(from);
        return;
      case 'host_ring':
        try {
          this.adoptRing(unpackRing(m.ring), `pushed by ${from}`);
        } catch {
          this.invalid('message', from, m);
        }
        return;
      default: {
        const never: never = m;
        throw new TypeError(`unknown host message ${JSON.stringify(never)}`);
      }
    }
  }

  private async fetchRing(from: NodeId): Promise<void> {
    this.ringFetching = true;
    try {
      const reply = ringReply(await this.transport.request(from, { kind: 'host_ring_get' } satisfies HostRequest));
      if (reply === null) {
        this.invalid('message', from, 'ring reply');
        return;
      }
      this.adoptRing(unpackRing(reply.ring), `learned from ${from}`);
    } catch (err) {
      this.log.debug({ err, peer: from }, 'ring fetch failed');
    } finally {
      this.ringFetching = false;
    }
  }

  private async onPeerRequest(from: NodeId, raw: unknown): Promise<unknown> {
    const req = hostRequest(raw);
    if (req === null) {
      this.invalid('request', from, raw);
      throw new RingkvError('ERR_PROTOCOL', 'malformed request');
    }
    switch (req.kind) {
      case 'host_join':
        if (req.member.id !== from) throw new RingkvError('ERR_INVALID_ARGUMENT', 'a node may only ask to join for itself');
        return this.serveJoin(req.member);
      case 'host_ring_get': {
        const ring = this.ringState;
        if (ring === null) throw new RingkvError('ERR_UNAVAILABLE', 'this node has no ring yet');
        return { ring: packRing(ring) };
      }
      case 'local_keys':
      case 'local_count':
      case 'local_flush':
        return this.serveLocal(req);
      default: {
        const never: never = req;
        throw new TypeError(`unknown host request ${JSON.stringify(never)}`);
      }
    }
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
