/**
 * A replica's Merkle tree over its keys' version digests, one small tree per hash slot.
 *
 * Partition granularity: the slot. The ring assigns, hands off and moves slots one by one, and the
 * slots two replicas share are scattered over the slot space, so a per-slot tree lets a session
 * cover exactly the slots both replicas hold under any ring, and a ring change never forces a
 * rebuild. The exchange (exchange.ts) puts a virtual tree over the slot space on top: a node there
 * is a slot range whose hash is the XOR of the roots of the session's slots in it. Below each slot
 * sit `bucketsPerSlot` leaf buckets (keys spread by an FNV hash independent of the slot's CRC16),
 * and each bucket holds its keys' digests.
 *
 * Node hashes are XORs of entry hashes (hash.ts), so `update` is O(1): XOR the old entry out and
 * the new one in, at the bucket and at the slot root. Deleted keys (gone from storage, e.g. a
 * purged tombstone) leave the tree; tombstones still stored are ordinary records with digests.
 *
 * Rebuild: `beginRebuild()` starts a shadow tree filled in bounded steps from a key iterator (a
 * background scan of storage). Writes during the rebuild go to both trees and mark their key, and
 * the scan skips marked keys, so the result is right whether the scan reads a snapshot or live
 * data. When the iterator ends the shadow replaces the live tree.
 *
 * Invariants (`invariants()`): every slot root is the XOR of its buckets; every bucket is the
 * XOR of its entries; the key count matches.
 */
import { keySlot, SLOT_COUNT } from '../ring/key-slot.js';
import type { Slot } from '../types.js';
import { digestsEqual, entryHash, keyBucket, ZERO_DIGEST, type Digest } from './hash.js';

export const BUCKETS_PER_SLOT_MAX = 32;

interface SlotTree {
  /** [rootHi, rootLo, bucket0Hi, bucket0Lo, ...]. */
  readonly hashes: Uint32Array;
  readonly buckets: (Map<string, Digest> | undefined)[];
  size: number;
}

const EMPTY_ENTRIES: ReadonlyMap<string, Digest> = new Map();

/** @internal The per-slot trees without the rebuild machinery: what live and shadow trees share. */
export class SlotForest {
  readonly slots: (SlotTree | undefined)[] = new Array<SlotTree | undefined>(SLOT_COUNT).fill(undefined);
  size = 0;

  constructor(readonly bucketsPerSlot: number) {}

  get(slot: Slot, bucket: number, key: string): Digest | undefined {
    return this.slots[slot]?.buckets[bucket]?.get(key);
  }

  set(slot: Slot, bucket: number, key: string, digest: Digest | null): void {
    let tree = this.slots[slot];
    const old = tree?.buckets[bucket]?.get(key);
    if (old === undefined && digest === null) return;
    if (old !== undefined && digest !== null && digestsEqual(old, digest)) return;
    if (tree === undefined) {
      tree = {
        hashes: new Uint32Array(2 * (this.bucketsPerSlot + 1)),
        buckets: new Array<Map<string, Digest> | undefined>(this.bucketsPerSlot).fill(undefined),
        size: 0,
      };
      this.slots[slot] = tree;
    }
    let dHi = 0;
    let dLo = 0;
    if (old !== undefined) {
      const h = entryHash(key, old);
      dHi ^= h.hi;
      dLo ^= h.lo;
    }
    let entries = tree.buckets[bucket];
    if (digest !== null) {
      const h = entryHash(key, digest);
      dHi ^= h.hi;
      dLo ^= h.lo;
      if (entries === undefined) {
        entries = new Map();
        tree.buckets[bucket] = entries;
      }
      entries.set(key, digest);
      if (old === undefined) {
        tree.size++;
        this.size++;
      }
    } else {
      entries?.delete(key);
      if (entries !== undefined && entries.size === 0) tree.buckets[bucket] = undefined;
      tree.size--;
      this.size--;
    }
    const hs = tree.hashes;
    hs[0] = (hs[0]! ^ dHi) >>> 0;
    hs[1] = (hs[1]! ^ dLo) >>> 0;
    const b = 2 + 2 * bucket;
    hs[b] = (hs[b]! ^ dHi) >>> 0;
    hs[b + 1] = (hs[b + 1]! ^ dLo) >>> 0;
    if (tree.size === 0) this.slots[slot] = undefined;
  }
}

export class MerkleTree {
  readonly bucketsPerSlot: number;
  private live: SlotForest;
  private rebuilding: TreeRebuild | null = null;

  constructor(opts: { bucketsPerSlot: number }) {
    const b = opts.bucketsPerSlot;
    if (!Number.isSafeInteger(b) || b < 1 || b > BUCKETS_PER_SLOT_MAX || (b & (b - 1)) !== 0) {
      throw new RangeError(`bucketsPerSlot must be a power of two in 1..${BUCKETS_PER_SLOT_MAX}, got ${b}`);
    }
    this.bucketsPerSlot = b;
    this.live = new SlotForest(b);
  }

  /** Where a key sits: its slot and its bucket in that slot. */
  locate(key: string): { slot: Slot; bucket: number } {
    return { slot: keySlot(key), bucket: keyBucket(key, this.bucketsPerSlot) };
  }

  /** Records a key's new digest, or its removal from storage (null). O(1). */
  update(key: string, digest: Digest | null): void {
    const { slot, bucket } = this.locate(key);
    this.live.set(slot, bucket, key, digest);
    this.rebuilding?.touch(slot, bucket, key, digest);
  }

