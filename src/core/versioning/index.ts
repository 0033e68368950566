/**
 * Versions and conflicts for one key: hybrid logical clocks, version vectors, dotted version
 * vector sets (siblings and LWW modes) and their binary codec. Pure, sans-IO.
 */
export * from './hlc.js';
export * from './version-vector.js';
export * from './dvvset.js';
export * from './codec.js';
