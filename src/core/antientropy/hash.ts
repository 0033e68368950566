/**
 * The 64-bit hashes anti-entropy compares, written here because core may not import node:crypto
 * (and a WASM hash would make core async to load). A 64-bit value travels as two unsigned 32-bit
 * halves so every step stays in exact integer arithmetic.
 *
 * - `recordDigest(bytes)`: FNV-1a 64 over a record's canonical encoding (versioning's
 *   `encodeRecord`: equal records give equal bytes), then a finalizer so every output bit depends
 *   on every input bit (FNV alone mixes only upwards).
 * - `entryHash(key, digest)`: the same over the key's bytes (ringkv keys are latin1 strings, one
 *   char code per byte) followed by the digest. Tree nodes are the XOR of the entry hashes below
 *   them, which is what makes an update O(depth): remove the old entry's hash, add the new one.
 *
 * Collision odds (accidental, not adversarial): two different records of one key share a digest
 * with probability 2^-64; two different entry sets under one tree node XOR to the same value with
 * probability ~2^-64 per comparison. A cluster comparing 2^18 buckets per session every minute
 * for ten years makes ~2^40 comparisons: odds of one missed difference ~2^-24. FNV is not keyed,
 * so a client able to choose keys and values could in principle craft a cancelling pair; the
 * damage is bounded to keys that client writes, and a host may re-key by salting (TODO noted in
 * the module report, not needed for accidental divergence).
 */

/** A 64-bit hash as two unsigned 32-bit halves. */
export interface Digest {
  readonly hi: number;
  readonly lo: number;
}

export const ZERO_DIGEST: Digest = Object.freeze({ hi: 0, lo: 0 });

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
// FNV 64-bit prime = 2^40 + 0x1b3: h * P = h * 0x1b3 + (h << 40).
const FNV_PRIME_LO = 0x1b3;

/** Running FNV-1a 64 state; reused to avoid allocating per byte. */
class Fnv64 {
  hi = FNV_OFFSET_HI;
  lo = FNV_OFFSET_LO;

  byte(b: number): void {
    const lo = (this.lo ^ b) >>> 0;
    const t = lo * FNV_PRIME_LO; // < 2^41: exact
    const carry = Math.floor(t / 0x1_0000_0000);
    this.hi = (Math.imul(this.hi, FNV_PRIME_LO) + carry + (lo << 8)) >>> 0;
    this.lo = t >>> 0;
  }

  u32(v: number): void {
    this.byte(v >>> 24);
    this.byte((v >>> 16) & 0xff);
    this.byte((v >>> 8) & 0xff);
    this.byte(v & 0xff);
  }
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Cross-mixes the halves so low output bits depend on high input bits too. */
function finish(f: Fnv64): Digest {
  const lo = fmix32((f.lo ^ Math.imul(f.hi, 0x9e3779b1)) >>> 0);
  const hi = fmix32((f.hi ^ Math.imul(lo, 0x27d4eb2f)) >>> 0);
  return { hi, lo };
}

/** Plain FNV-1a 64 (no finalizer), exported to check the arithmetic against published vectors. */
export function fnv1a64(bytes: Uint8Array): Digest {
  const f = new Fnv64();
  for (let i = 0; i < bytes.length; i++) f.byte(bytes[i] as number);
  return { hi: f.hi, lo: f.lo };
}

/** The digest of one record's canonical bytes. */
export function recordDigest(bytes: Uint8Array): Digest {
  const f = new Fnv64();
  for (let i = 0; i < bytes.length; i++) f.byte(bytes[i] as number);
  return finish(f);
}

/** The hash an entry (key, its record digest) contributes to every tree node above it. */
export function entryHash(key: string, digest: Digest): Digest {
  const f = new Fnv64();
  for (let i = 0; i < key.length; i++) f.byte(key.charCodeAt(i) & 0xff);
  // A separator that cannot be confused with a key byte position: the key length.
  f.u32(key.length);
  f.u32(digest.hi);
  f.u32(digest.lo);
  return finish(f);
}

/** Bucket index of a key inside its slot: independent of the slot's CRC16 (FNV of the key). */
export function keyBucket(key: string, bucketsPerSlot: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h >>> 0) & (bucketsPerSlot - 1);
}

export function digestsEqual(a: Digest, b: Digest): boolean {
  return a.hi === b.hi && a.lo === b.lo;
}

export function isZeroDigest(d: Digest): boolean {
  return d.hi === 0 && d.lo === 0;
}
