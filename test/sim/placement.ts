/**
 * Placement for simulated clusters: the real ring (equal weights, no racks) built once per
 * member set and replication factor and reused across seeds, since rings are deterministic.
 */
import type { Placement } from '../../src/core/node/node.js';
import { ringPlacement } from '../../src/core/node/ring-placement.js';
import { initialRing } from '../../src/core/ring/index.js';
import type { NodeId } from '../../src/core/types.js';

const cache = new Map<string, Placement>();

export function simRingPlacement(members: readonly NodeId[], replicationFactor: number): Placement {
  const k = `${replicationFactor}|${members.join(',')}`;
  let p = cache.get(k);
  if (p === undefined) {
    p = ringPlacement(initialRing(members.map((id) => ({ id, weight: 1 })), replicationFactor));
    cache.set(k, p);
  }
  return p;
}
