/**
 * Failure-domain analysis of a member set: which zone and rack each member is in, and how
 * many replicas of one slot each zone and rack may hold.
 *
 * Rules (zone before rack, rack before host):
 * - A member without `zone` is in the default zone ''; a member without `rack` is a rack of its
 *   own (we know nothing that ties it to another member). Racks are named within their zone.
 * - Each slot's preference list has `listLength` = min(replicationFactor, members) distinct
 *   hosts, covers min(listLength, zones) distinct zones and min(listLength, racks) distinct racks.
 * - Per slot, a rack holds at most `rackCap` replicas and a zone at most `zoneCap`: the most
 *   even spread the domains' sizes allow (level t = smallest t with sum(min(size, t)) >= L).
 *   With as many racks as replicas that is one replica per rack ("no two in the same rack").
 * - `*MinTotal`/`*MaxTotal` turn the per-slot rules into bounds on how many of the 16384 * L
 *   slot-replicas a domain can hold; the quota computation respects them, so weights only
 *   decide within what the placement rules allow.
 */
import type { NodeId } from '../types.js';
import { SLOT_COUNT } from './key-slot.js';

/** A ring member: a host with a capacity weight and optional failure domains. */
export interface RingMember {
  readonly id: NodeId;
  /** Relative capacity; > 0 and finite. A member with weight 2 holds twice the replicas. */
  readonly weight: number;
  readonly rack?: string;
  readonly zone?: string;
}

export interface Topology {
  /** Sorted by id; index in this array is the host index used everywhere below. */
  readonly members: readonly RingMember[];
  readonly indexOf: ReadonlyMap<NodeId, number>;
  readonly listLength: number;
  readonly zoneCount: number;
  readonly rackCount: number;
  readonly zoneOf: Int32Array;
  readonly rackOf: Int32Array;
  readonly rackZone: Int32Array;
  /** Max replicas of one slot per zone / rack. */
  readonly zoneCap: Int32Array;
  readonly rackCap: Int32Array;
  readonly zonesRequired: number;
  readonly racksRequired: number;
  /** Bounds on total slot-replicas per domain over all slots. */
  readonly zoneMinTotal: Float64Array;
  readonly zoneMaxTotal: Float64Array;
  readonly rackMinTotal: Float64Array;
  readonly rackMaxTotal: Float64Array;
  readonly hostMinTotal: Float64Array;
  readonly hostMaxTotal: Float64Array;
}

const compareIds = (a: RingMember, b: RingMember): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Validates and returns a frozen copy of the members, sorted by id. */
export function normalizeMembers(members: readonly RingMember[]): readonly RingMember[] {
  if (!Array.isArray(members)) throw new TypeError('ring: members must be an array');
  if (members.length === 0) throw new RangeError('ring: at least one member is required');
  // A member past this would hold no primary; fallbackList also packs indices in 14 bits.
  if (members.length > SLOT_COUNT) throw new RangeError(`ring: at most ${SLOT_COUNT} members`);
  const out: RingMember[] = [];
  const seen = new Set<string>();
  for (const m of members) {
    if (typeof m.id !== 'string' || m.id.length === 0) throw new TypeError('ring: member id must be a non-empty string');
    if (seen.has(m.id)) throw new RangeError(`ring: duplicate member id ${m.id}`);
    seen.add(m.id);
    if (typeof m.weight !== 'number' || !Number.isFinite(m.weight) || m.weight <= 0) {
      throw new RangeError(`ring: member ${m.id} weight must be a finite number > 0`);
    }
    if (m.rack !== undefined && typeof m.rack !== 'string') throw new TypeError(`ring: member ${m.id} rack must be a string`);
    if (m.zone !== undefined && typeof m.zone !== 'string') throw new TypeError(`ring: member ${m.id} zone must be a string`);
    const copy: { id: NodeId; weight: number; rack?: string; zone?: string } = { id: m.id, weight: m.weight };
    if (m.rack !== undefined) copy.rack = m.rack;
    if (m.zone !== undefined) copy.zone = m.zone;
    out.push(Object.freeze(copy));
  }
  out.sort(compareIds);
  return Object.freeze(out);
}

/** Smallest t >= 1 with sum(min(size_i, t)) >= need (sizes sum to at least need). */
function evenLevel(sizes: ArrayLike<number>, need: number): number {
  let t = 1;
  for (;;) {
    let sum = 0;
    for (let i = 0; i < sizes.length; i++) sum += Math.min(sizes[i] ?? 0, t);
    if (sum >= need) return t;
    t++;
  }
}

