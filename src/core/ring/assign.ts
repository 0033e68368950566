/**
 * Slot-replica placement: from the previous preference lists (or none) and a new member set,
 * compute new lists that meet the quotas while changing as few slot-replicas as possible.
 *
 * Representation: `sets[slot * L + position]` = host index (members sorted by id), -1 = hole.
 * Position 0 is the primary (the master shown to Redis Cluster clients).
 *
 * Steps, each deterministic (no randomness; every tie has a fixed, NodeId-derived winner):
 * 1. Carry the previous lists over; removed members leave holes at their positions.
 * 2. Evict replicas that break the (possibly new) zone/rack rules, making more holes.
 * 3. Fill holes, slot by slot, with the feasible host furthest below quota, relative to its
 *    quota — zone first, then rack, then host — with a small bounded jitter per (domain,
 *    slot) so domains do not pair up in fixed patterns. From an empty ring this greedy builds
 *    the whole ring.
 * 4. Hosts above quota hand slots to hosts below quota; a donor's slots are tried fresh
 *    placements first, then in a per-donor hashed order, primaries first as far as the donor
 *    also has primaries to shed.
 * 5. Primaries: within each slot's fixed replica set, swap who is at position 0 (greedy one-step
 *    swaps, then shortest augmenting paths) until every host is at its primary quota. This
 *    moves no data.
 * When no under-quota host fits a hole, in order: a two-step repair through a replica placed
 * during this change (V moves from slot t into the hole, an under-quota host takes V's place:
 * no extra movement); a host up to OVER_QUOTA_TOLERANCE over quota; a two-step repair through
 * an old replica (one extra move); finally any host that keeps the rules (or, if none, any
 * host not in the slot — checkRing reports that; no tested configuration reaches it).
 *
 * Invariants on return: no holes; hosts distinct per slot. In all tested configurations the
 * zone and rack caps and distinct-zone/rack minimums hold, and every host ends at its replica
 * quota, or within the tolerance above it when a change could not otherwise avoid shuffling
 * old replicas.
 */
import { hashString, mix32 } from './hash.js';
import { SLOT_COUNT } from './key-slot.js';
import { primaryQuotas, replicaQuotas } from './quotas.js';
import type { Topology } from './topology.js';

const S = SLOT_COUNT;

/**
 * Deterministic pseudo-random jitter in [0, JITTER_PICKS) "picks", per (seed, slot): added to
 * a domain's progress when comparing deficits, so which domains share a slot varies from slot
 * to slot instead of following the beat pattern of a strict round robin. Strictly periodic
 * placement makes some pairs of racks (almost) always meet, and a later joiner in one of them
 * could then take no slot from the other without shuffling old members. Bounded, so deficits
 * still steer every domain to its quota.
 */
const JITTER_PICKS = 8;
/**
 * A host may end a change up to this fraction over quota when that spares moving a replica
 * between two old members (see pickTolerant). Small enough to keep max/mean under 1.05.
 */
const OVER_QUOTA_TOLERANCE = 0.03;
/** Repairs tried per over-quota donor before accepting a small imbalance. */
const REPAIR_ATTEMPTS_MAX = 4;
const JITTER = Float64Array.from({ length: 4096 }, (_, i) => (mix32(i, 0x5bd1e995) / 4294967296) * JITTER_PICKS);
const jitter = (seed: number, slot: number): number => JITTER[(seed + Math.imul(slot, 0x9e3779b1)) >>> 20]!;

export interface Placement {
  readonly sets: Int32Array;
  readonly replicaQuota: Int32Array;
  readonly primaryQuota: Int32Array;
  /** Slot-replicas that had to be placed through the two-step repair (for diagnostics). */
  readonly repairs: number;
}

class Assigner {
  readonly L: number;
  readonly n: number;
  readonly sets: Int32Array;
  /** 1 where the position got a new host during this change. */
  readonly fresh: Uint8Array;
  readonly count: Int32Array;
  /** count per host after evictions: what it keeps from before the change. */
  carried: Int32Array = new Int32Array(0);
  readonly primaries: Int32Array;
  readonly zoneCount: Int32Array;
  readonly rackCount: Int32Array;
  quota: Int32Array = new Int32Array(0);
  zoneQuota: Int32Array;
  rackQuota: Int32Array;
  repairs = 0;
  /** False when every host is its own rack: distinct hosts already means distinct racks. */
  readonly racksMatter: boolean;
  private readonly scratchZone: Int32Array;
  private readonly scratchRack: Uint8Array;
  /** One zone and no shared racks: placement rules reduce to distinct hosts. */
  readonly flat: boolean;
  /** Per-host and per-rack hash seeds for the placement jitter. */
  readonly seeds: Uint32Array;
  readonly rackSeeds: Uint32Array;

