/**
 * The sans-IO node: a deterministic state machine stepped with inputs (ticks, client requests,
 * peer messages, storage completions) that emits effects (sends, storage operations, replies)
 * for its host to execute. The real server's node host and the simulator run this same class.
 *
 * It composes the quorum coordinator with the two pieces of local machinery the coordinator
 * needs: storage IO bookkeeping (each storage effect has an ioId; its completion resumes the
 * continuation registered with it) and per-key turns (KeyQueue), so local read-modify-write of
 * one key is serialised although storage completes asynchronously. It also hosts:
 * - SWIM membership (optional: hand-driven tests leave it out and call `setDown`): its messages
 *   travel as `membership` peer messages, its ticks are the node's, its randomness the injected
 *   Random. Its status changes feed the down set the coordinator routes by — suspect, dead and
 *   left members are routed around; failure detection changes ROUTING, never ownership.
 * - the hint store (hinted handoff): hints it holds for down owners, reloaded by a storage scan
 *   at start and replayed when membership reports their owner alive again.
 * - Merkle anti-entropy (optional, `antiEntropy`): a per-slot tree over its records, updated on
 *   every local store and rebuilt by a paged storage scan at start, and periodic exchange
 *   sessions with replica peers (anti-entropy-driver.ts).
 *
 * Invariants (checked by `invariants()`, which the simulator calls after every step):
 * - time never goes backwards inside the node (ticks older than the last are clamped);
 * - every outstanding ioId has exactly one continuation, and completes at most once;
 * - the coordinator's and the key queue's own bounds and consistency rules hold.
 * Volatile state (ops, turns, clock) is lost on crash by construction: a restart builds a new
 * Node with a higher incarnation over the same durable storage.
 */
import type { ConflictMode } from '../versioning/index.js';
import type { Effect, Input, IoId, PeerMessage, StorageOp, StorageResult } from '../messages.js';
import type { NodeId, Random, RequestId, Slot } from '../types.js';
import { AntiEntropyDriver, NODE_ANTI_ENTROPY_DEFAULTS, type AntiEntropyNodeStats, type NodeAntiEntropyOptions } from './anti-entropy-driver.js';
import { Coordinator, type CoordinatorHost, type CoordinatorStats } from '../coordinator/coordinator.js';
import { bindVersions, type Versions } from '../coordinator/versions.js';
import { HINT_DEFAULTS, HintStore, type HintStats } from '../handoff/index.js';
import { Membership, MEMBERSHIP_DEFAULTS, type MembershipOptions } from '../membership/index.js';
import { KeyQueue } from './key-queue.js';
import type { KvResult } from '../messages.js';
import type { RingState } from '../ring/index.js';
import { TopologyDriver, TOPOLOGY_DEFAULTS, type TopologyOptions, type TopologyStats } from '../topology/driver.js';
import type { RingChange, TopologyProgress } from '../topology/types.js';
import { encodeState, initialState, ownsKey, stateVersion, type TopologyState } from '../topology/view.js';
import { viewPlacement } from './ring-placement.js';

/** Where a key lives: the ring answers it in production; tests may hand-write it. */
export interface Placement {
  readonly replicationFactor: number;
  preferenceList(key: string): readonly NodeId[];
  /** Sloppy-quorum fallbacks: members outside the preference list, in order. Absent = none. */
  fallbackList?(key: string): readonly NodeId[];
  /** A slot's preference list (anti-entropy needs the slots a node shares with each peer). */
  slotPreferenceList?(slot: Slot): readonly NodeId[];
  /** During a ring change: the key's owners in the pending ring when they differ (ring-placement.ts). */
  pendingPreferenceList?(key: string): readonly NodeId[] | null;
}

/**
 * The ring a node starts with (what the host persisted from `ring_changed` effects). `current`
 * null = not in any ring yet (a node started with seeds): client operations answer
 * ERR_UNAVAILABLE until it learns a ring by gossip.
 */
export interface NodeRing {
  readonly current: RingState | null;
  readonly pending: RingState | null;
  readonly change?: RingChange | null;
  readonly origin?: NodeId | null;
  readonly id?: string;
}