  get(key: string): Digest | undefined {
    const { slot, bucket } = this.locate(key);
    return this.live.get(slot, bucket, key);
  }

  /** Keys in the tree. */
  get size(): number {
    return this.live.size;
  }

  slotHash(slot: Slot): Digest {
    const t = this.live.slots[slot];
    return t === undefined ? ZERO_DIGEST : { hi: t.hashes[0]!, lo: t.hashes[1]! };
  }

  /** Keys in one slot. */
  slotSize(slot: Slot): number {
    return this.live.slots[slot]?.size ?? 0;
  }

  bucketHash(slot: Slot, bucket: number): Digest {
    const t = this.live.slots[slot];
    if (t === undefined) return ZERO_DIGEST;
    const i = 2 + 2 * bucket;
    return { hi: t.hashes[i]!, lo: t.hashes[i + 1]! };
  }

  bucketEntries(slot: Slot, bucket: number): ReadonlyMap<string, Digest> {
    return this.live.slots[slot]?.buckets[bucket] ?? EMPTY_ENTRIES;
  }

  /** XOR of the roots of slots in [lo, hi) that `member` admits (all when omitted). */
  rangeHash(lo: Slot, hi: Slot, member?: (slot: Slot) => boolean): Digest {
    let h = 0;
    let l = 0;
    const slots = this.live.slots;
    for (let s = lo; s < hi; s++) {
      const t = slots[s];
      if (t === undefined || (member !== undefined && !member(s))) continue;
      h ^= t.hashes[0]!;
      l ^= t.hashes[1]!;
    }
    return { hi: h >>> 0, lo: l >>> 0 };
  }

  /** The whole tree's hash (every slot). */
  rootHash(): Digest {
    return this.rangeHash(0, SLOT_COUNT);
  }

  /**
   * Starts rebuilding from a scan. Any rebuild in progress is abandoned (its scan restarts).
   * The returned handle is driven with `step` until it reports done.
   */
  beginRebuild(): TreeRebuild {
    this.rebuilding = new TreeRebuild(this, new SlotForest(this.bucketsPerSlot));
    return this.rebuilding;
  }

  /** @internal called by TreeRebuild when its scan is complete. */
  finishRebuild(r: TreeRebuild, forest: SlotForest): void {
    if (this.rebuilding !== r) throw new Error('finishRebuild: not the current rebuild');
    this.live = forest;
    this.rebuilding = null;
  }

  isCurrentRebuild(r: TreeRebuild): boolean {
    return this.rebuilding === r;
  }

  /** Recomputes every hash from the entries; throws when the incremental state disagrees. */
  invariants(): void {
    let count = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      const t = this.live.slots[s];
      if (t === undefined) continue;
      let rh = 0;
      let rl = 0;
      let size = 0;
      for (let b = 0; b < this.bucketsPerSlot; b++) {
        let bh = 0;
        let bl = 0;
        const entries = t.buckets[b];
        if (entries !== undefined && entries.size === 0) throw new Error(`antientropy: empty bucket map kept at ${s}/${b}`);
        for (const [k, d] of entries ?? EMPTY_ENTRIES) {
          const loc = this.locate(k);
          if (loc.slot !== s || loc.bucket !== b) throw new Error(`antientropy: key in the wrong bucket at ${s}/${b}`);
          const h = entryHash(k, d);
          bh ^= h.hi;
          bl ^= h.lo;
          size++;
        }
        if (t.hashes[2 + 2 * b] !== bh >>> 0 || t.hashes[3 + 2 * b] !== bl >>> 0) throw new Error(`antientropy: bucket hash drifted at ${s}/${b}`);
        rh ^= bh;
        rl ^= bl;
      }
      if (t.hashes[0] !== rh >>> 0 || t.hashes[1] !== rl >>> 0) throw new Error(`antientropy: slot root drifted at ${s}`);
      if (t.size !== size || size === 0) throw new Error(`antientropy: slot size wrong at ${s}`);
      count += size;
    }
    if (count !== this.live.size) throw new Error('antientropy: key count drifted');
  }
}

/** A bounded-step rebuild of a MerkleTree from a storage scan. */
export class TreeRebuild {
  /** Keys written (or deleted) since the rebuild began: their scan entries are stale. */
  private readonly touched = new Set<string>();
  private done = false;

  constructor(private readonly tree: MerkleTree, private readonly shadow: SlotForest) {}

  touch(slot: Slot, bucket: number, key: string, digest: Digest | null): void {
    this.touched.add(key);
    this.shadow.set(slot, bucket, key, digest);
  }

  /** Keys written during the rebuild (bounded by the writes the host accepted meanwhile). */
  get touchedCount(): number {
    return this.touched.size;
  }

  /**
   * Feeds at most `stepMax` entries from the scan. Returns true once the scan is exhausted and
   * the rebuilt tree has replaced the live one (or this rebuild was superseded by a newer one).
   */
  step(scan: Iterator<readonly [string, Digest]>, stepMax: number): boolean {
    if (!Number.isSafeInteger(stepMax) || stepMax < 1) throw new RangeError('stepMax must be a positive integer');
    if (this.done || !this.tree.isCurrentRebuild(this)) return true;
    for (let i = 0; i < stepMax; i++) {
      const next = scan.next();
      if (next.done === true) {
        this.done = true;
        this.tree.finishRebuild(this, this.shadow);
        return true;
      }
      const [key, digest] = next.value;
      if (this.touched.has(key)) continue;
      const { slot, bucket } = this.tree.locate(key);
      this.shadow.set(slot, bucket, key, digest);
    }
    return false;
  }
}
