/**
 * Shared helpers for the ring tests: member builders, an independent re-check of the
 * placement rules, balance figures and a replica-movement breakdown between two rings.
 * Nothing here calls the ring's own checkers, so the tests do not grade the code by itself.
 */
import fc from 'fast-check';
import { SLOT_COUNT, type RingMember, type RingState } from '../../src/core/ring/index.js';
import { nodeId, type NodeId } from '../../src/core/types.js';

export const S = SLOT_COUNT;

export function equalMembers(n: number, prefix = 'n'): RingMember[] {
  return Array.from({ length: n }, (_, i) => ({ id: nodeId(`${prefix}${String(i).padStart(4, '0')}`), weight: 1 }));
}

export interface Spec {
  members: RingMember[];
  replicationFactor: number;
}

/** Random member sets: 3..maxN members, optional integer weights, racks and zones. */
export function arbSpec(opts: { maxN?: number; weights?: boolean; racks?: boolean; zones?: boolean; rf?: fc.Arbitrary<number> } = {}): fc.Arbitrary<Spec> {
  const maxN = opts.maxN ?? 60;
  return fc
    .record({
      n: fc.integer({ min: 3, max: maxN }),
      rf: opts.rf ?? fc.constant(3),
      rackCount: opts.racks === true ? fc.integer({ min: 2, max: 8 }) : fc.constant(0),
      zoneCount: opts.zones === true ? fc.integer({ min: 2, max: 4 }) : fc.constant(0),
      seed: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 60, maxLength: 60 }),
    })
    .map(({ n, rf, rackCount, zoneCount, seed }) => {
      const members: RingMember[] = [];
      for (let i = 0; i < n; i++) {
        const r = seed[i % seed.length]! + i * 7919;
        const m: { id: NodeId; weight: number; rack?: string; zone?: string } = {
          id: nodeId(`h${(r % 9973).toString(36)}-${i}`),
          weight: opts.weights === true ? 1 + (r % 8) : 1,
        };
        if (rackCount > 0) m.rack = `r${(r >> 3) % rackCount}`;
        if (zoneCount > 0) m.zone = `z${(r >> 7) % zoneCount}`;
        members.push(m);
      }
      return { members, replicationFactor: rf };
    });
}

export const zoneKey = (m: RingMember): string => m.zone ?? '';
export const rackKey = (m: RingMember): string => (m.rack === undefined ? `${zoneKey(m)}/#${m.id}` : `${zoneKey(m)}/=${m.rack}`);

/**
 * The placement rules, checked from scratch: list length, distinct hosts, and as many distinct
 * zones (then racks) as the members offer, up to the list length.
 */
export function assertPlacementRules(ring: RingState): void {
  const byId = new Map(ring.members.map((m) => [m.id, m]));
  const L = Math.min(ring.replicationFactor, ring.members.length);
  const zones = new Set(ring.members.map(zoneKey)).size;
  const racks = new Set(ring.members.map(rackKey)).size;
  for (let s = 0; s < S; s++) {
    const list = ring.owners[s]!;
    if (list.length !== L) throw new Error(`slot ${s}: ${list.length} owners, want ${L}`);
    if (new Set(list).size !== L) throw new Error(`slot ${s}: repeated host ${list.join(',')}`);
    const ms = list.map((id) => {
      const m = byId.get(id);
      if (m === undefined) throw new Error(`slot ${s}: ${id} is not a member`);
      return m;
    });
    const dz = new Set(ms.map(zoneKey)).size;
    const dr = new Set(ms.map(rackKey)).size;
    if (dz < Math.min(L, zones)) throw new Error(`slot ${s}: ${dz} zones, want ${Math.min(L, zones)}`);
    if (dr < Math.min(L, racks)) throw new Error(`slot ${s}: ${dr} racks, want ${Math.min(L, racks)}`);
  }
}

export interface Balance {
  /** max over hosts of (replicas / weight) / (all replicas / all weight) */
  replicas: number;
  primaries: number;
}

export function balance(ring: RingState): Balance {
  const rep = new Map<NodeId, number>();
  const pri = new Map<NodeId, number>();
  let total = 0;
  for (let s = 0; s < S; s++) {
    ring.owners[s]!.forEach((id, p) => {
      rep.set(id, (rep.get(id) ?? 0) + 1);
      if (p === 0) pri.set(id, (pri.get(id) ?? 0) + 1);
      total++;
    });
  }
  const W = ring.members.reduce((a, m) => a + m.weight, 0);
  let maxR = 0;
  let maxP = 0;
  for (const m of ring.members) {
    maxR = Math.max(maxR, (rep.get(m.id) ?? 0) / m.weight);
    maxP = Math.max(maxP, (pri.get(m.id) ?? 0) / m.weight);
  }
  return { replicas: maxR / (total / W), primaries: maxP / (S / W) };
}

/**
 * True when weights alone decide the shares: no host, rack or zone would need more than one
 * replica per slot at its weight share (so caps never bind), and zones/racks, if labelled, are
 * at least as many as the list length. `maxShare` (default 1/L) bounds each domain's share of
 * the total weight.
 *
 * Why movement tests use 1/(L+1): a domain with share f sits in about L*f of all slots, so when
 * a member leaves it can only gain in the (1 - L*f) part of the freed slots where it is absent;
 * it needs f/(1-f) of them. Past f ~ 1/(L+1) its new quota cannot be met from freed slots
 * alone, and meeting it means shifting old replicas (or staying a little under quota).
 */
export function weightsDecide(spec: Spec, maxShare?: number): boolean {
  const L = Math.min(spec.replicationFactor, spec.members.length);
  const W = spec.members.reduce((a, m) => a + m.weight, 0);
  const limit = W * (maxShare ?? 1 / L) + 1e-9;
  const sums = (key: (m: RingMember) => string): number[] => {
    const acc = new Map<string, number>();
    for (const m of spec.members) acc.set(key(m), (acc.get(key(m)) ?? 0) + m.weight);
    return [...acc.values()];
  };
  if (spec.members.some((m) => m.weight > limit)) return false;
  const zoneSums = sums(zoneKey);
  if (zoneSums.length > 1 && (zoneSums.length < L || zoneSums.some((w) => w > limit))) return false;
  const rackSums = sums(rackKey);
  if (rackSums.length < spec.members.length && (rackSums.length < L || rackSums.some((w) => w > limit))) return false;
  return true;
}

export interface Movement {
  /** Slot-replicas newly held, per receiving host. */
  gained: Map<NodeId, number>;
  /** Slot-replicas no longer held, per giving host. */
  lost: Map<NodeId, number>;
  moved: number;
}

export function movement(a: RingState, b: RingState): Movement {
  const gained = new Map<NodeId, number>();
  const lost = new Map<NodeId, number>();
  let moved = 0;
  for (let s = 0; s < S; s++) {
    const from = a.owners[s]!;
    const to = b.owners[s]!;
    for (const id of to) {
      if (!from.includes(id)) {
        gained.set(id, (gained.get(id) ?? 0) + 1);
        moved++;
      }
    }
    for (const id of from) if (!to.includes(id)) lost.set(id, (lost.get(id) ?? 0) + 1);
  }
  return { gained, lost, moved };
}
