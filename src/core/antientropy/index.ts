/**
 * Merkle-tree anti-entropy, sans-IO: per-slot trees maintained on write (or rebuilt from a scan),
 * the exchange that finds and transfers only differing keys, and tombstone-GC bookkeeping.
 */
export * from './hash.js';
export * from './merkle-tree.js';
export * from './messages.js';
export * from './exchange.js';
export * from './tombstones.js';