  constructor(
    readonly topo: Topology,
    sets: Int32Array,
  ) {
    this.L = topo.listLength;
    this.n = topo.members.length;
    this.sets = sets;
    this.fresh = new Uint8Array(sets.length);
    this.count = new Int32Array(this.n);
    this.primaries = new Int32Array(this.n);
    this.zoneCount = new Int32Array(topo.zoneCount);
    this.rackCount = new Int32Array(topo.rackCount);
    this.zoneQuota = new Int32Array(topo.zoneCount);
    this.rackQuota = new Int32Array(topo.rackCount);
    this.racksMatter = topo.racksRequired > 1 && topo.rackCount < this.n;
    this.seeds = Uint32Array.from(topo.members, (m) => hashString(m.id));
    this.rackSeeds = new Uint32Array(topo.rackCount);
    this.flat = topo.zoneCount === 1 && !this.racksMatter;
    this.scratchZone = new Int32Array(topo.zoneCount);
    this.scratchRack = new Uint8Array(topo.rackCount);
    topo.members.forEach((m, h) => {
      this.rackSeeds[topo.rackOf[h]!] = hashString(`${m.zone ?? ''}\u0000${m.rack ?? m.id}`);
    });
    for (let s = 0; s < S; s++) {
      for (let p = 0; p < this.L; p++) {
        const h = sets[s * this.L + p]!;
        if (h >= 0) this.add(h, p, 1);
      }
    }
  }

  setQuota(quota: Int32Array): void {
    this.quota = quota;
    this.zoneQuota.fill(0);
    this.rackQuota.fill(0);
    for (let h = 0; h < this.n; h++) {
      this.zoneQuota[this.topo.zoneOf[h]!]! += quota[h]!;
      this.rackQuota[this.topo.rackOf[h]!]! += quota[h]!;
    }
  }

  private add(h: number, p: number, d: number): void {
    this.count[h]! += d;
    this.zoneCount[this.topo.zoneOf[h]!]! += d;
    this.rackCount[this.topo.rackOf[h]!]! += d;
    if (p === 0) this.primaries[h]! += d;
  }

  /**
   * Puts host h (or a hole, h = -1) at (s, p), keeping all counters in step. Every put happens
   * as part of the change, so the position is marked fresh.
   */
  put(s: number, p: number, h: number): void {
    const i = s * this.L + p;
    const old = this.sets[i]!;
    if (old >= 0) this.add(old, p, -1);
    this.sets[i] = h;
    if (h >= 0) this.add(h, p, 1);
    this.fresh[i] = 1;
  }

  /**
   * May host h occupy (s, p), whatever is at p now? Checks distinct hosts, zone and rack caps,
   * and that the holes left in the slot can still reach the distinct zone/rack minimums.
   */
  canPlace(s: number, p: number, h: number): boolean {
    const { zoneOf, rackOf, zoneCap, rackCap, zonesRequired, racksRequired } = this.topo;
    const L = this.L;
    const base = s * L;
    const z = zoneOf[h]!;
    const r = rackOf[h]!;
    let zc = 1;
    let rc = 1;
    let holes = 0;
    for (let q = 0; q < L; q++) {
      if (q === p) continue;
      const o = this.sets[base + q]!;
      if (o < 0) {
        holes++;
        continue;
      }
      if (o === h) return false;
      if (zoneOf[o] === z) zc++;
      if (rackOf[o] === r) rc++;
    }
    if (zc > zoneCap[z]! || rc > rackCap[r]!) return false;
    // Distinct-domain minimums, counting each remaining hole as a domain still to come.
    if (zonesRequired > 1 && this.distinct(base, p, h, zoneOf) + holes < zonesRequired) return false;
    if (this.racksMatter && holes > 0) {
      const dr = this.distinct(base, p, h, rackOf);
      if (dr + holes < racksRequired) return false;
      if (dr < racksRequired && this.reachableRacks(base, p, h) < racksRequired - dr) return false;
    } else if (this.racksMatter && this.distinct(base, p, h, rackOf) < racksRequired) return false;
    return true;
  }

