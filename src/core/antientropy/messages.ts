/**
 * The anti-entropy exchange's peer messages: plain arrays, numbers, strings and byte strings, so
 * they round-trip through msgpackr unchanged and compactly (the bulky parts are packed byte
 * strings: node descriptions, 4-byte compact hashes; records travel in batches).
 *
 * Tree node ids (one number, so a request is a flat list):
 *   node >= 0  a slot range [lo, lo + size) with id = size * SLOT_COUNT + lo; size is a power of
 *              two; size 1 is a slot; the root is [0, SLOT_COUNT).
 *   node < 0   leaf bucket b of slot s, with id = -(s * bucketsPerSlot + b) - 1.
 * Children: a range of size > 1 splits into min(fanout, size) equal ranges; a slot into its
 * buckets; a bucket into its keys.
 */
import { SLOT_COUNT } from '../ring/key-slot.js';
import type { Slot } from '../types.js';
import { recordDigest, type Digest } from './hash.js';

/** A module-local copy: hot loops read it without going through the imported binding. */
const SLOTS: number = SLOT_COUNT;

export type AeNodeId = number;

export const ROOT_NODE: AeNodeId = SLOTS * SLOTS;

export type AeMessage =
  /**
   * Opens session `sid` over `slots` (flat [lo, hi, lo, hi, ...] half-open ranges, sorted,
   * disjoint; or, when that is larger, a SLOT_COUNT-bit bitmap, bit s = byte s>>3, bit s&7)
   * and asks for the root, carrying the opener's root hash for a one-round check.
   */
  | { kind: 'ae_open'; sid: number; slots: readonly number[] | Uint8Array; rootHi: number; rootLo: number }
  /**
   * Opens session `sid` over the slots both replicas share by their own ring view, sent as a
   * fingerprint of that slot set (`slotSetFingerprint`) instead of the set: ~40 bytes instead of
   * up to 2 KB per session. A responder whose own shared set has another fingerprint (a
   * different ring view) answers `ae_busy` with `mismatch`, and the opener falls back to
   * `ae_open` with explicit slots for that peer.
   */
  | { kind: 'ae_open_implied'; sid: number; fpHi: number; fpLo: number; rootHi: number; rootLo: number }
  /** Asks for the description of nodes the asker already knows differ. */
  | { kind: 'ae_request'; sid: number; nodes: readonly AeNodeId[] }
  /**
   * The descriptions of the nodes asked (the open asks for the root), in the order asked, packed
   * in one byte string (`encodeDescriptions`): per node a tag byte, then
   *   0 EQUAL     nothing (only for the root, when the opener's root hash matched);
   *   1 CHILDREN  a presence bitmap (one bit per child, ceil(children / 8) bytes), then a 4-byte
   *               compact hash (`compactHash`) per present (non-empty) child;
   *   2 ENTRIES   a u32 count, then that many 4-byte compact entry hashes (one per key below
   *               the node, sorted): the responder's whole subtree when it holds few keys there.
   */
  | { kind: 'ae_reply'; sid: number; body: Uint8Array }
  /** The responder has no room for (or no longer knows) this session: the opener aborts it. */
  | { kind: 'ae_busy'; sid: number; mismatch?: boolean }
  /** The opener ends the session; `completed` = every difference was found and transferred. */
  | { kind: 'ae_close'; sid: number; completed: boolean }
  /**
   * Records (a batch): the opener's pushes, or the answer to `ae_want`. The receiver of a push
   * merges each through its replica write path, synced, then acks the batch. `missing` (answers
   * only): how many wanted hashes the sender could not resolve (its record changed meanwhile).
   * `purge`: a tombstone purge's prepare (the receiver stores it with sync even if unchanged).
   */
  | { kind: 'ae_data'; xfer: number; keys: readonly string[]; records: readonly Uint8Array[]; missing?: number; purge?: boolean }
  /** `purge`: the acked batch was a purge's prepare (counted apart from session transfers). */
  | { kind: 'ae_data_ack'; xfer: number; purge?: boolean }
  /**
   * Asks the responder of session `sid` for the records behind compact entry hashes it listed
   * (the opener holds no entry with those hashes), answered by `ae_data`: `nodes[i]` is the node
   * whose list held the next `counts[i]` hashes of `hashes` (4 bytes each).
   */
  | { kind: 'ae_want'; xfer: number; sid: number; nodes: readonly AeNodeId[]; counts: readonly number[]; hashes: Uint8Array };

