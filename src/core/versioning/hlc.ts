/**
 * Hybrid logical clocks (Kulkarni et al., "Logical Physical Clocks and Consistent Snapshots in
 * Globally Distributed Databases", 2014). A timestamp is (wallMs, logical, node):
 *   - wallMs tracks the largest physical time seen, so timestamps stay close to real time;
 *   - logical orders events inside one millisecond and when a clock runs behind what it saw;
 *   - node breaks the remaining ties, so the order of timestamps is total and the same on
 *     every replica (last-writer-wins needs that).
 *
 * Laws (tested): `now()` is strictly increasing on one clock whatever physical times it is
 * fed (a wall clock stepping backwards cannot make it go back); after `observe(t)`, the next
 * `now()` is greater than `t`. Time is passed in: this file never reads a clock itself.
 */
import type { NodeId } from '../types.js';

export interface Hlc {
  /** Largest physical time (ms since the epoch) this timestamp has seen. */
  readonly wallMs: number;
  /** Counter within `wallMs`. */
  readonly logical: number;
  /** The node whose clock issued it; the last tie-breaker. */
  readonly node: NodeId;
}

/**
 * The logical counter wraps into the next millisecond past this bound rather than growing
 * without limit (HLC's logical part is bounded in practice by events per ms; this keeps every
 * field a small integer in the codec even under a clock stuck in the past).
 */
export const HLC_LOGICAL_MAX = 0xffff_ffff;

/** Total order: wallMs, then logical, then node id (code-unit order, the same everywhere). */
export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

export function maxHlc(a: Hlc, b: Hlc): Hlc {
  return compareHlc(a, b) >= 0 ? a : b;
}

/** The smallest timestamp of a node: the clock's state before its first event. */
export function zeroHlc(node: NodeId): Hlc {
  return { wallMs: 0, logical: 0, node };
}

function checkPhysical(physicalMs: number): void {
  if (!Number.isSafeInteger(physicalMs) || physicalMs < 0) {
    throw new RangeError(`physicalMs must be a non-negative safe integer, got ${physicalMs}`);
  }
}

/**
 * One node's clock. Mutable on purpose: it is part of a node's state, driven by the tick times
 * the node receives. Not persisted: after a restart the clock starts from the physical time
 * again, and writers re-establish order per key by observing the stored record's timestamps
 * before stamping (see `stampWrite` in dvvset.ts).
 */
export class HybridClock {
  readonly node: NodeId;
  private wallMs = 0;
  private logical = 0;

  constructor(node: NodeId) {
    this.node = node;
  }

  /** The last timestamp issued or observed (not a new event). */
  peek(): Hlc {
    return { wallMs: this.wallMs, logical: this.logical, node: this.node };
  }

  /** A new timestamp for a local event, strictly greater than every earlier one of this clock. */
  now(physicalMs: number): Hlc {
    checkPhysical(physicalMs);
    if (physicalMs > this.wallMs) {
      this.wallMs = physicalMs;
      this.logical = 0;
    } else {
      this.bumpLogical();
    }
    return this.peek();
  }

  /**
   * Folds in a timestamp seen elsewhere (a message, a stored record), so the next `now()` is
   * greater than it. Issues no timestamp of its own. Remote node ids do not matter here: the
   * next local stamp is strictly greater in (wallMs, logical) already.
   */
  observe(remote: Hlc, physicalMs: number): void {
    checkPhysical(physicalMs);
    if (!Number.isSafeInteger(remote.wallMs) || remote.wallMs < 0 || !Number.isSafeInteger(remote.logical) || remote.logical < 0) {
      throw new RangeError('observed timestamp is not a valid HLC');
    }
    const wall = Math.max(this.wallMs, remote.wallMs, physicalMs);
    if (wall === this.wallMs && wall === remote.wallMs) {
      this.logical = Math.max(this.logical, remote.logical);
    } else if (wall === remote.wallMs) {
      this.wallMs = wall;
      this.logical = remote.logical;
    } else if (wall !== this.wallMs) {
      this.wallMs = wall;
      this.logical = 0;
    }
    // Do not bump here: `now()` bumps, and `observe` is not an event.
  }

  private bumpLogical(): void {
    if (this.logical >= HLC_LOGICAL_MAX) {
      // Borrow the next millisecond instead of overflowing; still strictly increasing.
      this.wallMs += 1;
      this.logical = 0;
    } else {
      this.logical += 1;
    }
  }
}