  /**
   * How many racks absent from the slot (with h at p) could still be added, given the room
   * left in their zones: the distinct-rack minimum must stay reachable under the zone caps.
   */
  private reachableRacks(base: number, p: number, h: number): number {
    const { zoneOf, rackOf, rackZone, zoneCap, rackCount: R } = this.topo;
    const zoneUsed = this.scratchZone;
    const rackUsed = this.scratchRack;
    zoneUsed.fill(0);
    rackUsed.fill(0);
    for (let q = 0; q < this.L; q++) {
      const o = q === p ? h : this.sets[base + q]!;
      if (o < 0) continue;
      zoneUsed[zoneOf[o]!]!++;
      rackUsed[rackOf[o]!] = 1;
    }
    // Room per zone, spent one rack at a time.
    for (let z = 0; z < zoneUsed.length; z++) zoneUsed[z] = zoneCap[z]! - zoneUsed[z]!;
    let reachable = 0;
    for (let r = 0; r < R; r++) {
      if (rackUsed[r] === 1) continue;
      const z = rackZone[r]!;
      if (zoneUsed[z]! > 0) {
        zoneUsed[z]!--;
        reachable++;
      }
    }
    return reachable;
  }

  /** Distinct domains in the slot at `base` with h at position p (holes ignored). */
  private distinct(base: number, p: number, h: number, domainOf: Int32Array): number {
    let d = 0;
    const L = this.L;
    for (let q = 0; q < L; q++) {
      const o = q === p ? h : this.sets[base + q]!;
      if (o < 0) continue;
      const dom = domainOf[o]!;
      let seen = false;
      for (let q2 = 0; q2 < q; q2++) {
        const o2 = q2 === p ? h : this.sets[base + q2]!;
        if (o2 >= 0 && domainOf[o2] === dom) {
          seen = true;
          break;
        }
      }
      if (!seen) d++;
    }
    return d;
  }

  /**
   * The feasible under-quota host for (s, p) furthest below quota (zone, rack, host), or -1.
   * "Furthest" is relative (the fraction of the quota still missing), so every domain fills
   * at the same pace: with absolute deficits the biggest racks would be picked together in
   * nearly every slot, and a later joiner in one of them could take no slot from the other
   * without shuffling replicas among old members.
   * Hosts are scanned in NodeId order rotated to a hashed start per (slot, position) and the
   * first best wins, so ties fall to a well-spread host. Breaking ties by NodeId alone would
   * build "striped" rings where each host shares slots with the same few neighbours, which
   * concentrates re-replication on them and makes primary rebalancing walk long chains.
   */
  pickUnder(s: number, p: number): number {
    const { zoneOf, rackOf } = this.topo;
    const n = this.n;
    let best = -1;
    let bz = 0;
    let br = 0;
    let bh = 0;
    let h = mix32(s, p + 1) % n;
    if (this.flat) {
      // One zone, every host its own rack: only host deficits matter, and only distinct hosts.
      const slotMix = Math.imul(s, 0x9e3779b1);
      const base = s * this.L;
      for (let j = 0; j < n; j++, h = h + 1 === n ? 0 : h + 1) {
        const qh = this.quota[h]!;
        const ch = this.count[h]!;
        if (ch >= qh) continue;
        const dh = 1 - (ch - JITTER[(this.seeds[h]! + slotMix) >>> 20]!) / qh;
        if (best >= 0 && dh <= bh) continue;
        let present = false;
        for (let q = 0; q < this.L; q++) if (q !== p && this.sets[base + q] === h) present = true;
        if (present) continue;
        best = h;
        bh = dh;
      }
      return best;
    }
    for (let j = 0; j < n; j++, h = h + 1 === n ? 0 : h + 1) {
      const qh = this.quota[h]!;
      const ch = this.count[h]!;
      if (ch >= qh) continue;
      const z = zoneOf[h]!;
      const r = rackOf[h]!;
      const dz = 1 - this.zoneCount[z]! / this.zoneQuota[z]!;
      const dr = 1 - (this.rackCount[r]! - jitter(this.rackSeeds[r]!, s)) / this.rackQuota[r]!;
      const dh = 1 - (ch - jitter(this.seeds[h]!, s)) / qh;
      if (best >= 0 && (dz < bz || (dz === bz && (dr < br || (dr === br && dh <= bh))))) continue;
      if (!this.canPlace(s, p, h)) continue;
      best = h;
      bz = dz;
      br = dr;
      bh = dh;
    }
    return best;
  }