/** Description tags in an `ae_reply` body. */
export const DESC_EQUAL = 0;
export const DESC_CHILDREN = 1;
export const DESC_ENTRIES = 2;

/**
 * The 32-bit compact form of a 64-bit hash used on the wire during session `sid`: the high half
 * in even sessions, the low half in odd ones. Two different subtrees agree on one half with odd
 * 2^-32, and such a miss lasts one session: the next uses the other half.
 */
export function compactHash(d: Digest, sid: number): number {
  return (sid & 1) === 0 ? d.hi : d.lo;
}

export function rangeNode(lo: Slot, size: number): AeNodeId {
  return size * SLOTS + lo;
}

export function bucketNode(slot: Slot, bucket: number, bucketsPerSlot: number): AeNodeId {
  return -(slot * bucketsPerSlot + bucket) - 1;
}

export type DecodedNode =
  | { kind: 'range'; lo: Slot; size: number }
  | { kind: 'bucket'; slot: Slot; bucket: number };


/** Decodes a node id; null when it is not a valid id (from a confused or hostile peer). */
export function decodeNode(node: AeNodeId, bucketsPerSlot: number): DecodedNode | null {
  if (!Number.isSafeInteger(node)) return null;
  if (node < 0) {
    const i = -node - 1;
    const slot = Math.floor(i / bucketsPerSlot);
    if (slot >= SLOTS) return null;
    return { kind: 'bucket', slot, bucket: i % bucketsPerSlot };
  }
  const size = Math.floor(node / SLOTS);
  const lo = node % SLOTS;
  if (size < 1 || size > SLOTS || (size & (size - 1)) !== 0 || lo % size !== 0) return null;
  return { kind: 'range', lo, size };
}

/** Packs slots (sorted, unique) into flat half-open ranges. */
export function slotsToRanges(slots: readonly Slot[]): number[] {
  const out: number[] = [];
  let prev = -1;
  for (const s of slots) {
    if (!Number.isSafeInteger(s) || s <= prev || s >= SLOTS) throw new RangeError('slots must be sorted, unique slot numbers');
    prev = s;
    const last = out.length - 1;
    if (last > 0 && out[last] === s) out[last] = s + 1;
    else out.push(s, s + 1);
  }
  return out;
}

/** Bytes of a slot bitmap (one bit per slot). */
export const SLOT_BITMAP_BYTES = SLOTS / 8;

/** Packs a membership table (1 = in the session) into a slot bitmap. */
export function membershipToBitmap(member: Uint8Array): Uint8Array {
  const out = new Uint8Array(SLOT_BITMAP_BYTES);
  for (let s = 0; s < SLOTS; s++) if (member[s] === 1) out[s >>> 3]! |= 1 << (s & 7);
  return out;
}

/**
 * The cheaper wire form of a session's slots: flat ranges, or the bitmap when the ranges would
 * take more bytes (scattered slots: a 5-node ring's pair shares ~4900 slots in ~3600 runs,
 * ~21 KB as ranges, 2 KB as a bitmap). ~3 bytes per range bound in MessagePack.
 */
export function slotsWireForm(ranges: readonly number[], member: Uint8Array): readonly number[] | Uint8Array {
  return 3 * ranges.length > SLOT_BITMAP_BYTES ? membershipToBitmap(member) : ranges;
}

/** A fingerprint of a slot set (its membership table): the digest of its bitmap. */
export function slotSetFingerprint(member: Uint8Array): Digest {
  return recordDigest(membershipToBitmap(member));
}

/** Unpacks flat ranges (or a slot bitmap) into a membership table; null when malformed. */
export function rangesToMembership(ranges: readonly number[] | Uint8Array): Uint8Array | null {
  if (ranges instanceof Uint8Array) {
    if (ranges.length !== SLOT_BITMAP_BYTES) return null;
    const member = new Uint8Array(SLOTS);
    for (let s = 0; s < SLOTS; s++) member[s] = (ranges[s >>> 3]! >>> (s & 7)) & 1;
    return member;
  }
  if (!Array.isArray(ranges) || ranges.length % 2 !== 0) return null;
  const member = new Uint8Array(SLOTS);
  let prev = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    const lo = ranges[i];
    const hi = ranges[i + 1];
    if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isSafeInteger(lo) || !Number.isSafeInteger(hi)) return null;
    if (lo < prev || hi <= lo || hi > SLOTS) return null;
    member.fill(1, lo, hi);
    prev = hi;
  }
  return member;
}
