/**
 * Replica and primary quotas: how many of the 16384 * L slot-replicas (and of the 16384
 * primaries) each host should hold.
 *
 * Replicas are shared in proportion to weight ("water-filling"), clamped to what the
 * placement rules allow each zone, rack and host, top-down (zones, then racks within a zone,
 * then hosts within a rack) so the bounds of each level are honoured exactly. Fractional
 * shares are rounded to integers that sum exactly to the total.
 *
 * Rounding is sticky: the units left after taking floors go first to items currently holding
 * more than their floor. That is what keeps a change minimal: when a member joins, every old
 * member's share shrinks, and sticky rounding never asks an old member to take a replica it
 * did not have (and on removal never asks a survivor to give one up).
 *
 * Primaries are shared in proportion to replica quotas (a host is primary for about 1/L of
 * what it holds), so primaries are balanced wherever replicas are.
 */
import { SLOT_COUNT } from './key-slot.js';
import type { Topology } from './topology.js';

/**
 * Proportional shares of `total` with per-item bounds: value_i = clamp(lambda * w_i, lo_i, hi_i)
 * with lambda chosen so the values sum to total. Requires sum(lo) <= total <= sum(hi).
 */
export function waterFill(weights: ArrayLike<number>, lo: ArrayLike<number>, hi: ArrayLike<number>, total: number): Float64Array {
  const n = weights.length;
  const out = new Float64Array(n);
  let loSum = 0;
  let hiSum = 0;
  let lambdaHi = 0;
  for (let i = 0; i < n; i++) {
    loSum += lo[i]!;
    hiSum += hi[i]!;
    lambdaHi = Math.max(lambdaHi, hi[i]! / weights[i]!);
  }
  if (loSum > total + 1e-6 || hiSum < total - 1e-6) {
    throw new Error(`ring: quota bounds infeasible (min ${loSum}, max ${hiSum}, total ${total})`);
  }
  const f = (lambda: number): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.min(hi[i]!, Math.max(lo[i]!, lambda * weights[i]!));
    return sum;
  };
  let a = 0;
  let b = lambdaHi;
  // Bisection: f is continuous and non-decreasing; 100 halvings reach double precision.
  for (let it = 0; it < 100 && b - a > 0; it++) {
    const mid = (a + b) / 2;
    if (mid === a || mid === b) break;
    if (f(mid) < total) a = mid;
    else b = mid;
  }
  const lambda = Math.abs(f(a) - total) <= Math.abs(f(b) - total) ? a : b;
  for (let i = 0; i < n; i++) out[i] = Math.min(hi[i]!, Math.max(lo[i]!, lambda * weights[i]!));
  return out;
}

/**
 * Integers within [lo_i, hi_i] (integer bounds), each floor or ceil of value_i, summing to
 * `total`. Leftover units go to items whose current holding exceeds their floor first (sticky),
 * then to the largest fractional parts, then to the lowest index.
 */
export function roundSticky(
  values: ArrayLike<number>,
  lo: ArrayLike<number>,
  hi: ArrayLike<number>,
  current: ArrayLike<number>,
  total: number,
): Int32Array {
  const n = values.length;
  const out = new Int32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = Math.min(hi[i]!, Math.max(lo[i]!, values[i]!));
    out[i] = Math.floor(v + 1e-9);
    sum += out[i]!;
  }
  const k = total - sum;
  if (k < 0) throw new Error(`ring: rounding overshoots total by ${-k}`);
  if (k === 0) return out;
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (out[i]! < hi[i]!) order.push(i);
  const frac = (i: number): number => values[i]! - out[i]!;
  const sticky = (i: number): number => (current[i]! > out[i]! ? 1 : 0);
  order.sort((x, y) => sticky(y) - sticky(x) || frac(y) - frac(x) || x - y);
  if (order.length < k) throw new Error(`ring: cannot round ${k} leftover units`);
  for (let j = 0; j < k; j++) out[order[j]!]!++;
  return out;
}

/** Replica quota per host (sums to SLOT_COUNT * listLength), sticky to `current` counts. */
export function replicaQuotas(topo: Topology, current: ArrayLike<number>): Int32Array {
  const n = topo.members.length;
  const Z = topo.zoneCount;
  const R = topo.rackCount;
  const zoneWeight = new Float64Array(Z);
  const rackWeight = new Float64Array(R);
  const zoneCurrent = new Float64Array(Z);
  const rackCurrent = new Float64Array(R);
  for (let h = 0; h < n; h++) {
    const w = topo.members[h]!.weight;
    zoneWeight[topo.zoneOf[h]!]! += w;
    rackWeight[topo.rackOf[h]!]! += w;
    zoneCurrent[topo.zoneOf[h]!]! += current[h]!;
    rackCurrent[topo.rackOf[h]!]! += current[h]!;
  }
  const total = SLOT_COUNT * topo.listLength;
  const zoneValues = waterFill(zoneWeight, topo.zoneMinTotal, topo.zoneMaxTotal, total);
  const zoneQuota = roundSticky(zoneValues, topo.zoneMinTotal, topo.zoneMaxTotal, zoneCurrent, total);

  const racksOfZone: number[][] = Array.from({ length: Z }, () => []);
  for (let r = 0; r < R; r++) racksOfZone[topo.rackZone[r]!]!.push(r);
  const hostsOfRack: number[][] = Array.from({ length: R }, () => []);
  for (let h = 0; h < n; h++) hostsOfRack[topo.rackOf[h]!]!.push(h);

  const quota = new Int32Array(n);
  for (let z = 0; z < Z; z++) {
    const racks = racksOfZone[z]!;
    const pick = (arr: ArrayLike<number>): number[] => racks.map((r) => arr[r]!);
    const rv = waterFill(pick(rackWeight), pick(topo.rackMinTotal), pick(topo.rackMaxTotal), zoneQuota[z]!);
    const rq = roundSticky(rv, pick(topo.rackMinTotal), pick(topo.rackMaxTotal), pick(rackCurrent), zoneQuota[z]!);
    racks.forEach((r, j) => {
      const hosts = hostsOfRack[r]!;
      const hpick = (arr: ArrayLike<number>): number[] => hosts.map((h) => arr[h]!);
      const weights = hosts.map((h) => topo.members[h]!.weight);
      const hv = waterFill(weights, hpick(topo.hostMinTotal), hpick(topo.hostMaxTotal), rq[j]!);
      const hq = roundSticky(hv, hpick(topo.hostMinTotal), hpick(topo.hostMaxTotal), hpick(current), rq[j]!);
      hosts.forEach((h, i) => {
        quota[h] = hq[i]!;
      });
    });
  }
  return quota;
}

/** Primary quota per host (sums to SLOT_COUNT), proportional to replica quota, sticky. */
export function primaryQuotas(replicaQuota: Int32Array, listLength: number, currentPrimaries: ArrayLike<number>): Int32Array {
  const n = replicaQuota.length;
  const values = new Float64Array(n);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let h = 0; h < n; h++) {
    values[h] = replicaQuota[h]! / listLength;
    // A host holding a replica of every slot (L == members) can still be primary of none,
    // but never of more slots than it holds.
    hi[h] = replicaQuota[h]!;
  }
  return roundSticky(values, lo, hi, currentPrimaries, SLOT_COUNT);
}
