/**
 * The node's placement from a ring: a key's preference list is its hash slot's owners. N is
 * the ring's replication factor capped at the member count (a 2-node ring with N=3 has lists
 * of 2, and quorums must be computed over what exists). Fallbacks (sloppy quorum) are the slot's
 * fallback list: every other member, in a per-slot rendezvous order.
 */
import { fallbackList, keySlot, preferenceList, type RingState } from '../ring/index.js';
import type { Placement } from './node.js';

export function ringPlacement(ring: RingState): Placement {
  return {
    replicationFactor: Math.min(ring.replicationFactor, ring.members.length),
    preferenceList: (key) => preferenceList(ring, keySlot(key)),
    fallbackList: (key) => fallbackList(ring, keySlot(key)),
    slotPreferenceList: (slot) => preferenceList(ring, slot),
  };
}
