/**
 * Small deterministic integer hashes for the ring: FNV-1a over a string's char codes and the
 * murmur3 finalizer to mix. Used only to give slots and members a stable, well-spread order
 * (which slots a donor hands over, fallback order); never for anything security-related.
 */

/** FNV-1a 32-bit over UTF-16 code units. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3 fmix32 of (a combined with b): a well-mixed unsigned 32-bit value. */
export function mix32(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