/** Topology settings the host may tune; identity comes from the node, quiesce from requestTimeoutMs. */
export type NodeTopologyOptions = Partial<Omit<TopologyOptions, 'self' | 'incarnation'>>;

/** Membership settings the host chooses; identity, clock and randomness come from the node. */
export type NodeMembershipOptions = Partial<Omit<MembershipOptions, 'self' | 'incarnation' | 'random' | 'startMs'>>;

export interface NodeOptions {
  readonly id: NodeId;
  /** Strictly increases across restarts of the same node (persisted by the host). */
  readonly incarnation: number;
  /** A fixed placement (tests, the simulator's static runs). Ignored when `ring` is given. */
  readonly placement?: Placement;
  /**
   * Ring mode: placement follows this ring and the ring changes the node runs or learns
   * (topology/driver.ts). Needs `membership` for gossip in a real cluster.
   */
  readonly ring?: NodeRing;
  readonly topology?: NodeTopologyOptions;
  readonly mode: ConflictMode;
  readonly siblingsMax: number;
  readonly requestTimeoutMs: number;
  readonly inFlightMax: number;
  readonly keyQueueMax: number;
  readonly forwardDedupMax: number;
  readonly replicaSync: boolean;
  readonly repairSync: boolean;
  /** The node's clock at construction (before the first tick). */
  readonly startMs: number;
  /** Default quorum mode of writes: true = owners only (PW-like), false = sloppy with hints. */
  readonly strict: boolean;
  readonly hintCountMax: number;
  readonly hintBytesMax: number;
  readonly hintWindowMs: number;
  readonly hintReplayIntervalMs: number;
  readonly hintReplayBatchMax: number;
  /**
   * Route around suspect members too (true), or only around dead and left ones (false).
   * Measured in simulation (300 seeds): routing around suspects fails more writes fast as
   * UNAVAILABLE ("did not happen") and sends more to fallbacks as hints; dead-only waits for
   * timeouts more often (more MAYBE_APPLIED) and routes around running members ~9x less often.
   */
  readonly routeAroundSuspects: boolean;
  /** Runs SWIM membership in the node when set (needs `random`); null = the host calls setDown. */
  readonly membership: NodeMembershipOptions | null;
  readonly random: Random | null;
  /**
   * Merkle anti-entropy settings (merged over NODE_ANTI_ENTROPY_DEFAULTS); null or absent = off.
   * Needs `placement.slotPreferenceList`.
   */
  readonly antiEntropy?: Partial<NodeAntiEntropyOptions> | null;
}

export const NODE_DEFAULTS = {
  mode: 'siblings',
  siblingsMax: 16,
  requestTimeoutMs: 1000,
  inFlightMax: 1024,
  keyQueueMax: 4096,
  forwardDedupMax: 4096,
  replicaSync: true,
  repairSync: false,
  strict: false,
  routeAroundSuspects: true,
  ...HINT_DEFAULTS,
  membership: null,
  random: null,
  antiEntropy: null,
} as const satisfies Partial<NodeOptions>;

type StorageContinuation = (result: StorageResult) => void;

export class Node {
  readonly id: NodeId;
  private nowMs: number;
  private effects: Effect[] = [];
  private ioSeq = 0;
  private readonly io = new Map<IoId, StorageContinuation>();
  private readonly keys: KeyQueue;
  private readonly down = new Set<NodeId>();
  /** Times a member started being routed around (a figure: how often failure detection acts). */
  private downMarks = 0;
  /** Members newly routed around since the last takeDownMarks (bounded: cleared by the host or capped). */
  private recentDownMarks: NodeId[] = [];
  private readonly coordinator: Coordinator;
  private readonly hints: HintStore;
  private readonly membership: Membership | null;
  private ae: AntiEntropyDriver | null;
  /** Counters of anti-entropy drivers replaced by a ring change (each change builds a new one). */
  private aeCarry: AntiEntropyNodeStats | null = null;
  /** Where keys live now: the fixed option, or derived from the topology state. */
  private placement: Placement;
  private readonly topology: TopologyDriver | null;
  readonly versions: Versions;

