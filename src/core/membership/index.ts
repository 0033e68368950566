/**
 * SWIM-style membership and failure detection: the sans-IO `Membership` state machine, its
 * messages, inputs and effects. The node composes it; hosts never reach past this surface.
 */
export { Membership, MEMBERSHIP_DEFAULTS, type MembershipOptions, type MembershipStats } from './membership.js';
export { BroadcastQueue, updateBytes } from './broadcast-queue.js';
export type { MemberStatus, MemberUpdate, MembershipEffect, MembershipInput, MembershipMessage } from './messages.js';
