/**
 * Hinted handoff: the durable, bounded hints a fallback holds for owners that were down, and
 * their replay. The node composes it with the coordinator (which decides WHERE a sloppy write
 * goes) and membership (which says WHEN an owner is back).
 */
export { HintStore, HINT_DEFAULTS, encodeHintEntry, decodeHintEntry, type HintHost, type HintOptions, type HintStats } from './hint-store.js';
