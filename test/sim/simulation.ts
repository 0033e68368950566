/**
 * A deterministic cluster simulator (after TigerBeetle's VOPR and FoundationDB's sim2): N real
 * `Node` instances in one process, driven by an event queue in simulated time, with a seeded
 * network (delay, loss, duplication, reordering, partitions: random halves, one isolated,
 * bridge), crashes and restarts (durable disk kept, volatile state and unsynced writes lost),
 * per-node clock skew, disk errors and slow disks (a record write completing after the request
 * timeout), and concurrent clients recording a history.
 *
 * A run is a pure function of its options: seeded PRNG streams (sfc32; the slow-disk fault draws
 * from its own stream derived from the seed) decide everything, events
 * at equal times run in scheduling order, and nothing reads the real clock. `digest` covers every
 * effect every node emitted, so rerunning a seed must reproduce it exactly.
 *
 * Phases: (1) faults + workload until the clients have issued `ops` operations; (2) heal
 * everything (restart crashed nodes, end partitions and loss) and let clients finish and messages
 * drain, until every node's membership sees every member alive and no node holds a hint (or a
 * bound passes); (3) final reads at R = ALL of every key touched, recorded in `history.final`,
 * then a short drain so their read repairs land, and the hinted-handoff facts are recorded.
 * `node.invariants()` runs after every step; a thrown invariant ends the run as a failure.
 *
 * Failure detection is the nodes' own SWIM membership (its messages share the simulated network,
 * so partitions and loss hit it too); there is no stand-in detector any more.
 */
import { Node, type NodeRing, type Placement } from '../../src/core/node/node.js';
import { initialRing, keySlot, SLOT_COUNT, movedReplicas, type RingState } from '../../src/core/ring/index.js';
import type { RingChange } from '../../src/core/topology/types.js';
import { gainedSlots, ownsKey, stateVersion, type TopologyState } from '../../src/core/topology/view.js';
import type { Consistency, Effect, Input, KvOp, KvResult, PeerMessage, StorageOp, StoredHint } from '../../src/core/messages.js';
import { decodeHintEntry, type HintStats } from '../../src/core/handoff/index.js';
import { digestsEqual, recordDigest } from '../../src/core/antientropy/index.js';
import { deadSinceMs, type AntiEntropyNodeStats } from '../../src/core/node/anti-entropy-driver.js';
import { counterOf } from '../../src/core/versioning/index.js';
import { resolveQuorum } from '../../src/core/coordinator/quorum.js';
import { nodeId, requestId, type NodeId, type RequestId } from '../../src/core/types.js';
import { Digest } from './digest.js';
import { EventQueue } from './event-queue.js';
import { completeOp, invokeOp, newHistory, type AntiEntropyFacts, type PurgeFact, type HandoffFacts, type History, type HistoryOp, type TopologyFacts } from './history.js';
import { Prng } from './prng.js';

export interface SimOptions {
  seed: number;
  nodes: number;
  replicationFactor: number;
  /** Client operations issued during the fault phase. */
  ops: number;
  clients: number;
  mode: 'siblings' | 'lww';
  siblingsMax: number;
  /** false = a fault-free run (network delay and reordering only). */
  faults: boolean;
  placement: (members: readonly NodeId[], replicationFactor: number) => Placement;
  /** Lines of trace kept for a failure report; 0 = no trace (faster; rerun the seed to get one). */
  traceMax: number;
  /** Each node's bound on unanswered requests (small values exercise ERR_OVERLOADED). */
  inFlightMax: number;
  /** Sloppy quorum with hinted handoff; false = strict quorum (owners only, PW-like). */
  sloppy: boolean;
  /** Every client operation at R = W = QUORUM (else levels drawn from QUORUM_SETTINGS). */
  quorumOnly: boolean;
  /** Nodes route around suspect members (else only dead and left ones). */
  routeAroundSuspects: boolean;
  /** Merkle anti-entropy between replicas (the post-heal convergence check needs it). */
  antiEntropy: boolean;
  /**
   * A ring change during the fault phase (nodes then run in ring mode, placement from their
   * ring): 'join' adds node n(nodes+1) (a membership member outside the ring, which asks to
   * join itself), 'decommission' retires a live member, 'remove' drops a member crashed for good.
   * Absent or null = a fixed ring (placement option), as before.
   */
  topology?: TopologyScenario | null;
}

export type TopologyScenario = 'join' | 'decommission' | 'remove';

export type FaultKind =
  | 'partition_halves' | 'partition_isolate' | 'partition_bridge' | 'heal' | 'crash' | 'restart'
  | 'msg_drop' | 'msg_partitioned' | 'msg_duplicate' | 'msg_delay' | 'unsynced_write_lost' | 'clock_skew'
  /** A storage operation that reported failure (a write that failed did not land). */
  | 'disk_error'
  /** A live node's wall clock jumped forwards or backwards. */
  | 'clock_step'
  /** A record write that completed only after the request timeout (a stalled disk). */
  | 'disk_slow';

export interface SimResult {
  readonly seed: number;
  readonly digest: string;
  readonly effects: number;
  readonly history: History;
  readonly faults: Record<FaultKind, number>;
  readonly simulatedMs: number;
  /**
   * Failure detection as routing saw it: times a live node started routing around a member that
   * was crashed (true) or running (false: partitioned, slow or lossy link, or plain wrong),
   * and how many of the false ones were between nodes the network connected at that moment.
   */
  readonly routing: { downMarksCrashed: number; downMarksRunning: number; downMarksRunningConnected: number; nodeMs: number };
  readonly trace: string[];
  /** A thrown invariant or simulator error, with its message; null when the run completed. */
  readonly error: string | null;
}

const BASE_CLOCK_MS = 1_700_000_000_000;
const TICK_MS = 10;
const REQUEST_TIMEOUT_MS = 1000;
const CLIENT_TIMEOUT_MS = 4 * REQUEST_TIMEOUT_MS;
const SKEW_MAX_MS = 250;
/** Membership tuned to the simulator's short runs (5 probe periods per simulated second). */
const SIM_MEMBERSHIP = {
  probeIntervalMs: 200, probeTimeoutMs: 80, indirectProbes: 2, suspicionMult: 2, suspicionMaxMult: 4,
  joinRetryMs: 200, pushPullIntervalMs: 2000,
} as const;
/** Short enough that long partitions expire hints in some runs, so the expiry path is exercised. */
const SIM_HINTS = { hintWindowMs: 6000, hintReplayIntervalMs: 200, hintReplayBatchMax: 16, hintCountMax: 1000, hintBytesMax: 1 << 20 } as const;
/** After the heal, how long the run waits for membership to settle and hints to drain. */
const DRAIN_MAX_MS = 20_000;
/**
 * Anti-entropy tuned to the simulator's short runs: a session every second per node, small
 * budgets so the bounds are exercised (a few KB per tick, 64 transfers per tick).
 */
const SIM_ANTI_ENTROPY = {
  intervalMs: 1000, bucketsPerSlot: 4, scanPageMax: 16, transferTimeoutMs: 2000, sessionTimeoutMs: 2000,
  bytesPerTickMax: 8 * 1024, transfersPerTickMax: 64, sessionsMax: 2,
  // The shortest grace the node accepts (hint window + 2 request timeouts), so purges happen
  // within a run's 10-25 simulated seconds: deletes and expiries of the first seconds are purged.
  tombstoneGraceMs: SIM_HINTS.hintWindowMs + 2 * REQUEST_TIMEOUT_MS,
  // A request timeout plus the longest simulated message delay (308 ms) and then some.
  purgeSettleMs: 1500,
} as const;
/**
 * TTL writes (siblings mode): this share of blind puts carries an expiry this many ms ahead.
 * Drawn from their own PRNG stream, so the other draws of a seed are as they were. Not in lww
 * mode: there an expired latest write hides older ones like a delete, which the lww
 * read-your-writes checker does not model.
 */
const TTL_PUT_SHARE = 0.2;
const TTL_MIN_MS = 200;
const TTL_MAX_MS = 4000;
/**
 * The stated convergence bound: after the heal, every key's replicas hold equal records within
 * this much simulated time, without any client read of the key (the final reads come after).
 */
export const CONVERGENCE_BOUND_MS = 15_000;
/** After the final reads, time for their read repairs to land before the end-state checks. */
const REPAIR_DRAIN_MS = 1500;
const HOT_KEYS = 3;
const COLD_KEYS = 40;
const QUORUM_SETTINGS: readonly (readonly [Consistency, Consistency])[] = [
  ['quorum', 'quorum'], ['one', 'all'], ['all', 'one'], ['two', 'two'], ['one', 'one'], ['one', 'quorum'], ['quorum', 'one'],
];

