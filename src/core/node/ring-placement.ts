/**
 * The node's placement from a ring: a key's preference list is its hash slot's owners. N is
 * the ring's replication factor capped at the member count (a 2-node ring with N=3 has lists
 * of 2, and quorums must be computed over what exists). Fallbacks (sloppy quorum) are the slot's
 * fallback list: every other member, in a per-slot rendezvous order.
 *
 * During a ring change (`viewPlacement` with a pending ring): reads and the coordinating replica
 * use the CURRENT owners, so W and R keep meaning what they meant before the change and reads
 * stay available; writes also need W acks among the PENDING owners (`pendingPreferenceList`, the
 * coordinator's joint quorum), so every write acknowledged during the change is already on a
 * write quorum of the new owners when the change commits; anti-entropy runs over the union of
 * both lists (`slotPreferenceList`), so it helps the stream instead of fighting it.
 */
import { fallbackList, keySlot, preferenceList, type RingState } from '../ring/index.js';
import type { TopologyState } from '../topology/view.js';
import type { NodeId, Slot } from '../types.js';
import type { Placement } from './node.js';

export function ringPlacement(ring: RingState): Placement {
  return {
    replicationFactor: Math.min(ring.replicationFactor, ring.members.length),
    preferenceList: (key) => preferenceList(ring, keySlot(key)),
    fallbackList: (key) => fallbackList(ring, keySlot(key)),
    slotPreferenceList: (slot) => preferenceList(ring, slot),
  };
}

/** Union of two preference lists, current owners first (shared lists are returned as they are). */
function union(a: readonly NodeId[], b: readonly NodeId[]): readonly NodeId[] {
  if (a === b) return a;
  const extra = b.filter((n) => !a.includes(n));
  return extra.length === 0 ? a : [...a, ...extra];
}

/** Placements by (current ring object, pending ring object); `null` pending keyed by the current ring itself. */
const placements = new WeakMap<RingState, WeakMap<RingState, Placement>>();

/**
 * Placement for a topology state: the ring's placement, plus the pending ring's during a change.
 * One object per pair of ring objects (memoised, so a restart with the persisted rings gets the
 * same one): anti-entropy shares its slot tables per placement object.
 */
export function viewPlacement(state: Pick<TopologyState, 'current' | 'pending'>): Placement {
  let byPending = placements.get(state.current);
  if (byPending === undefined) {
    byPending = new WeakMap();
    placements.set(state.current, byPending);
  }
  const k = state.pending ?? state.current;
  let p = byPending.get(k);
  if (p === undefined) {
    p = buildViewPlacement(state);
    byPending.set(k, p);
  }
  return p;
}

function buildViewPlacement(state: Pick<TopologyState, 'current' | 'pending'>): Placement {
  const { current, pending } = state;
  if (pending === null) return ringPlacement(current);
  const unions = new Map<Slot, readonly NodeId[]>();
  return {
    replicationFactor: Math.min(current.replicationFactor, current.members.length),
    preferenceList: (key) => preferenceList(current, keySlot(key)),
    fallbackList: (key) => fallbackList(current, keySlot(key)),
    pendingPreferenceList: (key) => {
      const slot = keySlot(key);
      const to = pending.owners[slot]!;
      return to === current.owners[slot] ? null : to;
    },
    slotPreferenceList: (slot) => {
      let u = unions.get(slot);
      if (u === undefined) {
        u = union(preferenceList(current, slot), preferenceList(pending, slot));
        unions.set(slot, u);
      }
      return u;
    },
  };
}
