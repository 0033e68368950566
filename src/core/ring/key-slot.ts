/**
 * Keys to Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of the first non-empty
 * `{hash tag}`, modulo 16384 — exactly Redis's `CLUSTER KEYSLOT`, so Redis Cluster clients
 * route every key to the node ringkv says owns it.
 *
 * ringkv keys are latin1 strings whose char codes are the raw key bytes (0..255). The
 * `cluster-key-slot` package UTF-8 encodes string input, which is only the same bytes for
 * ASCII; for any other key we hand it the byte values instead (its implementation indexes any
 * array-like of bytes, which is how ioredis passes Buffers).
 */
import calculateSlot from 'cluster-key-slot';
import type { Slot } from '../types.js';

/** Redis Cluster's slot count. Slots are 0..SLOT_COUNT-1. */
export const SLOT_COUNT = 16384;

// The package's typings say `string | Buffer`; the code reads `.length` and `[i]` only.
const slotOfBytes = calculateSlot as unknown as (bytes: ArrayLike<number>) => number;

/** The hash slot of a key given as a latin1 string (one char per byte). */
export function keySlot(key: string): Slot {
  const n = key.length;
  let i = 0;
  while (i < n && key.charCodeAt(i) < 0x80) i++;
  if (i === n) return calculateSlot(key);
  const bytes = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const c = key.charCodeAt(j);
    if (c > 0xff) throw new RangeError(`keySlot: key is not a latin1 byte string (char code ${c} at ${j})`);
    bytes[j] = c;
  }
  return slotOfBytes(bytes);
}