  /**
   * Two-step repair: put some host V at (s, p), taking V from a slot t where an under-quota
   * host U may replace it. Positions placed during this change are tried first: re-homing a
   * replica that is moving anyway costs no extra movement. Returns false when no pair exists.
   */
  repair(s: number, p: number, freshOnly = false): boolean {
    const L = this.L;
    const under: number[] = [];
    for (let h = 0; h < this.n; h++) if (this.count[h]! < this.quota[h]!) under.push(h);
    if (under.length === 0) return false;
    const feasible = new Int8Array(this.n).fill(-1);
    const occupant = this.sets[s * L + p]!;
    for (const fresh of freshOnly ? [1] : [1, 0]) {
      for (let k = 1; k < S; k++) {
        const t = (s + k) % S;
        for (let q = 0; q < L; q++) {
          const i = t * L + q;
          if (this.fresh[i] !== fresh) continue;
          const v = this.sets[i]!;
          if (v < 0 || v === occupant) continue;
          if (feasible[v] === -1) feasible[v] = this.canPlace(s, p, v) ? 1 : 0;
          if (feasible[v] === 0) continue;
          for (const u of under) {
            if (!this.canPlace(t, q, u)) continue;
            this.put(t, q, u);
            this.put(s, p, v);
            this.repairs++;
            return true;
          }
        }
      }
    }
    return false;
  }

  /**
   * When no under-quota host fits (s, p): the feasible host with the lowest fill ratio that
   * stays within its tolerated maximum, or -1. Filling a hole slightly over quota is cheaper
   * than re-homing an old replica to make room, and rack rules can leave no other choice (a
   * rack present in nearly every slot can only gain in the few slots it is missing from).
   */
  pickTolerant(s: number, p: number): number {
    let best = -1;
    let bestFill = Infinity;
    for (let h = 0; h < this.n; h++) {
      if (this.count[h]! >= this.tolerated(h)) continue;
      const fill = this.count[h]! / this.quota[h]!;
      if (fill < bestFill && this.canPlace(s, p, h)) {
        best = h;
        bestFill = fill;
      }
    }
    return best;
  }

  /** The most replicas host h may end a change with when it got them by filling holes. */
  tolerated(h: number): number {
    return this.quota[h]! + Math.floor(this.quota[h]! * OVER_QUOTA_TOLERANCE);
  }

  /** Last resort for a hole: the feasible host with the most room, ignoring quota; else any host not in the slot. */
  forceFill(s: number, p: number): void {
    let best = -1;
    let bestRoom = -Infinity;
    for (let h = 0; h < this.n; h++) {
      const room = this.quota[h]! - this.count[h]!;
      if (room > bestRoom && this.canPlace(s, p, h)) {
        best = h;
        bestRoom = room;
      }
    }
    if (best < 0) {
      for (let h = 0; h < this.n && best < 0; h++) {
        let present = false;
        for (let q = 0; q < this.L; q++) if (this.sets[s * this.L + q] === h) present = true;
        if (!present) best = h;
      }
    }
    if (best < 0) throw new Error(`ring: no host can fill slot ${s} position ${p}`);
    this.put(s, p, best);
  }

