/**
 * The sans-IO node's whole contract with the outside world: the inputs it is stepped with, the
 * effects it asks its host to execute, the client operations it serves and the messages peers
 * exchange. The real server's node host and the simulator execute exactly these effects.
 *
 * Everything here is plain data — strings, numbers, booleans, null, arrays, objects and Buffers —
 * so a message round-trips through msgpackr unchanged and a simulator can digest it.
 * Records and contexts travel as their versioned binary encoding (versioning's codec), so a peer
 * or a client can never hand the node an object that skipped validation.
 *
 * Laws:
 * - Every reply-bearing peer message carries the `opId` of the operation that asked; a receiver
 *   ignores replies whose opId it does not know or whose sender it did not ask, so duplicated,
 *   late and reordered messages are harmless.
 * - opIds embed the sender's incarnation, so replies addressed to a previous life of a node
 *   never match an operation of the current one.
 */
import type { ErrorCode } from '../errors/codes.js';
import type { AeMessage } from './antientropy/messages.js';
import type { MembershipMessage } from './membership/messages.js';
import type { RingState } from './ring/ring.js';
import type { TopologyMessage } from './topology/messages.js';
import type { RingChange } from './topology/types.js';
import type { NodeId, RequestId } from './types.js';

/** ONE, TWO, QUORUM, ALL or an explicit replica count (the same shape as the data layer's ConsistencyLevel). */
export type Consistency = 'one' | 'two' | 'quorum' | 'all' | number;

/** Identifies one coordinated operation across the cluster: `${node}/${incarnation}/${seq}`. */
export type OpId = string;
/** Identifies one storage effect of one node incarnation. */
export type IoId = number;

// ---------------------------------------------------------------------------------------------
// Client operations and their results
// ---------------------------------------------------------------------------------------------

export type KvOp =
  | { kind: 'get'; key: string; readQuorum?: Consistency }
  | {
      kind: 'put';
      key: string;
      value: Buffer;
      /** Absolute expiry on the cluster's clock, ms; 0 = never. */
      expiresAtMs: number;
      /** The token a previous get returned, or null for a blind write (adds a sibling). */
      context: Buffer | null;
      writeQuorum?: Consistency;
      /**
       * Strict quorum (Riak's PW): only preference-list replicas count toward W, so a write with
       * owners down is refused (ERR_UNAVAILABLE) instead of going to fallbacks with hints.
       * Absent = the node's configured default.
       */
      strict?: boolean;
      /**
       * Supersede every version the coordinating replica holds (its local record's context is
       * used; `context` is ignored): a plain Redis SET/DEL. Versions that replica has not seen
       * yet stay concurrent (siblings). Absent/false = use `context`.
       */
      overwrite?: boolean;
    }
  | { kind: 'delete'; key: string; context: Buffer | null; writeQuorum?: Consistency; strict?: boolean; overwrite?: boolean };

export interface ValueVersion {
  value: Buffer;
  expiresAtMs: number;
}

export type KvResult =
  | {
      kind: 'values';
      /** Live sibling values (siblings mode: all concurrent ones; lww mode: at most one). Empty = not found. */
      values: ValueVersion[];
      /** Opaque causal context to hand back with the next write of this key. */
      context: Buffer;
    }
  /** `hintedAcks`: acks that came from fallbacks holding a hint (sloppy quorum), not from owners. */
  | { kind: 'written'; hintedAcks?: number }
  | { kind: 'error'; code: ErrorCode; message: string };

// ---------------------------------------------------------------------------------------------
// Peer messages
// ---------------------------------------------------------------------------------------------