export function analyzeTopology(members: readonly RingMember[], replicationFactor: number): Topology {
  const n = members.length;
  const L = Math.min(replicationFactor, n);
  const S = SLOT_COUNT;
  const indexOf = new Map<NodeId, number>();
  const zoneIds = new Map<string, number>();
  const rackIds = new Map<string, number>();
  const zoneOf = new Int32Array(n);
  const rackOf = new Int32Array(n);
  const rackZoneList: number[] = [];
  members.forEach((m, h) => {
    indexOf.set(m.id, h);
    const zoneKey = m.zone ?? '';
    let z = zoneIds.get(zoneKey);
    if (z === undefined) {
      z = zoneIds.size;
      zoneIds.set(zoneKey, z);
    }
    // '\u0000' cannot be confused with a rack name boundary; an unnamed rack is keyed by the id.
    const rackKey = m.rack === undefined ? `${zoneKey}\u0000#${m.id}` : `${zoneKey}\u0000=${m.rack}`;
    let r = rackIds.get(rackKey);
    if (r === undefined) {
      r = rackIds.size;
      rackIds.set(rackKey, r);
      rackZoneList.push(z);
    }
    zoneOf[h] = z;
    rackOf[h] = r;
  });
  const Z = zoneIds.size;
  const R = rackIds.size;
  const rackZone = Int32Array.from(rackZoneList);
  const hostsInRack = new Int32Array(R);
  for (let h = 0; h < n; h++) hostsInRack[rackOf[h]!]!++;

  const tRack = evenLevel(hostsInRack, L);
  const rackCap = new Int32Array(R);
  const zoneCapacity = new Int32Array(Z);
  for (let r = 0; r < R; r++) {
    rackCap[r] = Math.min(hostsInRack[r]!, tRack);
    zoneCapacity[rackZone[r]!]! += rackCap[r]!;
  }
  const tZone = evenLevel(zoneCapacity, L);
  const zoneCap = new Int32Array(Z);
  let zoneCapSum = 0;
  for (let z = 0; z < Z; z++) {
    zoneCap[z] = Math.min(zoneCapacity[z]!, tZone);
    zoneCapSum += zoneCap[z]!;
  }
  let rackCapSum = 0;
  for (let r = 0; r < R; r++) rackCapSum += rackCap[r]!;
  const zonesRequired = Math.min(L, Z);
  const racksRequired = Math.min(L, R);

  // Per-slot minimums: a domain must appear in every slot when every domain must, and must
  // take whatever the other domains' caps leave over.
  const zoneMin = new Int32Array(Z);
  for (let z = 0; z < Z; z++) {
    zoneMin[z] = Math.max(zonesRequired === Z ? 1 : 0, L - (zoneCapSum - zoneCap[z]!));
  }
  const rackCapInZone = new Int32Array(Z);
  for (let r = 0; r < R; r++) rackCapInZone[rackZone[r]!]! += rackCap[r]!;
  const rackMin = new Int32Array(R);
  for (let r = 0; r < R; r++) {
    const z = rackZone[r]!;
    rackMin[r] = Math.max(
      racksRequired === R ? 1 : 0,
      L - (rackCapSum - rackCap[r]!),
      zoneMin[z]! - (rackCapInZone[z]! - rackCap[r]!),
      0,
    );
  }
  const hostMinTotal = new Float64Array(n);
  const hostMaxTotal = new Float64Array(n).fill(S);
  for (let h = 0; h < n; h++) {
    const r = rackOf[h]!;
    hostMinTotal[h] = S * Math.max(0, L - (n - 1), rackMin[r]! - (hostsInRack[r]! - 1));
  }
  const rackMinTotal = new Float64Array(R);
  const rackMaxTotal = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    rackMinTotal[r] = S * rackMin[r]!;
    rackMaxTotal[r] = S * rackCap[r]!;
  }
  const zoneMinTotal = new Float64Array(Z);
  const zoneMaxTotal = new Float64Array(Z);
  const rackMinSumInZone = new Float64Array(Z);
  for (let r = 0; r < R; r++) rackMinSumInZone[rackZone[r]!]! += rackMinTotal[r]!;
  for (let z = 0; z < Z; z++) {
    zoneMinTotal[z] = Math.max(S * zoneMin[z]!, rackMinSumInZone[z]!);
    zoneMaxTotal[z] = S * zoneCap[z]!;
  }
  return {
    members,
    indexOf,
    listLength: L,
    zoneCount: Z,
    rackCount: R,
    zoneOf,
    rackOf,
    rackZone,
    zoneCap,
    rackCap,
    zonesRequired,
    racksRequired,
    zoneMinTotal,
    zoneMaxTotal,
    rackMinTotal,
    rackMaxTotal,
    hostMinTotal,
    hostMaxTotal,
  };
}