type SimEvent =
  | { kind: 'deliver'; from: NodeId; to: NodeId; message: PeerMessage }
  | { kind: 'storage_done'; node: NodeId; incarnation: number; ioId: number; op: StorageOp }
  | { kind: 'tick'; node: NodeId; incarnation: number }
  | { kind: 'client_next'; client: number }
  | { kind: 'client_reply'; requestId: RequestId; result: KvResult }
  | { kind: 'client_timeout'; requestId: RequestId }
  | { kind: 'fault' }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'heal_all' }
  /** After the heal: final reads once membership settled and hints drained (or the bound passed). */
  | { kind: 'drain_check' }
  /** Topology scenario: crash the member a 'remove' drops (for good), and (re)issue the change. */
  | { kind: 'topology_victim' }
  | { kind: 'topology_start' }
  | { kind: 'final_reads' }
  /** The next (or a retried) final read; they run one at a time so they never overload a node. */
  | { kind: 'final_read'; key: string };

/** Durable map plus an overlay of writes not yet synced; a crash keeps each overlay entry or not. */
class SimDisk {
  readonly durable = new Map<string, Buffer>();
  readonly unsynced = new Map<string, Buffer>();
  /** The hint namespace, `${owner}|${key}`; hint writes are always synced. */
  readonly hints = new Map<string, StoredHint>();

  hintOp(op: StorageOp): void {
    if (op.kind === 'hint_put') this.hints.set(`${op.owner}|${op.key}`, { owner: op.owner, key: op.key, entry: op.entry });
    else if (op.kind === 'hint_delete') this.hints.delete(`${op.owner}|${op.key}`);
  }

  read(key: string): Buffer | null {
    return this.unsynced.get(key) ?? this.durable.get(key) ?? null;
  }

  keys(): Set<string> {
    return new Set([...this.durable.keys(), ...this.unsynced.keys()]);
  }

  /** One page of user records after `afterKey`, ascending (what the node's tree rebuild reads). */
  scan(afterKey: string | null, limit: number): { records: { key: string; record: Buffer }[]; done: boolean } {
    const keys = [...this.keys()].filter((k) => afterKey === null || k > afterKey).sort();
    const page = keys.slice(0, limit);
    return { records: page.map((key) => ({ key, record: this.read(key) as Buffer })), done: page.length === keys.length };
  }

  /** Compare-and-delete (tombstone purge): removes the key only while it still holds `record`; synced. */
  purge(key: string, record: Buffer): void {
    if (this.read(key)?.equals(record) !== true) return;
    this.durable.delete(key);
    this.unsynced.delete(key);
  }

  write(key: string, record: Buffer, sync: boolean): void {
    if (sync) {
      this.durable.set(key, record);
      this.unsynced.delete(key);
    } else {
      this.unsynced.set(key, record);
    }
  }

  /** Returns the keys whose unsynced writes were lost. */
  crash(rng: Prng): string[] {
    const lost: string[] = [];
    for (const [k, v] of this.unsynced) {
      if (rng.chance(0.5)) this.durable.set(k, v);
      else lost.push(k);
    }
    this.unsynced.clear();
    return lost;
  }
}

interface SimNode {
  readonly id: NodeId;
  node: Node | null;
  incarnation: number;
  skewMs: number;
  readonly disk: SimDisk;
  /** Storage effects issued by the current incarnation and not yet completed. */
  readonly pendingIo: Map<number, StorageOp>;
  /** Hint counters of finished incarnations. */
  readonly hintTotals: HintStats;
  /** The incarnation the last life asked to persist (membership's, if it refuted past ours). */
  lastIncarnationSeen: number;
  /** Anti-entropy counters of finished incarnations. */
  readonly aeTotals: AntiEntropyNodeStats;
  /** Ring mode: the rings this node persisted from its `ring_changed` effects. */
  ring: NodeRing;
  /** Crashed for good (the member a 'remove' drops): never restarted. */
  removed: boolean;
}

const storageKey = (op: StorageOp): string => (op.kind === 'hint_scan' ? '(hints)' : op.kind === 'scan' ? `(records after ${op.afterKey ?? '-'})`
  : op.kind === 'hint_put' || op.kind === 'hint_delete' ? `hint ${op.owner}/${op.key}` : op.key);

const emptyAeStats = (): AntiEntropyNodeStats => ({
  sessionsOpened: 0, sessionsSynced: 0, sessionsAborted: 0, protocolBytes: 0, transferMessageBytes: 0, purgeMessageBytes: 0, transferBytes: 0, usefulBytes: 0,
  pushes: 0, fetches: 0, rebuilds: 0, scanPages: 0, purges: 0, deadRefused: 0,
});

interface PendingRequest {
  readonly client: number;
  readonly op: HistoryOp | null;
  /** For final reads: the key, and where to store the answer. */
  readonly finalKey: string | null;
}

interface Client {
  readonly id: number;
  n: number;
  busy: boolean;
  /** The last successful read per key: its op id and context token. */
  readonly lastRead: Map<string, { opId: number; context: Buffer }>;
}