  /** Step 2: evict replicas until every slot meets the caps and the distinct minimums. */
  evictViolations(): void {
    const { zoneOf, rackOf, zoneCap, rackCap, zonesRequired, racksRequired } = this.topo;
    const L = this.L;
    const simple = this.topo.zoneCount === 1 && !this.racksMatter;
    for (let s = 0; s < S; s++) {
      // One zone and one host per rack: distinct hosts (always true) is the only rule.
      if (simple) break;
      for (;;) {
        const base = s * L;
        let holes = 0;
        for (let q = 0; q < L; q++) if (this.sets[base + q]! < 0) holes++;
        const sameZone = (q: number): number => this.sameDomain(base, q, zoneOf);
        const sameRack = (q: number): number => this.sameDomain(base, q, rackOf);
        let test: ((q: number) => boolean) | null = null;
        for (let q = 0; q < L && test === null; q++) {
          const h = this.sets[base + q]!;
          if (h < 0) continue;
          if (sameZone(q) > zoneCap[zoneOf[h]!]!) test = (x) => sameZone(x) > zoneCap[zoneOf[this.sets[base + x]!]!]!;
        }
        for (let q = 0; q < L && test === null; q++) {
          const h = this.sets[base + q]!;
          if (h < 0) continue;
          if (sameRack(q) > rackCap[rackOf[h]!]!) test = (x) => sameRack(x) > rackCap[rackOf[this.sets[base + x]!]!]!;
        }
        if (test === null && this.distinct(base, -1, -1, zoneOf) + holes < zonesRequired) test = (x) => sameZone(x) > 1;
        if (test === null && this.distinct(base, -1, -1, rackOf) + holes < racksRequired) test = (x) => sameRack(x) > 1;
        if (test === null) break;
        // Evict the violating replica whose host is furthest above quota (later position on ties).
        let victim = -1;
        let worst = -Infinity;
        for (let q = 0; q < L; q++) {
          const h = this.sets[base + q]!;
          if (h < 0 || !test(q)) continue;
          const over = this.count[h]! - this.quota[h]!;
          if (over >= worst) {
            worst = over;
            victim = q;
          }
        }
        if (victim < 0) throw new Error(`ring: cannot resolve placement rules in slot ${s}`);
        this.put(s, victim, -1);
      }
    }
  }

  /** How many hosts in the slot share the domain of the host at position q (itself included). */
  private sameDomain(base: number, q: number, domainOf: Int32Array): number {
    const h = this.sets[base + q]!;
    if (h < 0) return 0;
    const dom = domainOf[h]!;
    let c = 0;
    for (let x = 0; x < this.L; x++) {
      const o = this.sets[base + x]!;
      if (o >= 0 && domainOf[o] === dom) c++;
    }
    return c;
  }

  /** Step 3. */
  fillHoles(): void {
    const L = this.L;
    for (let s = 0; s < S; s++) {
      for (let p = 0; p < L; p++) {
        if (this.sets[s * L + p]! >= 0) continue;
        const h = this.pickUnder(s, p);
        if (h >= 0) {
          this.put(s, p, h);
          continue;
        }
        if (this.repair(s, p, true)) continue;
        const t = this.pickTolerant(s, p);
        if (t >= 0) this.put(s, p, t);
        else if (!this.repair(s, p)) this.forceFill(s, p);
      }
    }
  }

  /** Step 4. */
  shedExcess(primaryQuota: Int32Array): void {
    const L = this.L;
    const over: number[] = [];
    for (let h = 0; h < this.n; h++) if (this.count[h]! > this.quota[h]!) over.push(h);
    if (over.length === 0) return;
    const positions = new Map<number, { primary: number[]; other: number[] }>();
    for (const h of over) positions.set(h, { primary: [], other: [] });
    for (let i = 0; i < S * L; i++) {
      const lists = positions.get(this.sets[i]!);
      if (lists !== undefined) (i % L === 0 ? lists.primary : lists.other).push(i);
    }
    for (const x of over) {
      const lists = positions.get(x)!;
      const seed = hashString(this.topo.members[x]!.id);
      const key = (i: number): number => mix32(Math.floor(i / L), seed);
      const byKey = (a: number, b: number): number => key(a) - key(b) || a - b;
      lists.primary.sort(byKey);
      lists.other.sort(byKey);
      const primaryToShed = Math.max(0, this.primaries[x]! - primaryQuota[x]!);
      const order = [
        ...lists.primary.slice(0, primaryToShed),
        ...lists.other,
        ...lists.primary.slice(primaryToShed),
      ];
      // Replicas placed on x during this change go first (handing them on costs nothing);
      // replicas x held before go only while x holds more than it held before the change's
      // fills allowed (its carried-over excess) or more than tolerated.
      const limit = this.carried[x]! > this.quota[x]! ? this.quota[x]! : Math.min(this.tolerated(x), this.count[x]!);
      const stable = (i: number): number => this.fresh[i]!;
      order.sort((i, j) => stable(j) - stable(i));
      for (const i of order) {
        const target = this.fresh[i] === 1 ? this.quota[x]! : limit;
        if (this.count[x]! <= target) continue;
        const s = Math.floor(i / L);
        const p = i % L;
        if (this.sets[i] !== x) continue;
        const u = this.pickUnder(s, p);
        if (u >= 0) this.put(s, p, u);
      }
      if (this.count[x]! <= limit) continue;
      // A failed repair scans every slot, so give up on a donor after a few: being one or two
      // replicas over quota is better than a slow change.
      let attempts = 0;
      for (const i of order) {
        if (this.count[x]! <= limit || attempts >= REPAIR_ATTEMPTS_MAX) break;
        if (this.sets[i] !== x) continue;
        attempts++;
        this.repair(Math.floor(i / L), i % L);
      }
    }
  }

