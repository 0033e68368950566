/**
 * Placement for simulated clusters. Until the ring's preference lists are wired in, a simple
 * stand-in: the key's hash slot picks a start member and the next N members (in id order)
 * replicate it, which already gives every node both replica and non-replica keys.
 */
import type { Placement } from '../../src/core/node/node.js';
import { keySlot, SLOT_COUNT } from '../../src/core/ring/key-slot.js';
import type { NodeId } from '../../src/core/types.js';

export function contiguousPlacement(members: readonly NodeId[], replicationFactor: number): Placement {
  const sorted = [...members].sort();
  const n = sorted.length;
  const lists: (readonly NodeId[])[] = [];
  for (let start = 0; start < n; start++) {
    lists.push(Array.from({ length: Math.min(replicationFactor, n) }, (_, i) => sorted[(start + i) % n] as NodeId));
  }
  return {
    replicationFactor,
    preferenceList: (key) => lists[Math.floor((keySlot(key) * n) / SLOT_COUNT)] as readonly NodeId[],
  };
}