export function emptyFaultCounts(): Record<FaultKind, number> {
  return {
    partition_halves: 0, partition_isolate: 0, partition_bridge: 0, heal: 0, crash: 0, restart: 0,
    msg_drop: 0, msg_partitioned: 0, msg_duplicate: 0, msg_delay: 0, unsynced_write_lost: 0, clock_skew: 0, disk_error: 0, clock_step: 0, disk_slow: 0,
  };
}

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly rng: Prng;
  /** Draws for the slow-disk fault, apart from `rng` so adding it left every other draw as it was. */
  private readonly diskRng: Prng;
  /** Draws for TTL writes, apart from `rng` for the same reason. */
  private readonly ttlRng: Prng;
  /** Resurrection oracle: put value -> its key and dot (learnt from stored records). */
  private readonly valueDots = new Map<string, { key: string; node: string; counter: number }>();
  /** key -> put values a landed tombstone-GC purge of the key had superseded. */
  private readonly purgedValues = new Map<string, Set<string>>();
  private readonly purgeFacts: PurgeFact[] = [];
  private readonly resurrections: string[] = [];
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly ids: NodeId[];
  private readonly placement: Placement;
  private readonly history: History;
  private readonly digest = new Digest();
  private readonly faults = emptyFaultCounts();
  private readonly trace: string[] = [];
  private readonly clients: Client[] = [];
  private readonly pending = new Map<RequestId, PendingRequest>();
  private readonly touchedKeys = new Set<string>();
  /** `${holder}|${coordinator}|${opId}` -> the hinted write a holder received, until it acks. */
  private readonly hintsReceived = new Map<string, { owner: NodeId; key: string; record: Buffer }>();
  /** Hinted records acked to their coordinator: what the owner must hold in the end. */
  private readonly ackedHints: { holder: NodeId; owner: NodeId; key: string; record: Buffer }[] = [];
  /** `${holder}|${deliveryId}` -> the delivered record; `${owner}|${key}|${hex}` once the owner acked it. */
  private readonly deliveriesSeen = new Map<string, { owner: NodeId; key: string; record: Buffer }>();
  private readonly deliveriesAcked = new Set<string>();
  private readonly redeliveriesChangingData: string[] = [];
  private healMs: number | null = null;
  private hintsHeldAtHeal = false;
  private drainMs: number | null = null;
  private heldAfterDrain: string[] = [];
  /** Simulated ms from the heal until every key's replicas were equal; null = not (yet). */
  private convergedMs: number | null = null;
  private divergedAtBound: string[] = [];
  private treeMismatches: string[] = [];
  /** Anti-entropy counters at the heal, to tell post-heal traffic from the whole run's. */
  private aeAtHeal: AntiEntropyNodeStats | null = null;
  private endAtMs: number | null = null;
  private readonly routing = { downMarksCrashed: 0, downMarksRunning: 0, downMarksRunningConnected: 0, nodeMs: 0 };
  private finalKeys: string[] = [];
  /** `${receiver}|${sender}|${opId}` -> the record a replicate carried, until its ack is sent. */
  private readonly replicatesReceived = new Map<string, Buffer>();
  private readonly finalValues = new Map<string, string[]>();
  private readonly finalAttempts = new Map<string, number>();
  private nowMs = 0;
  private requestSeq = 0;
  private opsIssued = 0;
  private faultPhase = true;
  private finalPhase = false;
  /** side[i] = partition side of node i; null = fully connected. */
  private side: Map<NodeId, number> | null = null;
  private bridge: NodeId | null = null;
  private lossP = 0;
  private dupP = 0;
  /** Topology scenario state (null = a fixed ring). */
  private readonly topo: {
    readonly scenario: TopologyScenario;
    readonly initial: RingState;
    change: RingChange | null;
    startedAtMs: number | null;
    committedAtMs: number | null;
    /** The committed state, once a node committed (final owners come from it). */
    committed: TopologyState | null;
    pendingState: TopologyState | null;
    moved: Set<string>;
    outside: string[];
    transfers: number;
    bytes: number;
    idealMovedKeys: number;
    expectedMovedKeys: number;
    purges: number;
    /** Put values whose only durable copy was on the member crashed for good ('remove'). */
    onlyOnRemoved: Set<string>;
  } | null;

  constructor(private readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.diskRng = new Prng((opts.seed ^ 0x5d15c) >>> 0);
    this.ttlRng = new Prng((opts.seed ^ 0x7e1e7) >>> 0);
    const topology = opts.topology ?? null;
    this.ids = Array.from({ length: opts.nodes + (topology === 'join' ? 1 : 0) }, (_, i) => nodeId(`n${i + 1}`));
    const ringIds = this.ids.slice(0, opts.nodes);
    this.placement = opts.placement(ringIds, opts.replicationFactor);
    this.topo = topology === null ? null : {
      scenario: topology, initial: simInitialRing(ringIds, opts.replicationFactor), change: null, startedAtMs: null, committedAtMs: null,
      committed: null, pendingState: null, moved: new Set(), outside: [], transfers: 0, bytes: 0, idealMovedKeys: 0, expectedMovedKeys: 0,
      purges: 0, onlyOnRemoved: new Set(),
    };
    this.history = newHistory({
      seed: opts.seed, nodes: opts.nodes, replicationFactor: opts.replicationFactor, mode: opts.mode, siblingsMax: opts.siblingsMax,
      sloppy: opts.sloppy, clockSkewMaxMs: SKEW_MAX_MS,
    });
    if (opts.faults) {
      this.lossP = this.rng.next() * 0.05;
      this.dupP = this.rng.next() * 0.05;
    }
  }

  run(): SimResult {
    let error: string | null = null;
    try {
      for (const id of this.ids) {
        const skewMs = this.opts.faults ? this.rng.between(-SKEW_MAX_MS, SKEW_MAX_MS) : 0;
        if (skewMs !== 0) this.faults.clock_skew++;
        const inRing = this.topo === null || this.topo.initial.members.some((m) => m.id === id);
        const sn: SimNode = {
          id, node: null, incarnation: 0, lastIncarnationSeen: 0, skewMs, disk: new SimDisk(), pendingIo: new Map(),
          hintTotals: { written: 0, delivered: 0, expired: 0, refused: 0, deliveriesSent: 0, reloaded: 0 }, aeTotals: emptyAeStats(),
          ring: { current: inRing && this.topo !== null ? this.topo.initial : null, pending: null }, removed: false,
        };
        this.nodes.set(id, sn);
        this.start(sn);
      }
      for (let c = 0; c < this.opts.clients; c++) {
        this.clients.push({ id: c, n: 0, busy: false, lastRead: new Map() });
        this.queue.push(this.rng.between(0, 20), { kind: 'client_next', client: c });
      }
      if (this.opts.faults) this.queue.push(this.rng.between(50, 300), { kind: 'fault' });
      if (this.topo !== null) {
        if (this.topo.scenario === 'remove') this.queue.push(this.rng.between(200, 800), { kind: 'topology_victim' });
        else this.queue.push(this.rng.between(500, 1500), { kind: 'topology_start' });
      }
      let steps = 0;
      for (;;) {
        const item = this.queue.pop();
        if (item === undefined) break;
        if (item.atMs < this.nowMs) throw new Error('event queue went back in time');
        this.nowMs = item.atMs;
        this.handle(item.event);
        if (++steps > 5_000_000) throw new Error('simulation did not terminate');
        if (this.finalPhase && this.finalValues.size === this.touchedKeys.size && this.pending.size === 0) {
          this.endAtMs ??= this.nowMs + REPAIR_DRAIN_MS;
          if (this.nowMs >= this.endAtMs) break;
        }
      }
      if (this.finalValues.size !== this.touchedKeys.size) throw new Error('final reads did not complete');
      for (const key of [...this.touchedKeys].sort()) {
        this.history.final.push({ key, values: this.finalValues.get(key) ?? [], siblingCount: this.siblingCount(key) });
      }
      if (this.opts.sloppy) this.history.handoff = this.handoffFacts();
      if (this.opts.antiEntropy) this.history.antiEntropy = this.antiEntropyFacts();
      if (this.topo !== null) this.history.topology = this.topologyFacts();
    } catch (e) {
      error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    }
    return {
      seed: this.opts.seed, digest: this.digest.hex(), effects: this.digest.effects, history: this.history,
      faults: this.faults, simulatedMs: this.nowMs, routing: { ...this.routing, nodeMs: this.nowMs * this.opts.nodes }, trace: this.trace.slice(-this.opts.traceMax), error,
    };
  }

  // -------------------------------------------------------------------------------------------

  /** Trace lines cost a quarter of a run's time, so they are built only when asked for. */
  private get tracing(): boolean {
    return this.opts.traceMax > 0;
  }

  private log(line: string): void {
    this.trace.push(`${String(this.nowMs).padStart(7)} ${line}`);
    // Trim in chunks: keeps the append O(1) amortised.
    if (this.trace.length > 2 * this.opts.traceMax) this.trace.splice(0, this.trace.length - this.opts.traceMax);
  }

  private start(sn: SimNode): void {
    // The host persists the incarnation membership reached (refutations raise it) and starts
    // the next life above it.
    sn.incarnation = Math.max(sn.incarnation, sn.lastIncarnationSeen) + 1;
    sn.pendingIo.clear();
    sn.node = new Node({
      id: sn.id, incarnation: sn.incarnation, placement: this.placement, mode: this.opts.mode, siblingsMax: this.opts.siblingsMax,
      requestTimeoutMs: REQUEST_TIMEOUT_MS, inFlightMax: this.opts.inFlightMax, keyQueueMax: 1024, forwardDedupMax: 1024,
      replicaSync: true, repairSync: false, startMs: this.clockOf(sn), strict: !this.opts.sloppy, routeAroundSuspects: this.opts.routeAroundSuspects, ...SIM_HINTS,
      membership: { ...SIM_MEMBERSHIP, members: this.ids, seeds: this.ids }, random: this.rng.fork(),
      antiEntropy: this.opts.antiEntropy ? SIM_ANTI_ENTROPY : null,
      ...(this.topo === null ? {} : { ring: sn.ring, topology: SIM_TOPOLOGY }),
    });
    // The constructor emitted effects (the hint reload scan, membership's first messages).
    for (const e of sn.node.takeEffects()) this.execute(sn, e);
    this.queue.push(this.nowMs + this.rng.between(0, TICK_MS - 1), { kind: 'tick', node: sn.id, incarnation: sn.incarnation });
  }

  /** Adds a finishing incarnation's anti-entropy counters to the node's totals. */
  private foldAeStats(sn: SimNode): void {
    const s = sn.node?.antiEntropyStats;
    if (s === undefined || s === null) return;
    const t = sn.aeTotals;
    for (const k of Object.keys(t) as (keyof AntiEntropyNodeStats)[]) t[k] += s[k];
  }

  /** The whole cluster's anti-entropy counters so far (finished incarnations plus live ones). */
  private aeSum(): AntiEntropyNodeStats {
    const sum = emptyAeStats();
    for (const sn of this.nodes.values()) {
      const live = sn.node?.antiEntropyStats ?? null;
      for (const k of Object.keys(sum) as (keyof AntiEntropyNodeStats)[]) sum[k] += sn.aeTotals[k] + (live === null ? 0 : live[k]);
    }
    return sum;
  }

  /**
   * Keys whose replicas (the preference list) hold different records, over every key any disk
   * holds — not only keys clients touched or read. Also checks that every live replica's Merkle
   * tree holds the digest of what its storage holds (the tree follows storage).
   */
  private divergedKeys(): string[] {
    const keys = new Set<string>();
    for (const sn of this.nodes.values()) for (const k of sn.disk.keys()) keys.add(k);
    const out: string[] = [];
    for (const key of [...keys].sort()) {
      const owners = this.ownersOf(key);
      // A dead record past its grace and no record are the same state: a replica holding nothing
      // for a key refuses such a record (anti-entropy-driver.ts), and replicas purge at different times.
      const recs = owners.map((o) => this.deadPastGrace(this.mustNode(o).disk.read(key)));
      const first = recs[0] ?? null;
      if (recs.some((r) => (r === null || first === null ? r !== first : !r.equals(first)))) out.push(`${key} on ${owners.join(',')}`);
    }
    return out;
  }

  /**
   * A hinted record its owner no longer holds because tombstone GC took it: the owner holds
   * nothing (or a dead record past its grace) and every version in the hinted record is dead
   * (tombstone, expiring) or was superseded by a purged tombstone.
   */
  private goneByPurge(key: string, held: ReturnType<Node['versions']['decode']>, record: Buffer): boolean {
    if (held.siblings.some((x) => x.value !== null && x.expiresAtMs === 0)) return false;
    const gone = this.purgedValues.get(key);
    if (gone === undefined) return false;
    return this.anyVersions().decode(record).siblings.every((x) => x.value === null || x.expiresAtMs !== 0 || gone.has(x.value.toString()));
  }

  private deadPastGrace(bytes: Buffer | null): Buffer | null {
    if (bytes === null) return null;
    const since = deadSinceMs(bytes);
    // Past the grace by some node's clock (each decides by its own, within the skew bound).
    return since !== null && since + SIM_ANTI_ENTROPY.tombstoneGraceMs <= BASE_CLOCK_MS + this.nowMs + SKEW_MAX_MS ? null : bytes;
  }

  /** Resurrection oracle, on every record write: learn values' dots; a purged-superseded value stored again is a resurrection. */
  private noteStored(sn: SimNode, key: string, record: Buffer): void {
    if (!this.opts.antiEntropy) return;
    const gone = this.purgedValues.get(key);
    for (const sib of this.anyVersions().decode(record).siblings) {
      if (sib.value === null) continue;
      const v = sib.value.toString();
      if (!this.valueDots.has(v)) this.valueDots.set(v, { key, node: sib.dot.node, counter: sib.dot.counter });
      if (gone?.has(v) === true) this.resurrections.push(`${sn.id} stored ${key}=${v} at ${this.nowMs} after a purge of a record that had superseded it`);
    }
  }

  /** A tombstone-GC purge landed (a dead record of a key the node owns): what it had superseded must never return. */
  private notePurged(sn: SimNode, key: string, record: Buffer): void {
    if (!this.opts.antiEntropy || deadSinceMs(record) === null || !this.ownersOf(key).includes(sn.id)) return;
    const rec = this.anyVersions().decode(record);
    const present = new Set(rec.siblings.filter((x) => x.value !== null).map((x) => x.value!.toString()));
    const superseded: string[] = [];
    for (const [v, d] of this.valueDots) {
      if (d.key === key && !present.has(v) && counterOf(rec.context, d.node as NodeId) >= d.counter) superseded.push(v);
    }
    superseded.sort();
    this.purgeFacts.push({ key, node: sn.id, atMs: this.nowMs, superseded });
    const set = this.purgedValues.get(key) ?? new Set<string>();
    for (const v of superseded) set.add(v);
    this.purgedValues.set(key, set);
    if (this.tracing) this.log(`${sn.id} purged dead ${key} (superseded ${superseded.join(' ') || '-'})`);
  }

  private checkTrees(): string[] {
    const out: string[] = [];
    for (const sn of this.nodes.values()) {
      const ae = sn.node?.antiEntropy ?? null;
      if (ae === null || ae.rebuilding) continue;
      // Keys with storage IO in flight are between two states (a purge whose follow-up read has
      // not told the tree yet): judged at the next convergence check, not now.
      const busy = new Set<string>();
      for (const op of sn.pendingIo.values()) if (op.kind === 'write' || op.kind === 'read' || op.kind === 'purge') busy.add(op.key);
      let treeBusy = 0;
      let diskBusy = 0;
      for (const k of busy) {
        if (ae.tree.get(k) !== undefined) treeBusy++;
        if (sn.disk.read(k) !== null) diskBusy++;
      }
      for (const key of sn.disk.keys()) {
        if (busy.has(key)) continue;
        const bytes = sn.disk.read(key);
        const d = ae.tree.get(key);
        if (bytes === null || d === undefined || !digestsEqual(d, recordDigest(bytes))) out.push(`${sn.id} tree disagrees with storage on ${key}`);
      }
      if (ae.tree.size - treeBusy !== sn.disk.keys().size - diskBusy) out.push(`${sn.id} tree holds ${ae.tree.size} keys, storage ${sn.disk.keys().size} (${busy.size} with IO in flight)`);
    }
    return out;
  }

  private antiEntropyFacts(): AntiEntropyFacts {
    const total = this.aeSum();
    const atHeal = this.aeAtHeal ?? emptyAeStats();
    const afterHeal = emptyAeStats();
    for (const k of Object.keys(afterHeal) as (keyof AntiEntropyNodeStats)[]) afterHeal[k] = total[k] - atHeal[k];
    return {
      boundMs: CONVERGENCE_BOUND_MS, convergedMs: this.convergedMs, divergedAtBound: this.divergedAtBound, treeMismatches: this.treeMismatches,
      total, afterHeal, tombstoneGraceMs: SIM_ANTI_ENTROPY.tombstoneGraceMs, purges: this.purgeFacts, resurrections: this.resurrections,
    };
  }

  /** Adds a finishing incarnation's hint counters to the node's totals. */
  private foldHintStats(sn: SimNode): void {
    const s = sn.node?.hintStats;
    if (s === undefined) return;
    const t = sn.hintTotals;
    t.written += s.written; t.delivered += s.delivered; t.expired += s.expired; t.refused += s.refused;
    t.deliveriesSent += s.deliveriesSent; t.reloaded += s.reloaded;
  }

  private hintsHeld(): string[] {
    const out: string[] = [];
    for (const sn of this.nodes.values()) {
      if (sn.removed) continue; // a member removed as dead: its disk is gone with it
      const held = sn.node?.hintStats.held ?? 0;
      if (held > 0 || sn.disk.hints.size > 0) out.push(`${sn.id} holds ${held} hints in memory, ${sn.disk.hints.size} on disk`);
    }
    return out;
  }

  private handoffFacts(): HandoffFacts {
    const totals = { written: 0, delivered: 0, expired: 0, refused: 0 };
    for (const sn of this.nodes.values()) {
      this.foldHintStats(sn);
      totals.written += sn.hintTotals.written; totals.delivered += sn.hintTotals.delivered;
      totals.expired += sn.hintTotals.expired; totals.refused += sn.hintTotals.refused;
    }
    const v = this.anyVersions();
    const missingAtOwner: string[] = [];
    const hintedKeys = new Set<string>();
    for (const h of this.ackedHints) {
      hintedKeys.add(h.key);
      // An owner the ring no longer has for the key (it left, or was removed) handed its data
      // to the new owners: the hinted record must then be in their merge.
      const owners = this.ownersOf(h.key);
      const from = owners.includes(h.owner) ? [h.owner] : owners;
      let held = v.empty();
      for (const o of from) {
        const bytes = this.mustNode(o).disk.read(h.key);
        if (bytes !== null) held = v.merge(held, v.decode(bytes));
      }
      if (!v.equal(v.merge(held, v.decode(h.record)), held) && !this.goneByPurge(h.key, held, h.record)) missingAtOwner.push(`${h.holder}'s hint for ${h.owner} on ${h.key}`);
    }
    const hintedKeysDiverged: string[] = [];
    for (const key of [...hintedKeys].sort()) {
      const recs = this.ownersOf(key).map((o) => {
        const b = this.deadPastGrace(this.mustNode(o).disk.read(key));
        return b === null ? v.empty() : v.decode(b);
      });
      const first = recs[0];
      if (first !== undefined && recs.some((r) => !v.equal(r, first))) hintedKeysDiverged.push(`${key} on ${this.ownersOf(key).join(',')}`);
    }
    return {
      ...totals, acked: this.ackedHints.length, drainMs: this.drainMs, heldAfterDrain: this.heldAfterDrain, missingAtOwner,
      redeliveriesChangingData: this.redeliveriesChangingData, hintedKeysDiverged, hintedKeys: hintedKeys.size,
    };
  }

  private anyVersions(): Node['versions'] {
    for (const sn of this.nodes.values()) if (sn.node !== null) return sn.node.versions;
    throw new Error('no live node');
  }

  /**
   * Hint oracles, on every message a node sends or receives: a hinted write's ack is recorded
   * (the owner must hold it in the end), and a hint the owner already acked that is delivered
   * again must not change the owner's durable record (merges are idempotent).
   */
  private noteHintSend(sn: SimNode, to: NodeId, m: PeerMessage): void {
    if (m.kind === 'replicate_ack') {
      const k = `${sn.id}|${to}|${m.opId}`;
      const h = this.hintsReceived.get(k);
      if (h === undefined) return;
      this.hintsReceived.delete(k);
      this.ackedHints.push({ holder: sn.id, ...h });
      // Durability oracle for hints: the ack means the record survives a crash of the holder —
      // in its hint storage, or (when the hint was delivered meanwhile) on the owner's disk.
      const v = this.anyVersions();
      const contains = (bytes: Buffer | undefined): boolean => {
        if (bytes === undefined) return false;
        const held = v.decode(bytes);
        return v.equal(v.merge(held, v.decode(h.record)), held);
      };
      const entry = sn.disk.hints.get(`${h.owner}|${h.key}`)?.entry;
      if (!contains(entry === undefined ? undefined : decodeHintEntry(entry).record) && !contains(this.mustNode(h.owner).disk.durable.get(h.key))) {
        throw new Error(`durability: ${sn.id} acked a hint for ${h.owner} on ${h.key} (${m.opId}) that is durable neither as a hint nor on the owner`);
      }
    } else if (m.kind === 'hint_deliver') {
      this.deliveriesSeen.set(`${sn.id}|${m.deliveryId}`, { owner: to, key: m.key, record: m.record });
    } else if (m.kind === 'hint_ack') {
      const d = this.deliveriesSeen.get(`${to}|${m.deliveryId}`);
      if (d !== undefined) this.deliveriesAcked.add(`${d.owner}|${d.key}|${d.record.toString('hex')}`);
    }
  }

  private noteHintDeliver(sn: SimNode, from: NodeId, m: PeerMessage): void {
    if (m.kind === 'replicate_hint') {
      this.hintsReceived.set(`${sn.id}|${from}|${m.opId}`, { owner: m.owner, key: m.key, record: m.record });
    } else if (m.kind === 'hint_deliver' && sn.node !== null && this.deliveriesAcked.has(`${sn.id}|${m.key}|${m.record.toString('hex')}`)
      // An owner that lost the key's slot to a ring change handed its record off and purged it:
      // a late redelivery re-creates a stray copy there (handed off again), not a changed owner.
      && (sn.node.topologyState === null || ownsKey(sn.node.topologyState, sn.id, m.key))) {
      const v = sn.node.versions;
      const durable = sn.disk.durable.get(m.key);
      const held = durable === undefined ? v.empty() : v.decode(durable);
      if (!v.equal(v.merge(held, v.decode(m.record)), held)) {
        this.redeliveriesChangingData.push(`${from} -> ${sn.id} ${m.key} (${m.deliveryId})`);
      }
    }
  }

  private clockOf(sn: SimNode): number {
    return BASE_CLOCK_MS + this.nowMs + sn.skewMs;
  }

  private step(sn: SimNode, input: Input): void {
    const node = sn.node;
    if (node === null) throw new Error(`step on crashed node ${sn.id}`);
    node.step(input);
    node.invariants();
    for (const id of node.takeDownMarks()) {
      if (this.mustNode(id).node === null) {
        this.routing.downMarksCrashed++;
      } else {
        this.routing.downMarksRunning++;
        if (this.connected(sn.id, id)) this.routing.downMarksRunningConnected++;
      }
    }
    for (const e of node.takeEffects()) this.execute(sn, e);
  }

  private execute(sn: SimNode, e: Effect): void {
    this.digest.effect(sn.id, e);
    switch (e.kind) {
      case 'send':
        if (this.tracing) this.log(`${sn.id} -> ${e.to} ${e.message.kind} ${'opId' in e.message ? e.message.opId : ''} ${'key' in e.message ? e.message.key : ''}`);
        this.checkDurableBeforeClaim(sn, e.to, e.message);
        this.noteHintSend(sn, e.to, e.message);
        this.send(sn.id, e.to, e.message);
        return;
      case 'storage': {
        sn.pendingIo.set(e.ioId, e.op);
        if (e.op.kind === 'purge' && this.topo !== null) this.topo.purges++;
        if (this.tracing && e.op.kind === 'write') this.log(`${sn.id} store ${e.op.key} ${e.op.sync ? 'sync' : 'unsynced'}`);
        if (this.tracing && e.op.kind !== 'write' && e.op.kind !== 'read') this.log(`${sn.id} ${e.op.kind} ${storageKey(e.op)}`);
        let lat = this.rng.chance(0.03) ? this.rng.between(5, 40) : this.rng.between(0, 2);
        // A stalled disk: a record write completes after the request deadline, so a coordinator
        // times out with its local store issued but not done (it must answer MAYBE_APPLIED).
        if (this.opts.faults && this.faultPhase && e.op.kind === 'write' && this.diskRng.chance(0.002)) {
          this.faults.disk_slow++;
          lat += REQUEST_TIMEOUT_MS + this.diskRng.between(1, 500);
          if (this.tracing) this.log(`${sn.id} slow disk on write ${e.op.key} (${lat} ms)`);
        }
        this.queue.push(this.nowMs + lat, { kind: 'storage_done', node: sn.id, incarnation: sn.incarnation, ioId: e.ioId, op: e.op });
        return;
      }
      case 'reply':
        if (this.tracing) this.log(`${sn.id} reply #${e.requestId} ${e.result.kind === 'error' ? e.result.code : e.result.kind}`);
        this.queue.push(this.nowMs + 1, { kind: 'client_reply', requestId: e.requestId, result: e.result });
        return;
      case 'ring_changed':
        // The host persists the rings at once (a restart resumes with them).
        if (this.tracing) this.log(`${sn.id} ring epoch ${e.current.epoch}${e.pending === null ? '' : ` -> ${e.pending.epoch}`}`);
        sn.ring = { current: e.current, pending: e.pending, change: e.change ?? null, origin: e.origin ?? null, ...(e.id !== undefined ? { id: e.id } : {}) };
        this.noteRingChanged(sn);
        return;
      default: {
        const never: never = e;
        throw new TypeError(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Durability oracle. A coordinating replica sends `replicate` only after its own synced store,
   * and a replica's `replicate_ack` means "durably stored": at both moments the node's DURABLE
   * disk (unsynced writes excluded) must already hold the record, i.e. merging it in changes
   * nothing. This catches an ack built on an unsynced write directly, without waiting for a crash
   * and an unlucky read to expose it (how seed 9077 found it).
   */
  private checkDurableBeforeClaim(sn: SimNode, to: NodeId, m: PeerMessage): void {
    if (m.kind !== 'replicate' && m.kind !== 'replicate_ack') return;
    let record: Buffer | undefined = m.kind === 'replicate' ? m.record : undefined;
    if (m.kind === 'replicate_ack') {
      const k = `${sn.id}|${to}|${m.opId}`;
      record = this.replicatesReceived.get(k);
      this.replicatesReceived.delete(k);
    }
    const node = sn.node;
    if (record === undefined || node === null) return;
    const durable = sn.disk.durable.get(m.key);
    const v = node.versions;
    const held = durable === undefined ? v.empty() : v.decode(durable);
    if (!v.equal(v.merge(held, v.decode(record)), held)) {
      throw new Error(`durability: ${sn.id} sent ${m.kind} ${m.opId} for ${m.key} before the record was durably stored`);
    }
  }

  private connected(a: NodeId, b: NodeId): boolean {
    if (this.side === null || a === this.bridge || b === this.bridge) return true;
    return this.side.get(a) === this.side.get(b);
  }

  private send(from: NodeId, to: NodeId, message: PeerMessage): void {
    if (!this.connected(from, to)) {
      this.faults.msg_partitioned++;
      return;
    }
    if (this.rng.chance(this.lossP)) {
      this.faults.msg_drop++;
      return;
    }
    const copies = this.rng.chance(this.dupP) ? 2 : 1;
    if (copies === 2) this.faults.msg_duplicate++;
    for (let i = 0; i < copies; i++) {
      let delay = this.rng.between(1, 8);
      if (this.opts.faults && this.rng.chance(0.04)) {
        delay += this.rng.between(20, 300);
        this.faults.msg_delay++;
      }
      this.queue.push(this.nowMs + delay, { kind: 'deliver', from, to, message });
    }
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'deliver': {
        const sn = this.mustNode(ev.to);
        if (sn.node === null) return;
        if (!this.connected(ev.from, ev.to)) {
          this.faults.msg_partitioned++;
          return;
        }
        if (ev.message.kind === 'replicate') this.replicatesReceived.set(`${ev.to}|${ev.from}|${ev.message.opId}`, ev.message.record);
        this.noteHintDeliver(sn, ev.from, ev.message);
        if (ev.message.kind === 'topology') this.noteStreamed(sn, ev.message);
        this.step(sn, { kind: 'peer_message', from: ev.from, message: ev.message });
        return;
      }
      case 'storage_done': {
        const sn = this.mustNode(ev.node);
        if (sn.node === null || sn.incarnation !== ev.incarnation) return;
        sn.pendingIo.delete(ev.ioId);
        // Disk errors are a fault like the others: they stop with the heal, so the end-state
        // checks (convergence of hinted keys after read repair) judge a fault-free drain.
        if (this.opts.faults && this.faultPhase && this.rng.chance(0.002)) {
          this.faults.disk_error++;
          if (this.tracing) this.log(`${sn.id} disk error on ${ev.op.kind} ${storageKey(ev.op)}`);
          this.step(sn, { kind: 'storage_done', ioId: ev.ioId, result: { kind: 'failed', message: 'simulated disk error' } });
        } else {
          switch (ev.op.kind) {
            case 'write':
              sn.disk.write(ev.op.key, ev.op.record, ev.op.sync);
              this.noteStored(sn, ev.op.key, ev.op.record);
              this.step(sn, { kind: 'storage_done', ioId: ev.ioId, result: { kind: 'written' } });
              break;
            case 'read':
              this.step(sn, { kind: 'storage_done', ioId: ev.ioId, result: { kind: 'read', record: sn.disk.read(ev.op.key) } });
              break;
            case 'hint_put':
            case 'hint_delete':
              sn.disk.hintOp(ev.op);
              this.step(sn, { kind: 'storage_done', ioId: ev.ioId, result: { kind: 'written' } });
              break;
            case 'hint_scan':
              this.step(sn, { kind: 'storage_done', ioId: ev.ioId, result: { kind: 'hints', hints: [...sn.disk.hints.values()] } });
              break;
            case 'scan':
              this.step(sn, { kind: 'storage_done', ioId: ev.ioId, result: { kind: 'records', ...sn.disk.scan(ev.op.afterKey, ev.op.limit) } });
              break;
            case 'purge': {
              const deletes = sn.disk.read(ev.op.key)?.equals(ev.op.record) === true;
              sn.disk.purge(ev.op.key, ev.op.record);
              if (deletes) this.notePurged(sn, ev.op.key, ev.op.record);
              this.step(sn, { kind: 'storage_done', ioId: ev.ioId, result: { kind: 'written' } });
              break;
            }
            default: {
              const never: never = ev.op;
              throw new TypeError(`unknown storage op ${JSON.stringify(never)}`);
            }
          }
        }
        return;
      }
      case 'tick': {
        const sn = this.mustNode(ev.node);
        if (sn.node === null || sn.incarnation !== ev.incarnation) return;
        this.step(sn, { kind: 'tick', nowMs: this.clockOf(sn) });
        this.queue.push(this.nowMs + TICK_MS, ev);
        return;
      }
      case 'client_next':
        this.clientNext(this.clients[ev.client] as Client);
        return;
      case 'client_reply':
        this.clientReply(ev.requestId, ev.result);
        return;
      case 'client_timeout': {
        const p = this.pending.get(ev.requestId);
        if (p === undefined) return;
        this.pending.delete(ev.requestId);
        if (p.finalKey !== null) return this.queue.push(this.nowMs + 50, { kind: 'final_read', key: p.finalKey });
        if (p.op === null) return;
        completeOp(p.op, this.nowMs, { outcome: p.op.kind === 'get' ? 'fail' : 'unknown', errorCode: 'CLIENT_TIMEOUT' });
        this.clientDone(this.clients[p.client] as Client);
        return;
      }
      case 'fault':
        if (!this.faultPhase) return;
        this.injectFault();
        this.queue.push(this.nowMs + this.rng.between(100, 500), { kind: 'fault' });
        return;
      case 'restart': {
        const sn = this.mustNode(ev.node);
        if (sn.node !== null || sn.removed) return;
        this.faults.restart++;
        sn.skewMs = this.opts.faults ? this.rng.between(-SKEW_MAX_MS, SKEW_MAX_MS) : 0;
        if (this.tracing) this.log(`restart ${sn.id} (skew ${sn.skewMs} ms)`);
        this.start(sn);
        return;
      }
      case 'heal_all':
        if (this.tracing) this.log('heal all: end partitions and loss, restart crashed nodes');
        this.side = null;
        this.bridge = null;
        this.lossP = 0;
        for (const sn of this.nodes.values()) if (sn.node === null && !sn.removed) this.handle({ kind: 'restart', node: sn.id });
        this.healMs = this.nowMs;
        this.hintsHeldAtHeal = this.hintsHeld().length > 0;
        if (this.opts.antiEntropy) this.aeAtHeal = this.aeSum();
        return;
      case 'drain_check': {
        const settled = [...this.nodes.values()].every((sn) => sn.removed
          || (sn.node !== null && sn.node.downMembers.every((d) => this.mustNode(d).removed)))
          && this.topologySettled();
        const held = this.hintsHeld();
        const healMs = this.healMs ?? this.nowMs;
        // Anti-entropy convergence is judged here, BEFORE the final reads (whose read repair
        // would otherwise do anti-entropy's job for the keys they read).
        let converged = true;
        if (this.opts.antiEntropy && this.convergedMs === null) {
          const diverged = this.divergedKeys();
          converged = diverged.length === 0;
          if (converged) {
            this.convergedMs = this.nowMs - healMs;
            this.treeMismatches = this.checkTrees();
          } else if (this.nowMs - healMs >= CONVERGENCE_BOUND_MS) {
            this.divergedAtBound = diverged;
            converged = true; // stop waiting: the checker reports the divergence
          }
        }
        // The hint figure is the time to the first moment no hint is held, whatever else waits.
        if (settled && held.length === 0 && this.hintsHeldAtHeal && this.drainMs === null) this.drainMs = this.nowMs - healMs;
        if (settled && held.length === 0 && converged) {
          // everything drained: go on to the final reads
        } else if (this.nowMs - healMs < DRAIN_MAX_MS) {
          this.queue.push(this.nowMs + 50, { kind: 'drain_check' });
          return;
        }
        this.heldAfterDrain = held;
        if (this.tracing) this.log(`drain ${settled ? 'settled' : 'NOT settled'}, ${held.length === 0 ? 'no hints held' : held.join('; ')}`);
        this.queue.push(Math.max(this.nowMs, healMs + 3 * REQUEST_TIMEOUT_MS), { kind: 'final_reads' });
        return;
      }
      case 'final_reads':
        this.finalPhase = true;
        this.finalKeys = [...this.touchedKeys].sort();
        this.nextFinalRead();
        return;
      case 'final_read':
        this.finalRead(ev.key);
        return;
      case 'topology_victim': {
        // A member crashes for good: the 'remove' scenario drops it from the ring.
        const topo = this.topo;
        if (topo === null) return;
        const up = topo.initial.members.map((m) => this.mustNode(m.id)).filter((sn) => sn.node !== null);
        if (up.length === 0) return this.queue.push(this.nowMs + 100, { kind: 'topology_victim' });
        const victim = this.rng.pick(up);
        this.crash(victim);
        victim.removed = true;
        this.noteOnlyOnVictim(victim);
        if (this.tracing) this.log(`${victim.id} crashed for good (to be removed)`);
        this.queue.push(this.nowMs + this.rng.between(500, 1500), { kind: 'topology_start' });
        return;
      }
      case 'topology_start':
        this.topologyStart();
        return;
      default: {
        const never: never = ev;
        throw new TypeError(`unknown event ${JSON.stringify(never)}`);
      }
    }
  }

  private mustNode(id: NodeId): SimNode {
    const sn = this.nodes.get(id);
    if (sn === undefined) throw new Error(`unknown node ${id}`);
    return sn;
  }

  // -------------------------------------------------------------------------------------------
  // Faults
  // -------------------------------------------------------------------------------------------

  private injectFault(): void {
    const up = [...this.nodes.values()].filter((s) => s.node !== null);
    const roll = this.rng.int(100);
    if (roll < 15) {
      const sides = new Map<NodeId, number>();
      for (const id of this.ids) sides.set(id, this.rng.int(2));
      this.side = sides;
      this.bridge = null;
      this.faults.partition_halves++;
      if (this.tracing) this.log(`partition halves ${this.ids.map((i) => `${i}:${sides.get(i)}`).join(' ')}`);
    } else if (roll < 27) {
      const lone = this.rng.pick(this.ids);
      this.side = new Map(this.ids.map((i) => [i, i === lone ? 1 : 0]));
      this.bridge = null;
      this.faults.partition_isolate++;
      if (this.tracing) this.log(`partition isolate ${lone}`);
    } else if (roll < 37) {
      const sides = new Map<NodeId, number>();
      for (const id of this.ids) sides.set(id, this.rng.int(2));
      this.side = sides;
      this.bridge = this.rng.pick(this.ids);
      this.faults.partition_bridge++;
      if (this.tracing) this.log(`partition bridge via ${this.bridge}`);
    } else if (roll < 60) {
      if (this.side !== null) this.faults.heal++;
      this.side = null;
      this.bridge = null;
      if (this.tracing) this.log('heal partitions');
    } else if (roll < 85) {
      const crashed = this.nodes.size - up.length;
      if (up.length === 0 || crashed >= Math.max(1, Math.floor((this.nodes.size - 1) / 2))) return;
      const sn = this.rng.pick(up);
      this.crash(sn);
      this.queue.push(this.nowMs + this.rng.between(100, 1500), { kind: 'restart', node: sn.id });
    } else if (roll < 93) {
      // A burst of loss and duplication for a while (reset by the next heal of everything).
      this.lossP = this.rng.next() * 0.2;
      this.dupP = this.rng.next() * 0.1;
      if (this.tracing) this.log(`network loss ${this.lossP.toFixed(3)} duplication ${this.dupP.toFixed(3)}`);
    } else {
      // A live node's wall clock steps (NTP), forwards or backwards, by up to the skew bound.
      if (up.length === 0) return;
      const sn = this.rng.pick(up);
      sn.skewMs = this.rng.between(-SKEW_MAX_MS, SKEW_MAX_MS);
      this.faults.clock_step++;
      if (this.tracing) this.log(`clock step ${sn.id} to skew ${sn.skewMs} ms`);
    }
  }

  private crash(sn: SimNode): void {
    this.faults.crash++;
    this.foldHintStats(sn);
    this.foldAeStats(sn);
    sn.lastIncarnationSeen = sn.node?.incarnationToPersist ?? sn.incarnation;
    // Sync writes in flight may or may not have reached the disk; reads in flight just vanish.
    for (const op of sn.pendingIo.values()) {
      if (op.kind === 'write' && op.sync && this.rng.chance(0.5)) sn.disk.write(op.key, op.record, true);
      if ((op.kind === 'hint_put' || op.kind === 'hint_delete') && this.rng.chance(0.5)) sn.disk.hintOp(op);
    }
    sn.pendingIo.clear();
    const lost = sn.disk.crash(this.rng);
    this.faults.unsynced_write_lost += lost.length;
    sn.node = null;
    if (this.tracing) this.log(`crash ${sn.id}${lost.length > 0 ? `, unsynced writes lost: ${lost.join(' ')}` : ''}`);
  }

  // -------------------------------------------------------------------------------------------
  // Clients
  // -------------------------------------------------------------------------------------------

  private pickKey(): string {
    return this.rng.chance(0.5) ? `h${this.rng.int(HOT_KEYS)}` : `k${this.rng.int(COLD_KEYS)}`;
  }

  private clientNext(c: Client): void {
    if (c.busy) throw new Error(`client ${c.id} issued while busy`);
    if (this.opsIssued >= this.opts.ops) {
      this.maybeEndFaultPhase();
      return;
    }
    this.opsIssued++;
    const key = this.pickKey();
    this.touchedKeys.add(key);
    const [rl, wl] = this.opts.quorumOnly ? (['quorum', 'quorum'] as const) : this.rng.pick(QUORUM_SETTINGS);
    const n = this.opts.replicationFactor;
    const coordinator = this.rng.pick(this.ids);
    const roll = this.rng.int(100);
    const last = c.lastRead.get(key);
    let kvOp: KvOp;
    let op: HistoryOp;
    const base = { client: c.id, node: coordinator, key, replicationFactor: n, invokeMs: this.nowMs };
    if (roll < 40) {
      kvOp = { kind: 'get', key, readQuorum: rl };
      op = invokeOp(this.history, { ...base, kind: 'get', value: null, contextFromOp: null, context: null, readQuorum: resolveQuorum(rl, n, 'R'), writeQuorum: 0 });
    } else if (roll < 90) {
      const useContext = roll >= 60 && last !== undefined;
      const value = `c${c.id}-${c.n++}`;
      const ttlMs = !useContext && this.opts.mode === 'siblings' && this.ttlRng.chance(TTL_PUT_SHARE) ? this.ttlRng.between(TTL_MIN_MS, TTL_MAX_MS) : 0;
      kvOp = {
        kind: 'put', key, value: Buffer.from(value), expiresAtMs: ttlMs === 0 ? 0 : BASE_CLOCK_MS + this.nowMs + ttlMs,
        context: useContext ? last.context : null, writeQuorum: wl,
      };
      op = invokeOp(this.history, {
        ...base, kind: 'put', value, contextFromOp: useContext ? last.opId : null, ...(ttlMs === 0 ? {} : { expiresAtMs: this.nowMs + ttlMs }),
        context: useContext ? last.context.toString('base64') : null, readQuorum: 0, writeQuorum: resolveQuorum(wl, n, 'W'),
      });
    } else {
      const useContext = last !== undefined && roll >= 93;
      kvOp = { kind: 'delete', key, context: useContext ? last.context : null, writeQuorum: wl };
      op = invokeOp(this.history, {
        ...base, kind: 'delete', value: null, contextFromOp: useContext ? last.opId : null,
        context: useContext ? last.context.toString('base64') : null, readQuorum: 0, writeQuorum: resolveQuorum(wl, n, 'W'),
      });
    }
    c.busy = true;
    const sn = this.mustNode(coordinator);
    if (sn.node === null) {
      // Connection refused: the request never left the client, so it did not happen.
      completeOp(op, this.nowMs, { outcome: 'fail', errorCode: 'CONNECTION_REFUSED' });
      this.clientDone(c);
      return;
    }
    const rid = requestId(++this.requestSeq);
    this.pending.set(rid, { client: c.id, op, finalKey: null });
    if (this.tracing) this.log(`client ${c.id} #${rid} ${kvOp.kind} ${key} at ${coordinator}${op.value !== null ? ` value ${op.value}` : ''}${op.contextFromOp !== null ? ` ctx@${op.contextFromOp}` : ''}`);
    this.queue.push(this.nowMs + CLIENT_TIMEOUT_MS, { kind: 'client_timeout', requestId: rid });
    this.step(sn, { kind: 'client_request', requestId: rid, op: kvOp });
  }

  private clientReply(rid: RequestId, result: KvResult): void {
    const p = this.pending.get(rid);
    if (p === undefined) return; // the client gave up already
    this.pending.delete(rid);
    if (p.finalKey !== null) {
      if (result.kind === 'values') {
        this.finalValues.set(p.finalKey, result.values.map((v) => v.value.toString()).sort());
        this.nextFinalRead();
      } else {
        if (this.tracing) this.log(`final read of ${p.finalKey} failed: ${result.kind === 'error' ? result.code : result.kind}`);
        this.queue.push(this.nowMs + 50, { kind: 'final_read', key: p.finalKey });
      }
      return;
    }
    const op = p.op;
    if (op === null) return;
    const c = this.clients[p.client] as Client;
    if (this.tracing) this.log(`client ${c.id} #${rid} ${op.kind} ${op.key} op ${op.id} -> ${result.kind === 'error' ? result.code
      : result.kind === 'values' ? `[${result.values.map((v) => v.value.toString()).join(',')}]` : result.kind}`);
    switch (result.kind) {
      case 'values':
        if (op.kind !== 'get') throw new Error(`op ${op.id} (${op.kind}) answered with values`);
        completeOp(op, this.nowMs, {
          outcome: 'ok', valuesRead: result.values.map((v) => v.value.toString()), contextRead: result.context.toString('base64'),
        });
        c.lastRead.set(op.key, { opId: op.id, context: result.context });
        break;
      case 'written':
        if (op.kind === 'get') throw new Error(`op ${op.id} (get) answered written`);
        completeOp(op, this.nowMs, result.hintedAcks === undefined ? { outcome: 'ok' } : { outcome: 'ok', hintedAcks: result.hintedAcks });
        break;
      case 'error':
        completeOp(op, this.nowMs, { outcome: result.code === 'ERR_MAYBE_APPLIED' ? 'unknown' : 'fail', errorCode: result.code });
        break;
      default: {
        const never: never = result;
        throw new TypeError(`unknown result ${JSON.stringify(never)}`);
      }
    }
    this.clientDone(c);
  }

  private clientDone(c: Client): void {
    c.busy = false;
    this.queue.push(this.nowMs + this.rng.between(0, 30), { kind: 'client_next', client: c.id });
  }

  private maybeEndFaultPhase(): void {
    if (!this.faultPhase || this.clients.some((c) => c.busy)) return;
    this.faultPhase = false;
    this.handle({ kind: 'heal_all' });
    // Final reads wait for membership to settle and hints to drain, and at least long enough
    // for replication, read repair and every timeout to play out.
    this.queue.push(this.nowMs + 50, { kind: 'drain_check' });
  }

  private nextFinalRead(): void {
    const key = this.finalKeys.shift();
    if (key !== undefined) this.finalRead(key);
  }

  private finalRead(key: string): void {
    const attempts = (this.finalAttempts.get(key) ?? 0) + 1;
    this.finalAttempts.set(key, attempts);
    if (attempts > 5) throw new Error(`final read of ${key} failed ${attempts - 1} times after healing`);
    const live = this.ids.filter((id) => !this.mustNode(id).removed);
    const sn = this.mustNode(live[attempts % live.length] as NodeId);
    const rid = requestId(++this.requestSeq);
    this.pending.set(rid, { client: -1, op: null, finalKey: key });
    this.queue.push(this.nowMs + CLIENT_TIMEOUT_MS, { kind: 'client_timeout', requestId: rid });
    this.step(sn, { kind: 'client_request', requestId: rid, op: { kind: 'get', key, readQuorum: 'all' } });
  }

  // -------------------------------------------------------------------------------------------
  // Topology scenario
  // -------------------------------------------------------------------------------------------

  /** A key's owners at the end: the committed ring in a topology run, else the fixed placement. */
  private ownersOf(key: string): readonly NodeId[] {
    const t = this.topo;
    if (t === null) return this.placement.preferenceList(key);
    return (t.committed?.current ?? t.initial).owners[keySlot(key)]!;
  }

  /**
   * 'remove' declares a dead member's data gone: a value whose only durable copy (no other disk,
   * no hint for another owner) was on it is lost by definition, and the checkers judge the acked
   * writes of such values as maybe-happened (see topologyFacts).
   */
  private noteOnlyOnVictim(victim: SimNode): void {
    const t = this.topo;
    if (t === null) return;
    const v = this.anyVersions();
    const liveValues = (bytes: Buffer | null | undefined): string[] => (bytes === null || bytes === undefined ? [] : v.live(v.decode(bytes), 0).map((x) => x.value.toString()));
    const elsewhere = new Map<string, Set<string>>();
    const add = (key: string, values: string[]): void => {
      let set = elsewhere.get(key);
      if (set === undefined) elsewhere.set(key, (set = new Set()));
      for (const x of values) set.add(x);
    };
    for (const sn of this.nodes.values()) {
      if (sn === victim) continue;
      for (const [key, bytes] of sn.disk.durable) add(key, liveValues(bytes));
      for (const h of sn.disk.hints.values()) if (h.owner !== victim.id) add(h.key, liveValues(decodeHintEntry(h.entry).record));
    }
    for (const [key, bytes] of victim.disk.durable) {
      for (const x of liveValues(bytes)) if (elsewhere.get(key)?.has(x) !== true) t.onlyOnRemoved.add(x);
    }
  }

  /** Issues the scenario's change at a live node, again every second until some node holds it. */
  private topologyStart(): void {
    const t = this.topo;
    if (t === null || t.startedAtMs !== null) return;
    const members = t.initial.members.map((m) => m.id);
    if (t.change === null) {
      switch (t.scenario) {
        case 'join': t.change = { kind: 'join', id: this.ids[this.ids.length - 1] as NodeId }; break;
        case 'decommission': t.change = { kind: 'decommission', id: this.rng.pick(members) }; break;
        case 'remove': {
          const victim = members.find((id) => this.mustNode(id).removed);
          if (victim === undefined) throw new Error('remove scenario without a victim');
          t.change = { kind: 'remove', id: victim };
          break;
        }
        default: {
          const never: never = t.scenario;
          throw new TypeError(`unknown scenario ${String(never)}`);
        }
      }
    }
    this.queue.push(this.nowMs + 1000, { kind: 'topology_start' });
    // A joiner asks to join itself (it forwards to a ring member); other changes go to a member.
    const issuer = t.scenario === 'join' ? this.mustNode(t.change.id) : this.mustNode(this.rng.pick(members));
    if (issuer.node === null) return;
    const rid = requestId(++this.requestSeq);
    if (this.tracing) this.log(`ring change ${t.change.kind} ${t.change.id} asked at ${issuer.id} #${rid}`);
    // The answer comes as a reply effect nobody waits for: the retry above covers a lost one.
    issuer.node.changeRing(rid, t.change);
    issuer.node.invariants();
    for (const e of issuer.node.takeEffects()) this.execute(issuer, e);
  }

  private noteRingChanged(sn: SimNode): void {
    const t = this.topo;
    const s = sn.node?.topologyState ?? null;
    if (t === null || s === null) return;
    if (s.pending !== null) {
      if (t.startedAtMs === null) t.startedAtMs = this.nowMs;
      t.pendingState ??= s;
      return;
    }
    if (s.id !== '' && t.committed === null) {
      t.committed = s;
      t.committedAtMs = this.nowMs;
      const p = t.pendingState;
      if (p !== null && p.pending !== null) {
        const keys = new Set<string>();
        for (const n of this.nodes.values()) for (const k of n.disk.keys()) keys.add(k);
        let ideal = 0;
        for (const k of keys) {
          const slot = keySlot(k);
          const from = p.current.owners[slot]!;
          for (const o of p.pending.owners[slot]!) if (!from.includes(o)) ideal++;
        }
        t.idealMovedKeys = ideal;
        // key-replicas (keys x N) x the fraction of slot-replicas that moved (moved / (16384 x N)).
        t.expectedMovedKeys = keys.size * movedReplicas(p.current, p.pending) / SLOT_COUNT;
      }
    }
  }

  /** Counts what pulls carried, per gainer and key (the moved-keys figure). */
  private noteStreamed(sn: SimNode, m: Extract<PeerMessage, { kind: 'topology' }>): void {
    const t = this.topo;
    const r = m.message;
    if (t === null || r.kind !== 'pull_reply' || r.status !== 'ok') return;
    const s = sn.node?.topologyState ?? null;
    const gained = s === null || s.pending === null ? null : gainedSlotSet(s, sn.id);
    for (const [key, record] of r.records) {
      t.transfers++;
      t.bytes += record.byteLength;
      t.moved.add(`${sn.id}|${key}`);
      if (gained !== null && !gained.has(keySlot(key))) t.outside.push(`${sn.id} got ${key}`);
    }
  }

  /** Every live node holds the same committed state and none is handing records off. */
  private topologySettled(): boolean {
    const t = this.topo;
    if (t === null) return true;
    if (t.committed === null) return false;
    for (const sn of this.nodes.values()) {
      if (sn.removed) continue;
      const s = sn.node?.topologyState ?? null;
      if (s === null || s.pending !== null || stateVersion(s) !== stateVersion(t.committed) || s.id !== t.committed.id) return false;
      if (sn.node?.handingOff === true) return false;
    }
    return true;
  }

  private topologyFacts(): TopologyFacts {
    const t = this.topo;
    if (t === null) throw new Error('no topology scenario');
    const disagreeing: string[] = [];
    const stray: string[] = [];
    for (const sn of this.nodes.values()) {
      if (sn.removed) continue;
      const s = sn.node?.topologyState ?? null;
      if (t.committed === null || s === null || s.pending !== null || stateVersion(s) !== stateVersion(t.committed) || s.id !== t.committed.id) {
        disagreeing.push(`${sn.id} holds ${s === null ? 'no ring' : `${stateVersion(s)} ${s.id}${s.pending !== null ? ' (pending)' : ''}`}`);
      }
      for (const k of sn.disk.keys()) if (!this.ownersOf(k).includes(sn.id)) stray.push(`${sn.id} holds ${k}`);
    }
    // Acked writes whose value only the removed member held are maybe-happened from here on.
    let excused = 0;
    for (const op of this.history.ops) {
      if (op.kind === 'put' && op.outcome === 'ok' && op.value !== null && t.onlyOnRemoved.has(op.value)) {
        op.outcome = 'unknown';
        op.errorCode = 'ONLY_ON_REMOVED_MEMBER';
        excused++;
      }
    }
    return {
      excusedOnlyOnRemoved: excused,
      change: t.change === null ? 'none' : `${t.change.kind} ${t.change.id}`, startedAtMs: t.startedAtMs, committedAtMs: t.committedAtMs, disagreeing,
      movedKeys: t.moved.size, idealMovedKeys: t.idealMovedKeys, expectedMovedKeys: t.expectedMovedKeys, transfers: t.transfers, bytesStreamed: t.bytes,
      streamedOutsideGained: t.outside, handedOff: t.purges, strayRecords: stray,
    };
  }

  /** Siblings (tombstones included) of the merge of every replica's stored record. */
  private siblingCount(key: string): number | null {
    let count: number | null = null;
    const any = [...this.nodes.values()].find((s) => s.node !== null)?.node;
    if (any === undefined || any === null) return null;
    let merged = null;
    for (const sn of this.nodes.values()) {
      const bytes = sn.disk.read(key);
      if (bytes === null) continue;
      const rec = any.versions.decode(bytes);
      merged = merged === null ? rec : any.versions.merge(merged, rec);
    }
    if (merged !== null) count = any.versions.siblingCount(merged);
    return count;
  }
}

/** Ring changes in simulated runs: retries scaled to the short runs, small pages so paging is exercised. */
const SIM_TOPOLOGY = { retryMs: 200, pullPageMax: 16 } as const;

const initialRings = new Map<string, RingState>();

/** Rings are deterministic and immutable: one per member set is shared across seeds. */
function simInitialRing(ids: readonly NodeId[], replicationFactor: number): RingState {
  const k = `${replicationFactor}|${ids.join(',')}`;
  let r = initialRings.get(k);
  if (r === undefined) {
    r = initialRing(ids.map((id) => ({ id, weight: 1 })), replicationFactor);
    initialRings.set(k, r);
  }
  return r;
}

const gainedCache = new WeakMap<TopologyState, Map<NodeId, Set<number>>>();

function gainedSlotSet(s: TopologyState, id: NodeId): Set<number> {
  let byNode = gainedCache.get(s);
  if (byNode === undefined) {
    byNode = new Map();
    gainedCache.set(s, byNode);
  }
  let set = byNode.get(id);
  if (set === undefined) {
    set = new Set(gainedSlots(s, id));
    byNode.set(id, set);
  }
  return set;
}