  /** Step 5: balance primaries by swapping positions within slots (no data moves). */
  balancePrimaries(primaryQuota: Int32Array): void {
    const L = this.L;
    if (L < 2) return;
    const n = this.n;
    // Slots of each host, CSR layout.
    const start = new Int32Array(n + 1);
    for (let i = 0; i < S * L; i++) start[this.sets[i]! + 1]!++;
    for (let h = 0; h < n; h++) start[h + 1]! += start[h]!;
    const fill = start.slice(0, n);
    const slotsOf = new Int32Array(S * L);
    for (let i = 0; i < S * L; i++) slotsOf[fill[this.sets[i]!]!++] = Math.floor(i / L);

    // Greedy pass: one-step swaps from an over-quota primary to an under-quota holder.
    for (let s = 0; s < S; s++) {
      const a = this.sets[s * L]!;
      if (this.primaries[a]! <= primaryQuota[a]!) continue;
      for (let q = 1; q < L; q++) {
        const b = this.sets[s * L + q]!;
        if (this.primaries[b]! < primaryQuota[b]!) {
          this.swapToFront(s, b);
          break;
        }
      }
    }
    const visited = new Int32Array(n);
    const parentHost = new Int32Array(n);
    const parentSlot = new Int32Array(n);
    const queue = new Int32Array(n);
    let stamp = 0;
    const augment = (x: number): boolean => {
      stamp++;
      visited[x] = stamp;
      let head = 0;
      let tail = 0;
      queue[tail++] = x;
      while (head < tail) {
        const a = queue[head++]!;
        for (let k = start[a]!; k < start[a + 1]!; k++) {
          const s = slotsOf[k]!;
          if (this.sets[s * L] !== a) continue;
          for (let q = 1; q < L; q++) {
            const b = this.sets[s * L + q]!;
            if (visited[b] === stamp) continue;
            visited[b] = stamp;
            parentHost[b] = a;
            parentSlot[b] = s;
            if (this.primaries[b]! < primaryQuota[b]!) {
              for (let c = b; c !== x; ) {
                const pa = parentHost[c]!;
                this.swapToFront(parentSlot[c]!, c);
                c = pa;
              }
              return true;
            }
            queue[tail++] = b;
          }
        }
      }
      return false;
    };
    for (let x = 0; x < n; x++) {
      while (this.primaries[x]! > primaryQuota[x]! && augment(x));
    }
  }

  /** Makes host h (already in slot s) the primary; the old primary takes h's position. */
  private swapToFront(s: number, h: number): void {
    const base = s * this.L;
    for (let q = 1; q < this.L; q++) {
      if (this.sets[base + q] === h) {
        const old = this.sets[base]!;
        this.sets[base] = h;
        this.sets[base + q] = old;
        this.primaries[old]!--;
        this.primaries[h]!++;
        return;
      }
    }
    throw new Error(`ring: host ${h} is not in slot ${s}`);
  }
}

/**
 * Computes a placement for `topo` starting from `sets` (length SLOT_COUNT * listLength, host
 * indices of the new member set or -1), which it takes ownership of and mutates.
 */
export function assignSlots(topo: Topology, sets: Int32Array): Placement {
  if (sets.length !== S * topo.listLength) throw new RangeError('ring: placement array has the wrong length');
  const a = new Assigner(topo, sets);
  // Quotas are sticky to what hosts hold now (before evictions), so the change stays minimal.
  a.setQuota(replicaQuotas(topo, a.count));
  a.evictViolations();
  a.carried = a.count.slice();
  a.fillHoles();
  const primaryQuota = primaryQuotas(a.quota, topo.listLength, a.primaries);
  a.shedExcess(primaryQuota);
  a.balancePrimaries(primaryQuota);
  return { sets: a.sets, replicaQuota: a.quota, primaryQuota, repairs: a.repairs };
}
