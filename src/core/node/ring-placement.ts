/**
 * The node's placement from a ring: a key's preference list is its hash slot's owners. N is
 * the ring's replication factor capped at the member count (a 2-node ring with N=3 has lists
 * of 2, and quorums must be computed over what exists).
 */
import { keySlot, preferenceList, type RingState } from '../ring/index.js';
import type { Placement } from './node.js';

export function ringPlacement(ring: RingState): Placement {
  return {
    replicationFactor: Math.min(ring.replicationFactor, ring.members.length),
    preferenceList: (key) => preferenceList(ring, keySlot(key)),
  };
}