  constructor(private readonly opts: NodeOptions) {
    if (!Number.isSafeInteger(opts.incarnation) || opts.incarnation < 0) throw new RangeError('incarnation must be a non-negative integer');
    for (const [name, v] of [['requestTimeoutMs', opts.requestTimeoutMs], ['inFlightMax', opts.inFlightMax],
      ['keyQueueMax', opts.keyQueueMax], ['forwardDedupMax', opts.forwardDedupMax], ['siblingsMax', opts.siblingsMax]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
    this.id = opts.id;
    this.nowMs = opts.startMs;
    let initial: TopologyState | null = null;
    if (opts.ring !== undefined) {
      const r = opts.ring;
      initial = r.current === null ? null : initialState(r.current, r.pending, r.change ?? null, r.origin ?? null, r.id);
      this.placement = initial === null ? NO_RING : viewPlacement(initial);
    } else {
      if (opts.placement === undefined) throw new RangeError('a node needs a placement or a ring');
      this.placement = opts.placement;
    }
    this.keys = new KeyQueue(opts.keyQueueMax);
    this.versions = bindVersions({
      self: opts.id, mode: opts.mode, siblingsMax: opts.siblingsMax,
      // Purged keys lose their dot counters: new dots must not reuse ones other records still cover.
      counterFloorOnAbsent: opts.antiEntropy !== null && opts.antiEntropy !== undefined
        && (opts.antiEntropy.tombstoneGraceMs === undefined ? NODE_ANTI_ENTROPY_DEFAULTS.tombstoneGraceMs : opts.antiEntropy.tombstoneGraceMs) !== null,
    });
    const host: CoordinatorHost = {
      nowMs: () => this.nowMs,
      placement: (key) => ({ replicationFactor: this.placement.replicationFactor, preferenceList: this.placement.preferenceList(key) }),
      fallbacks: (key) => this.placement.fallbackList?.(key) ?? [],
      pendingPreferenceList: (key) => this.placement.pendingPreferenceList?.(key) ?? null,
      acceptHint: (owner, key, record, ack) => this.hints.accept(owner, key, record, ack),
      isDown: (n) => this.down.has(n),
      send: (to, message) => this.send(to, message),
      reply: (requestId, result) => this.effects.push({ kind: 'reply', requestId, result }),
      storageRead: (key, done) => this.storage({ kind: 'read', key }, (r) => {
        switch (r.kind) {
          case 'read': return done({ ok: true, record: r.record });
          case 'failed': return done({ ok: false, message: r.message });
          case 'written': case 'hints': case 'records': throw new Error('storage answered a read with a write result');
          default: { const never: never = r; throw new TypeError(`bad storage result ${JSON.stringify(never)}`); }
        }
      }),
      storageWrite: (key, record, sync, done) => this.storage({ kind: 'write', key, record, sync }, (r) => {
        switch (r.kind) {
          case 'written':
            // Every local store of a user record passes here: the Merkle tree follows storage.
            this.ae?.onStored(key, record);
            this.topology?.noteStored(key);
            return done({ ok: true });
          case 'failed': return done({ ok: false, message: r.message });
          case 'read': case 'hints': case 'records': throw new Error('storage answered a write with a read result');
          default: { const never: never = r; throw new TypeError(`bad storage result ${JSON.stringify(never)}`); }
        }
      }),
      withKey: (key, task) => this.keys.enqueue(key, task),
    };
    this.coordinator = new Coordinator({
      self: opts.id, incarnation: opts.incarnation, requestTimeoutMs: opts.requestTimeoutMs, inFlightMax: opts.inFlightMax,
      forwardDedupMax: opts.forwardDedupMax, replicaSync: opts.replicaSync, repairSync: opts.repairSync, strict: opts.strict,
    }, host, this.versions);
    const okOf = (r: StorageResult): boolean => r.kind === 'written';
    this.hints = new HintStore({
      self: opts.id, incarnation: opts.incarnation, hintCountMax: opts.hintCountMax, hintBytesMax: opts.hintBytesMax,
      hintWindowMs: opts.hintWindowMs, hintReplayIntervalMs: opts.hintReplayIntervalMs, hintReplayBatchMax: opts.hintReplayBatchMax,
      requestTimeoutMs: opts.requestTimeoutMs,
    }, {
      nowMs: () => this.nowMs,
      isDown: (n) => this.down.has(n),
      send: (to, message) => this.send(to, message),
      hintPut: (owner, key, entry, done) => this.storage({ kind: 'hint_put', owner, key, entry }, (r) => done(okOf(r))),
      hintDelete: (owner, key, done) => this.storage({ kind: 'hint_delete', owner, key }, (r) => done(okOf(r))),
      hintScan: (done) => this.storage({ kind: 'hint_scan' }, (r) => done(r.kind === 'hints' ? r.hints : null)),
      withTurn: (turn, task) => this.keys.enqueue(turn, task),
    }, this.versions);
    this.hints.load();
    this.ae = this.newAntiEntropy(initial);
    if (opts.membership === null) {
      this.membership = null;
    } else {
      if (opts.random === null) throw new RangeError('membership needs an injected random source');
      this.membership = new Membership({
        // A gossiped ring is ~50 KB at N = 3 (one byte per slot-replica): room for N up to ~20.
        ...MEMBERSHIP_DEFAULTS, ...(opts.ring !== undefined ? { ringPayloadBytesMax: RING_PAYLOAD_BYTES_MAX } : {}), ...opts.membership,
        self: opts.id, incarnation: opts.incarnation, random: opts.random, startMs: opts.startMs,
      });
      if (initial !== null) this.membership.setRingEpoch(stateVersion(initial), encodeState(initial));
    }
    if (opts.ring === undefined) {
      this.topology = null;
    } else {
      this.topology = new TopologyDriver({
        ...TOPOLOGY_DEFAULTS, quiesceMs: opts.requestTimeoutMs, forwardTimeoutMs: 2 * opts.requestTimeoutMs, ...opts.topology,
        self: opts.id, incarnation: opts.incarnation,
      }, {
        nowMs: () => this.nowMs,
        send: (to, message) => this.send(to, { kind: 'topology', message }),
        isDown: (n) => this.down.has(n),
        knownPeers: () => this.membership?.liveMembers().filter((m) => m !== this.id) ?? [],
        scan: (afterKey, limit, done) => this.storage({ kind: 'scan', afterKey, limit }, (r) => done(r.kind === 'records' ? r : null)),
        merge: (key, record, then) => this.coordinator.mergeRecord(key, record, true, () => then()),
        purge: (key, record, done) => this.purgeRecord(key, record, done),
        reply: (requestId, result) => this.effects.push({ kind: 'reply', requestId, result }),
        adopted: (state) => this.ringAdopted(state),
      }, initial);
    }
    this.drainMembership();
  }

  /** A new anti-entropy driver over the placement in force (null when off or before a ring is known). */
  private newAntiEntropy(state: TopologyState | null): AntiEntropyDriver | null {
    const opts = this.opts;
    if (opts.antiEntropy === null || opts.antiEntropy === undefined) return null;
    if (opts.ring !== undefined && state === null) return null;
    const placement = this.placement;
    const slotList = placement.slotPreferenceList?.bind(placement);
    if (slotList === undefined) throw new RangeError('anti-entropy needs placement.slotPreferenceList');
    const aeOpts = { ...NODE_ANTI_ENTROPY_DEFAULTS, ...opts.antiEntropy };
    // A tombstone must outlive every older version still in flight: hints (hintWindowMs) and
    // replicates or read repairs (request timeouts) — else a late one revives a purged key.
    const graceMin = opts.hintWindowMs + 2 * opts.requestTimeoutMs;
    if (aeOpts.tombstoneGraceMs !== null && aeOpts.tombstoneGraceMs < graceMin) {
      throw new RangeError(`antiEntropy.tombstoneGraceMs must be at least hintWindowMs + 2 x requestTimeoutMs (${graceMin}), got ${aeOpts.tombstoneGraceMs}`);
    }
    if (aeOpts.tombstoneGraceMs !== null && aeOpts.purgeSettleMs < opts.requestTimeoutMs) {
      throw new RangeError(`antiEntropy.purgeSettleMs must be at least requestTimeoutMs (${opts.requestTimeoutMs}), got ${aeOpts.purgeSettleMs}`);
    }
    return new AntiEntropyDriver(opts.id, opts.incarnation, aeOpts, {
      nowMs: () => this.nowMs,
      send: (to, message) => this.send(to, message),
      read: (key, done) => this.storage({ kind: 'read', key }, (r) => done(r.kind === 'read' ? r.record : undefined)),
      scan: (afterKey, limit, done) => this.storage({ kind: 'scan', afterKey, limit }, (r) => done(r.kind === 'records' ? r : null)),
      merge: (key, record, then) => this.coordinator.mergeRecord(key, record, true, then),
      isDown: (n) => this.down.has(n),
      slotReplicas: slotList,
      placementKey: placement,
      purge: (key, record, done) => this.purgeRecord(key, record, done),
      // Replica sets move during a ring change: tombstones are purged only on a settled ring.
      purgeAllowed: state === null || state.pending === null,
      // In ring mode a node replicates a key it owns in the current or the pending ring.
      replicates: state === null ? (key) => placement.preferenceList(key).includes(opts.id) : (key) => ownsKey(state, opts.id, key),
    }, opts.random);
  }

  /**
   * The topology driver adopted a state: placement follows it, anti-entropy restarts over the
   * new replica sets (its tree is rebuilt by a scan: the shared-slot tables are per placement),
   * the host persists it and membership gossips it.
   */
  private ringAdopted(state: TopologyState): void {
    this.placement = viewPlacement(state);
    if (this.ae !== null) {
      const s = this.ae.stats;
      const carry = this.aeCarry ?? { ...s };
      if (this.aeCarry !== null) for (const k of Object.keys(carry) as (keyof AntiEntropyNodeStats)[]) carry[k] += s[k];
      this.aeCarry = carry;
    }
    this.ae = this.newAntiEntropy(state);
    this.effects.push({ kind: 'ring_changed', current: state.current, pending: state.pending, change: state.change, origin: state.origin, id: state.id });
    this.membership?.setRingEpoch(stateVersion(state), encodeState(state));
  }

  /**
   * Compare-and-delete under the key's turn. The comparison is made here first (no write can
   * land while the turn is held), so when the purge completes the record is gone and the tree
   * learns it in the same step: the tree never lags storage. A record that changed since the
   * caller read it is left alone (`done(true)`: nothing of that version is left to purge).
   */
  private purgeRecord(key: string, record: Buffer, done: (ok: boolean) => void): void {
    const queued = this.keys.enqueue(key, (release) => {
      this.storage({ kind: 'read', key }, (now) => {
        if (now.kind !== 'read') {
          release();
          return done(false);
        }
        if (now.record === null || !now.record.equals(record)) {
          release();
          return done(true);
        }
        this.storage({ kind: 'purge', key, record }, (r) => {
          release();
          if (r.kind !== 'written') return done(false);
          this.ae?.tree.update(key, null);
          done(true);
        });
      });
    });
    if (!queued) done(false);
  }

  // -------------------------------------------------------------------------------------------
  // Topology (ring mode)
  // -------------------------------------------------------------------------------------------

  /**
   * Starts a ring change; the answer is a `reply` effect for `requestId`: 'written' = the change
   * started (it then streams and commits on its own; watch `topologyProgress()`), or an error:
   * ERR_TOPOLOGY_BUSY (a change is in flight), ERR_UNKNOWN_NODE (decommission/remove of a
   * non-member), ERR_INVALID_ARGUMENT (join of a member, removing the last one),
   * ERR_UNAVAILABLE (not in a ring and no ring member reachable to forward to),
   * ERR_MAYBE_APPLIED (forwarded and the member did not answer in time).
   */
  changeRing(requestId: RequestId, change: RingChange): void {
    if (this.topology === null) {
      this.effects.push({ kind: 'reply', requestId, result: { kind: 'error', code: 'ERR_INVALID_ARGUMENT', message: 'this node runs a fixed placement, not a ring' } });
      return;
    }
    this.topology.changeRing(requestId, change);
  }

  /** The rings this node holds (null = not in a ring yet, or a fixed placement). */
  ringView(): { current: RingState; pending: RingState | null } | null {
    const s = this.topology?.state ?? null;
    return s === null ? null : { current: s.current, pending: s.pending };
  }

  /** The whole topology state (rank id, change, origin) for hosts and the simulator. */
  get topologyState(): TopologyState | null {
    return this.topology?.state ?? null;
  }

  topologyProgress(): TopologyProgress {
    return this.topology?.progress() ?? { change: null, phase: 'idle', slotsToMove: 0, slotsMoved: 0, keysStreamed: 0, bytesStreamed: 0, message: 'fixed placement' };
  }

  get topologyStats(): Readonly<TopologyStats> | null {
    return this.topology === null ? null : { ...this.topology.stats };
  }

  /** Whether this node still holds (or must look for) records of slots it does not own. */
  get handingOff(): boolean {
    return this.topology?.handingOff ?? false;
  }

  step(input: Input): void {
    switch (input.kind) {
      case 'tick':
        // A wall clock may step back (NTP); deadlines must not, so node time only moves forward.
        if (input.nowMs > this.nowMs) this.nowMs = input.nowMs;
        this.coordinator.tick(this.nowMs);
        if (this.membership !== null) {
          this.membership.step({ kind: 'tick', nowMs: this.nowMs });
          this.drainMembership();
        }
        this.hints.tick(this.nowMs);
        this.ae?.tick();
        this.topology?.tick();
        return;
      case 'client_request':
        if (this.topology !== null && this.topology.state === null) {
          this.effects.push({ kind: 'reply', requestId: input.requestId, result: NOT_IN_RING });
          return;
        }
        this.coordinator.clientRequest(input.requestId, input.op);
        return;
      case 'peer_message':
        if (input.from === this.id) throw new Error('a node does not message itself');
        this.peerMessage(input.from, input.message);
        return;
      case 'storage_done': {
        const k = this.io.get(input.ioId);
        if (k === undefined) throw new Error(`storage completion for unknown or finished io ${input.ioId}`);
        this.io.delete(input.ioId);
        k(input.result);
        return;
      }
      default: {
        const never: never = input;
        throw new TypeError(`unknown input ${JSON.stringify(never)}`);
      }
    }
  }

  /** Effects emitted since the last call, in emission order; the host executes them in order. */
  takeEffects(): Effect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  /**
   * The local failure view (quorums treat every replica as reachable unless marked). Membership
   * drives it when the node runs one; hosts without membership (hand-driven tests) call it.
   */
  setDown(node: NodeId, down: boolean): void {
    if (node === this.id) return;
    if (down) {
      if (!this.down.has(node)) {
        this.downMarks++;
        if (this.recentDownMarks.length < 1024) this.recentDownMarks.push(node);
      }
      this.down.add(node);
    } else if (this.down.delete(node)) {
      this.hints.ownerAlive(node);
    }
  }

  /** Members this node currently routes around. */
  get downMembers(): readonly NodeId[] {
    return [...this.down].sort();
  }

  get hintStats(): Readonly<HintStats> & { held: number; bytes: number; loaded: boolean } {
    return { ...this.hints.stats, held: this.hints.count, bytes: this.hints.bytes, loaded: this.hints.loaded };
  }

  /**
   * What the host must persist as this node's incarnation before the next restart uses a
   * higher one: membership raises its own incarnation to refute suspicions, and a new life
   * must start above every incarnation the old one announced.
   */
  get incarnationToPersist(): number {
    return Math.max(this.opts.incarnation, this.membership?.ownIncarnation ?? 0);
  }

  /** The membership state machine, when the node runs one (read-only use: status, stats). */
  get members(): Membership | null {
    return this.membership;
  }

  private peerMessage(from: NodeId, m: PeerMessage): void {
    switch (m.kind) {
      case 'membership':
        if (this.membership === null) return; // a peer runs membership and we do not: ignore it
        this.membership.step({ kind: 'message', from, message: m.message });
        this.drainMembership();
        return;
      case 'hint_ack':
        this.hints.onAck(from, m.deliveryId);
        return;
      case 'ae':
      case 'ae_push':
      case 'ae_push_ack':
      case 'ae_fetch':
      case 'ae_fetch_reply':
        if (this.ae === null) return; // a peer runs anti-entropy and we do not: ignore it
        this.ae.message(from, m);
        return;
      case 'topology':
        if (this.topology === null) return; // a peer runs ring changes and we run a fixed placement
        this.topology.onMessage(from, m.message);
        return;
      default:
        this.coordinator.peerMessage(from, m);
    }
  }

  private drainMembership(): void {
    if (this.membership === null) return;
    for (const e of this.membership.takeEffects()) {
      switch (e.kind) {
        case 'send':
          this.send(e.to, { kind: 'membership', message: e.message });
          break;
        case 'change':
          switch (e.status) {
            case 'alive': this.setDown(e.member, false); break;
            case 'suspect': this.setDown(e.member, this.opts.routeAroundSuspects); break;
            case 'dead': case 'left': this.setDown(e.member, true); break;
            default: { const never: never = e.status; throw new TypeError(`unknown member status ${String(never)}`); }
          }
          break;
        case 'ring_epoch':
          // Membership only reports a newer ring; topology decides. Without the payload, a
          // push-pull sync with the peer brings it.
          if (this.topology === null) break;
          if (e.ring !== null) this.topology.onAnnouncement(e.ring);
          else this.membership.requestSync(e.peer);
          break;
        default: {
          const never: never = e;
          throw new TypeError(`unknown membership effect ${JSON.stringify(never)}`);
        }
      }
    }
  }

  /**
   * Operator repair: opens anti-entropy sessions with every live replica peer now (emits their
   * sends as effects). Returns how many opened; -1 when anti-entropy is off.
   */
  repairAntiEntropy(): number {
    return this.ae === null ? -1 : this.ae.repairNow();
  }

  /** The anti-entropy driver (tree, watermarks, stats) when enabled. */
  get antiEntropy(): AntiEntropyDriver | null {
    return this.ae;
  }

  get antiEntropyStats(): Readonly<AntiEntropyNodeStats> | null {
    if (this.ae === null && this.aeCarry === null) return null;
    const out = { ...(this.ae?.stats ?? this.aeCarry!) };
    if (this.ae !== null && this.aeCarry !== null) for (const k of Object.keys(out) as (keyof AntiEntropyNodeStats)[]) out[k] += this.aeCarry[k];
    return out;
  }

  get clockMs(): number {
    return this.nowMs;
  }

  get inFlight(): number {
    return this.coordinator.inFlight;
  }

  get stats(): Readonly<CoordinatorStats> & { pendingIo: number; keyWaiting: number; downMarks: number } {
    return { ...this.coordinator.stats, pendingIo: this.io.size, keyWaiting: this.keys.waitingCount, downMarks: this.downMarks };
  }

  /** Members this node started routing around since the last call (for figures; at most 1024). */
  takeDownMarks(): NodeId[] {
    if (this.recentDownMarks.length === 0) return [];
    const out = this.recentDownMarks;
    this.recentDownMarks = [];
    return out;
  }

  invariants(): void {
    this.coordinator.invariants();
    this.keys.invariants();
    this.hints.invariants(this.nowMs);
    this.membership?.invariants();
    this.ae?.invariants();
    this.topology?.invariants();
    if (this.down.has(this.id)) throw new Error('a node holds itself down');
    if (this.io.size > this.ioSeq) throw new Error('more outstanding io than io ever issued');
    for (const id of this.io.keys()) if (id < 1 || id > this.ioSeq) throw new Error(`outstanding io ${id} was never issued`);
  }

  private send(to: NodeId, message: PeerMessage): void {
    if (to === this.id) throw new Error('a node does not message itself');
    this.effects.push({ kind: 'send', to, message });
  }

  private storage(op: StorageOp, k: StorageContinuation): void {
    this.ioSeq++;
    const ioId = this.ioSeq;
    this.io.set(ioId, k);
    this.effects.push({ kind: 'storage', ioId, op });
  }
}

/** The placement of a node that knows no ring yet: it replicates nothing (client ops are refused before). */
const NO_RING: Placement = { replicationFactor: 1, preferenceList: () => [], slotPreferenceList: () => [] };

const NOT_IN_RING: KvResult = { kind: 'error', code: 'ERR_UNAVAILABLE', message: 'this node has not joined a ring yet' };

/** Room for a gossiped ring (view.ts payload) unless the host set its own bound. */
const RING_PAYLOAD_BYTES_MAX = 1024 * 1024;
