/**
 * Cluster placement, sans-IO: keys to Redis hash slots, slots to preference lists of hosts.
 * See ring.ts for the laws the ring keeps and topology.ts for the zone/rack rules.
 */
export { SLOT_COUNT, keySlot } from './key-slot.js';
export type { RingMember } from './topology.js';
export {
  type Ownership,
  type RingState,
  type SlotChange,
  checkRing,
  diffRings,
  fallbackList,
  initialRing,
  movedReplicas,
  ownership,
  preferenceList,
  withMemberAdded,
  withMemberRemoved,
  withMembers,
} from './ring.js';
export { type EncodedMember, type EncodedRing, decodeRing, encodeRing } from './codec.js';
