/**
 * Keys to Redis Cluster hash slots: CRC16/XMODEM of the key, or of its hash tag, modulo 16384 —
 * exactly Redis's keyHashSlot(), so Redis Cluster clients route every key where ringkv says.
 *
 * Hash tag rule (Redis): find the first '{'; if a '}' follows it with at least one byte in
 * between, hash only those bytes; otherwise hash the whole key. So "foo{}{bar}" hashes whole.
 *
 * ringkv keys are latin1 strings whose char codes are the raw key bytes (0..255), so the CRC
 * runs over char codes directly, with no encoding step and no allocation.
 *
 * Why not the cluster-key-slot package (which ioredis and node-redis route with): it agrees
 * with Redis except when the first tag is empty and a later '}' follows ("foo{}{bar}": it
 * hashes "{bar", Redis hashes the whole key). The tests cross-check against both Redis's own
 * values and the package on every other key.
 */
import type { Slot } from '../types.js';

/** Redis Cluster's slot count. Slots are 0..SLOT_COUNT-1. */
export const SLOT_COUNT = 16384;

/** CRC16/XMODEM (poly 0x1021, init 0, no reflection) lookup table. */
const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

function crc16(key: string, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`keySlot: key is not a latin1 byte string (char code ${c} at ${i})`);
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ c) & 0xff]!;
  }
  return crc;
}

/** The hash slot of a key given as a latin1 string (one char per byte). */
export function keySlot(key: string): Slot {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) {
      // Validate the bytes outside the tag too: a non-latin1 key is a caller bug either way.
      for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0xff) crc16(key, i, i + 1);
      return crc16(key, open + 1, close) & (SLOT_COUNT - 1);
    }
  }
  return crc16(key, 0, key.length) & (SLOT_COUNT - 1);
}
