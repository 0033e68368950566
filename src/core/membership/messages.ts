/**
 * Membership's wire vocabulary and its step contract: the inputs a host feeds a `Membership`,
 * the effects it takes back, and the gossip messages peers exchange.
 *
 * Everything is plain data (strings, numbers, arrays, objects, Uint8Array, null), so a message
 * round-trips through msgpackr unchanged and a simulator can digest it.
 *
 * Laws:
 * - An update about a member is ordered by (incarnation, status rank): a higher incarnation wins;
 *   at equal incarnation suspect beats alive, dead beats suspect, left beats dead. Only the member
 *   itself raises its incarnation, which is how it refutes a suspicion (SWIM §4.2).
 * - Probe messages (ping, ack, ping_req) carry the sender's own incarnation: first-hand news that
 *   it is alive at that incarnation, merged like an alive update, so a node that missed a
 *   refutation catches up as soon as it hears from the member itself.
 * - Every message carries the sender's ring epoch so the node can learn that a peer holds a newer
 *   ring; membership only reports it and never interprets it (failure detection changes routing,
 *   never ownership).
 * - A suspect update carries the distinct members that suspected (its `sources`); sets merge by
 *   union, bounded, so confirmations from independent members add up as they spread.
 */
import type { NodeId } from '../types.js';

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

/** One piece of gossip about one member. */
export type MemberUpdate =
  | { kind: 'alive'; member: NodeId; incarnation: number }
  /** `sources`: distinct members whose own probes failed; non-empty, no duplicates. */
  | { kind: 'suspect'; member: NodeId; incarnation: number; sources: NodeId[] }
  /** `from`: the member that declared the death after its own rule was satisfied. */
  | { kind: 'dead'; member: NodeId; incarnation: number; from: NodeId }
  /** A graceful leave, announced by the member itself. */
  | { kind: 'left'; member: NodeId; incarnation: number };

export type MembershipMessage =
  /** Direct probe; `target` lets a receiver ignore a probe meant for a previous holder of its id. */
  | { kind: 'ping'; seq: number; target: NodeId; incarnation: number; ringEpoch: number; updates: MemberUpdate[] }
  | { kind: 'ack'; seq: number; incarnation: number; ringEpoch: number; updates: MemberUpdate[] }
  /** Ask the receiver to probe `target` on the sender's behalf and forward the ack. */
  | { kind: 'ping_req'; seq: number; target: NodeId; incarnation: number; ringEpoch: number; updates: MemberUpdate[] }
  /** Eager push, no reply: a member refuting a suspicion does not wait for its next probe. */
  | { kind: 'gossip'; incarnation: number; ringEpoch: number; updates: MemberUpdate[] }
  /**
   * Push-pull full state sync. `reply: false` asks the receiver to answer with its own state.
   * `join` marks the first sync of a joining node. `ring` is an opaque payload hook for the
   * node's ring at `ringEpoch` (null when the sender attaches none).
   */
  | {
      kind: 'sync';
      reply: boolean;
      join: boolean;
      ringEpoch: number;
      ring: Uint8Array | null;
      members: MemberUpdate[];
    };

export type MembershipInput =
  /** The only source of time. */
  | { kind: 'tick'; nowMs: number }
  | { kind: 'message'; from: NodeId; message: MembershipMessage };

export type MembershipEffect =
  | { kind: 'send'; to: NodeId; message: MembershipMessage }
  /** A member's status as seen by this node changed (`previous` null: first heard of). */
  | { kind: 'change'; member: NodeId; status: MemberStatus; previous: MemberStatus | null; incarnation: number }
  /**
   * A peer advertised a ring epoch newer than this node's own. Reported at most once per peer and
   * epoch, and again when a sync brings the opaque payload along.
   */
  | { kind: 'ring_epoch'; peer: NodeId; ringEpoch: number; ring: Uint8Array | null };
