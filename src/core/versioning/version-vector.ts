/**
 * Version vectors: the causal context a client reads and hands back with its next write.
 *
 * A vector maps node -> counter and stands for the set of dots {(node, 1..counter)}: every
 * write a node coordinated for this key, up to `counter`. Representation invariants (checked
 * by `assertVersionVector`, kept by every function here): entries sorted by node id in
 * code-unit order, node ids unique, counters positive safe integers. Because of them two equal
 * vectors have equal arrays, and the codec output is canonical.
 *
 * `join` is the least upper bound (pointwise max): commutative, associative, idempotent.
 * `descends(a, b)` is the partial order: a has seen everything b has.
 */
import type { NodeId } from '../types.js';

export interface Dot {
  readonly node: NodeId;
  readonly counter: number;
}

export interface VvEntry {
  readonly node: NodeId;
  readonly counter: number;
}

/** A version vector. Treat as opaque outside this folder; build it with the functions here. */
export type VersionVector = readonly VvEntry[];

export const EMPTY_VV: VersionVector = Object.freeze([]) as VersionVector;

/** Code-unit order on node ids: deterministic and locale-free on every replica. */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

export function compareDots(a: Dot, b: Dot): number {
  const byNode = compareNodeIds(a.node, b.node);
  if (byNode !== 0) return byNode;
  return a.counter === b.counter ? 0 : a.counter < b.counter ? -1 : 1;
}

/** The counter of `node` in `vv` (0 when absent). Linear: vectors hold one entry per writer. */
export function counterOf(vv: VersionVector, node: NodeId): number {
  for (const e of vv) {
    if (e.node === node) return e.counter;
  }
  return 0;
}

/** True when the vector's history contains the dot. */
export function covers(vv: VersionVector, dot: Dot): boolean {
  return counterOf(vv, dot.node) >= dot.counter;
}

/** Pointwise max. Both inputs sorted, so a merge walk keeps the output sorted. */
export function joinVv(a: VersionVector, b: VersionVector): VersionVector {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: VvEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x === undefined) {
      out.push(y as VvEntry);
      j++;
    } else if (y === undefined) {
      out.push(x);
      i++;
    } else {
      const c = compareNodeIds(x.node, y.node);
      if (c < 0) {
        out.push(x);
        i++;
      } else if (c > 0) {
        out.push(y);
        j++;
      } else {
        out.push(x.counter >= y.counter ? x : y);
        i++;
        j++;
      }
    }
  }
  return out;
}

/** The vector with `node`'s counter raised to at least `counter`. */
export function withCounter(vv: VersionVector, node: NodeId, counter: number): VersionVector {
  return joinVv(vv, [{ node, counter }]);
}

/** a has seen every dot b has (a >= b pointwise). Reflexive: descends(a, a) holds. */
export function descends(a: VersionVector, b: VersionVector): boolean {
  for (const e of b) {
    if (counterOf(a, e.node) < e.counter) return false;
  }
  return true;
}

export function equalVv(a: VersionVector, b: VersionVector): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as VvEntry;
    const y = b[i] as VvEntry;
    if (x.node !== y.node || x.counter !== y.counter) return false;
  }
  return true;
}

/** Neither descends from the other. */
export function concurrent(a: VersionVector, b: VersionVector): boolean {
  return !descends(a, b) && !descends(b, a);
}

/** Builds a vector from unsorted pairs (tests, tools); later duplicates are joined by max. */
export function vvFrom(entries: Iterable<readonly [NodeId, number]>): VersionVector {
  let vv: VersionVector = EMPTY_VV;
  for (const [node, counter] of entries) {
    if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError(`bad counter ${counter}`);
    if (counter > 0) vv = withCounter(vv, node, counter);
  }
  return vv;
}

/** Throws if the representation invariants do not hold (a programming error, not input). */
export function assertVersionVector(vv: VersionVector): void {
  for (let i = 0; i < vv.length; i++) {
    const e = vv[i] as VvEntry;
    if (typeof e.node !== 'string' || !Number.isSafeInteger(e.counter) || e.counter < 1) {
      throw new Error(`version vector entry ${i} is malformed`);
    }
    const prev = vv[i - 1];
    if (prev !== undefined && compareNodeIds(prev.node, e.node) >= 0) {
      throw new Error('version vector entries are not strictly sorted by node');
    }
  }
}
