/**
 * The contract between the cluster node host (src/cluster/host/, which runs the sans-IO core
 * over the peer transport and the storage engine) and everything above it: the cluster
 * KvStore (src/cluster/kv/), the RESP CLUSTER commands, the HTTP API, the admin CLI.
 *
 * Front ends never touch the core, the transport or the engine directly in cluster mode; they
 * use this interface, so a test can serve it from an in-process cluster.
 *
 * Errors: `execute` never rejects; failures are KvResult `error` with a registry code
 * (ERR_UNAVAILABLE = did not happen, ERR_MAYBE_APPLIED = may have happened, ...). The other
 * async methods reject only with RingkvError.
 */
import type { Consistency, KvOp, KvResult } from '../core/messages.js';
import type { RingState } from '../core/ring/index.js';
import type { RingChange, TopologyProgress } from '../core/topology/types.js';
import type { NodeId, Slot } from '../core/types.js';

export type { RingChange, TopologyProgress };

/** Where a node can be reached; gossiped between hosts (not part of the ring). */
export interface NodeAddress {
  readonly id: NodeId;
  /** Advertised host (config cluster.advertiseHost, else host). */
  readonly host: string;
  readonly respPort: number;
  readonly peerPort: number;
  /** 0 = no HTTP listener. */
  readonly httpPort: number;
}

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface MemberView {
  readonly id: NodeId;
  readonly state: MemberState;
  readonly incarnation: number;
  /** Undefined while this node has not learned the member's address yet. */
  readonly address: NodeAddress | undefined;
  /** Whether the member holds slots in the current ring. */
  readonly inRing: boolean;
}

/**
 * The ring as front ends see it. During a topology change `pending` is the target ring: writes
 * go to the owners of both (so nothing is lost), reads to `current` owners until the change
 * commits. Null when no change is in flight.
 */
export interface RingView {
  readonly current: RingState;
  readonly pending: RingState | null;
}

/** The defaults plain GET/SET use (config cluster.*), and the ring's N. */
export interface ClusterDefaults {
  readonly replicationFactor: number;
  readonly readConsistency: Consistency;
  readonly writeConsistency: Consistency;
  readonly strictQuorum: boolean;
  readonly conflictMode: 'siblings' | 'lww';
}

/** One page of this node's own live records, for fan-out commands (SCAN, KEYS, DBSIZE). */
export interface LocalKeysPage {
  readonly keys: string[];
  /** null = no more. Opaque to callers. */
  readonly next: string | null;
}

/**
 * Host-level requests between nodes for fan-out commands, outside the core: the cluster
 * KvStore sends them with `request`, the host of the receiving node answers with `serveLocal`.
 * `slots`: only keys in these slots (absent = all); live = not expired and not a tombstone.
 */
export type LocalRequest =
  | { kind: 'local_keys'; slots?: readonly Slot[]; after: string | null; limit: number; pattern?: string }
  | { kind: 'local_count'; slots?: readonly Slot[] }
  | { kind: 'local_flush' };

export type LocalReply =
  | { kind: 'local_keys'; page: LocalKeysPage }
  | { kind: 'local_count'; count: number }
  | { kind: 'local_flush'; removed: number };

export interface ClusterNode {
  readonly id: NodeId;
  readonly defaults: ClusterDefaults;
  /** Runs one get/put/delete through the core's coordinator (any node coordinates any key). */
  execute(op: KvOp): Promise<KvResult>;
  ring(): RingView;
  /** Every member this node knows, itself included. */
  members(): MemberView[];
  /** This node's own address. */
  address(): NodeAddress;
  /** Members the core currently routes around (suspect/dead/left). */
  isDown(id: NodeId): boolean;
  /** A host-level request to one node (itself included, answered locally). */
  request(to: NodeId, req: LocalRequest): Promise<LocalReply>;
  /** Starts a ring change (one at a time, cluster-wide); rejects with ERR_BUSY-like codes when one is in flight. */
  changeRing(change: RingChange): Promise<void>;
  topology(): TopologyProgress;
  /** Counters for INFO, /metrics and the dashboard (hints, anti-entropy, membership, transport). */
  stats(): Record<string, number>;
  /**
   * Optional: start an anti-entropy round with every replica peer now instead of waiting for
   * the next period (operator `repair`). Resolves once the round is started, not finished.
   */
  startRepair?(): Promise<void>;
  /**
   * Optional: anti-entropy state per partition. For every slot this node replicates, when the
   * slot was last fully in sync with all its other replicas (Unix ms; null = never); slots it
   * does not replicate are absent. (The core's AntiEntropyDriver.lastSyncedAtMs.)
   */
  antiEntropySlots?(): ReadonlyMap<Slot, number | null>;
}
