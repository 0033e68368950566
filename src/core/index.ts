/**
 * The sans-IO core's public surface for hosts (the server's node host, the simulator): the node
 * state machine, its input/effect/message types, the helpers to build its placement, and the
 * defaults of hinted handoff.
 */
export * from './types.js';
export * from './messages.js';
export { Node, NODE_DEFAULTS, type NodeOptions, type Placement } from './node/node.js';
export { resolveQuorum } from './coordinator/quorum.js';
export { ringPlacement } from './node/ring-placement.js';
export { HINT_DEFAULTS, type HintStats } from './handoff/index.js';
export type { NodeMembershipOptions } from './node/node.js';
export { NODE_ANTI_ENTROPY_DEFAULTS, type NodeAntiEntropyOptions, type AntiEntropyNodeStats } from './node/anti-entropy-driver.js';