export type PeerMessage =
  /** A non-replica coordinator hands a write to a replica, which stamps the dot. */
  | {
      kind: 'forward_write';
      opId: OpId;
      key: string;
      value: Buffer | null;
      expiresAtMs: number;
      context: Buffer | null;
      writeQuorum: number;
      strict: boolean;
      overwrite?: boolean;
    }
  | { kind: 'forward_reply'; opId: OpId; result: KvResult }
  /** The coordinating replica's new record for the rest of the preference list to merge. */
  | { kind: 'replicate'; opId: OpId; key: string; record: Buffer }
  | { kind: 'replicate_ack'; opId: OpId; key: string }
  | { kind: 'read'; opId: OpId; key: string }
  /** `record` null = the replica holds nothing for the key. */
  | { kind: 'read_reply'; opId: OpId; key: string; record: Buffer | null }
  /** Read repair: merge this record; no reply. */
  | { kind: 'repair'; key: string; record: Buffer }
  /**
   * Sloppy quorum: the record for a fallback to keep as a hint for `owner` (a preference-list
   * replica the coordinator holds down). Acked with `replicate_ack` once the hint is durable.
   */
  | { kind: 'replicate_hint'; opId: OpId; key: string; owner: NodeId; record: Buffer }
  /** Hint replay: the owner merges and stores with sync, then answers `hint_ack` with the same id. */
  | { kind: 'hint_deliver'; deliveryId: string; key: string; record: Buffer }
  | { kind: 'hint_ack'; deliveryId: string; key: string }
  /** SWIM membership traffic, carried on the same peer channel. */
  | { kind: 'membership'; message: MembershipMessage }
  /** Merkle anti-entropy exchange traffic (tree hashes and key lists), on the same channel. */
  | { kind: 'ae'; message: AeMessage }
  /**
   * Anti-entropy transfer: the sender's record of a key that differs; the receiver merges and
   * stores it with sync (its normal replica write path), then answers `ae_push_ack`.
   */
  | { kind: 'ae_push'; xferId: string; key: string; record: Buffer }
  | { kind: 'ae_push_ack'; xferId: string; key: string }
  /** Anti-entropy transfer: asks for the receiver's record of a key (answered even when absent). */
  | { kind: 'ae_fetch'; xferId: string; key: string }
  | { kind: 'ae_fetch_reply'; xferId: string; key: string; record: Buffer | null }
  /** Ring change traffic (topology/messages.ts; validate with decodeTopologyMessage). */
  | { kind: 'topology'; message: TopologyMessage };

// ---------------------------------------------------------------------------------------------
// Storage effects (the host's engine stores opaque record bytes per key)
// ---------------------------------------------------------------------------------------------

export type StorageOp =
  | { kind: 'read'; key: string }
  /** `sync`: the result may only be delivered once the write survives a crash. */
  | { kind: 'write'; key: string; record: Buffer; sync: boolean }
  /**
   * Hints live in their own namespace of the node's storage (the host keeps them apart from user
   * keys, e.g. a separate column family or a reserved prefix), one entry per (owner, key).
   * hint_put is always synced: a hint is acked to its coordinator only once it survives a crash.
   */
  | { kind: 'hint_put'; owner: NodeId; key: string; entry: Buffer }
  | { kind: 'hint_delete'; owner: NodeId; key: string }
  /** Every stored hint, read once after a (re)start. */
  | { kind: 'hint_scan' }
  /**
   * One page of user records (hints excluded) in ascending key order, strictly after `afterKey`
   * (null = from the start), at most `limit` of them: the bounded background scan that rebuilds
   * the anti-entropy Merkle tree after a (re)start. `done` in the result = no record follows.
   */
  | { kind: 'scan'; afterKey: string | null; limit: number }
  /**
   * Tombstone purge: delete the user record of `key` only if the stored bytes still equal
   * `record` (compare-and-delete, so a write that landed since the purge decision survives).
   * Answered `written` whether or not it deleted.
   */
  | { kind: 'purge'; key: string; record: Buffer };

export interface StoredHint {
  owner: NodeId;
  key: string;
  entry: Buffer;
}

export interface StoredRecord {
  key: string;
  record: Buffer;
}

export type StorageResult =
  | { kind: 'read'; record: Buffer | null }
  | { kind: 'written' }
  | { kind: 'hints'; hints: StoredHint[] }
  | { kind: 'records'; records: StoredRecord[]; done: boolean }
  | { kind: 'failed'; message: string };

// ---------------------------------------------------------------------------------------------
// The step contract
// ---------------------------------------------------------------------------------------------

export type Input =
  /** The only source of time: the node's (possibly skewed) wall clock, ms. */
  | { kind: 'tick'; nowMs: number }
  | { kind: 'client_request'; requestId: RequestId; op: KvOp }
  | { kind: 'peer_message'; from: NodeId; message: PeerMessage }
  | { kind: 'storage_done'; ioId: IoId; result: StorageResult };

export type Effect =
  | { kind: 'send'; to: NodeId; message: PeerMessage }
  /**
   * The node adopted a new ring (a change it started, or one learned by gossip): the host
   * persists it (encodeRing) so a restart resumes with it. `pending` = the target ring of a
   * topology change in flight.
   */
  | {
      kind: 'ring_changed';
      current: RingState;
      pending: RingState | null;
      /** The change `pending` is for and who proposed it: persist them too, so a restart ranks its state as its peers do. */
      change?: RingChange | null;
      origin?: NodeId | null;
      /** The proposal id ranking this state among same-version ones (topology/view.ts). */
      id?: string;
    }
  | { kind: 'storage'; ioId: IoId; op: StorageOp }
  | { kind: 'reply'; requestId: RequestId; result: KvResult };
