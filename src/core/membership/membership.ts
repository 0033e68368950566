/**
 * SWIM-style membership and failure detection as a sans-IO state machine (Das, Gupta and
 * Motivala, "SWIM", 2002; with Lifeguard's dogpile and buddy refinements, Dadgar et al., 2018).
 *
 * The host steps it with ticks and received messages and executes the sends it takes back; it
 * reports member statuses and their changes, nothing else. Failure detection changes ROUTING,
 * never ownership: the ring is changed only by explicit, versioned ring operations elsewhere.
 * Membership carries the sender's ring epoch (and, on full syncs, an opaque ring payload) so the
 * node can learn of a newer ring, but never interprets it.
 *
 * Protocol, per probe period (`probeIntervalMs`):
 * - probe the next member of a shuffled round-robin list (reshuffled when exhausted, newcomers
 *   inserted at a random later position), so every member is probed at least once every two
 *   passes of the list;
 * - if no ack within `probeTimeoutMs`, ask `indirectProbes` random members to probe it for us
 *   (ping_req) and forward its ack;
 * - with no ack, direct or indirect, by the end of the period, suspect the member: gossip a
 *   suspect update that names this node as a source.
 *
 * The death rule (the "two independent sources"): a member goes from suspect to dead
 * only when BOTH (a) at least `suspicionSourcesMin` (>= 2) distinct members have suspected it at
 * its current incarnation — each by its own failed direct and indirect probes — and (b) the
 * suspicion timeout has run out on this node's clock since it first heard of the suspicion,
 * followed by a "last call": the suspicion is gossiped once more and death waits one more probe
 * period, so a node that only missed the refutation is corrected by its peers first. The
 * timeout shrinks from `suspicionMaxMult` x to 1 x the base as independent confirmations arrive
 * (Lifeguard's dogpile scaling, with K = `suspicionConfirmations`), base =
 * `suspicionMult` * max(1, log10 n) * probeIntervalMs. With a single source the suspicion never
 * becomes a death, however long it lasts: one node with a broken link to X cannot kill X. A
 * dead update, once declared by a node that applied this rule, is accepted as is by the others.
 * Consequence: a cluster with a single other member (two nodes) can suspect but never declare death.
 *
 * Refutation: a member that hears it is suspected (or declared dead) at an incarnation >= its own
 * raises its incarnation past it and gossips alive, pushing it at once (a `gossip` message) to
 * the member that told it and `indirectProbes` random others, since every suspecting node's
 * clock is already running; a higher incarnation overrides any status. Probe messages carry the sender's incarnation, so hearing from a member directly also refutes.
 * A peer that gossips an older incarnation than ours is sent our view (corrections), since under
 * loss a refutation can miss one node, which would later declare a refuted member dead.
 * When replying to a member this node does not think alive, the update about that member is put
 * first in the reply (Lifeguard's buddy system), so a wrongly suspected member hears of it at once.
 *
 * Local health (Lifeguard): each probe that gets no ack at all, and each suspicion about this
 * node, raises a score (to `healthMax`); each acked probe lowers it. The probe period and probe
 * timeout are multiplied by score + 1, so a node that is itself the problem (overloaded, deaf)
 * slows its accusations instead of flooding the cluster with them. Off by default (see
 * MEMBERSHIP_DEFAULTS.healthMax for the measured reason).
 *
 * Dissemination: updates ride on ping, ack, ping_req (and refutation gossip) messages, at most `piggybackUpdatesMax`
 * and `piggybackBytesMax` per message, each update sent at most
 * `retransmitMult * ceil(log10(n + 1))` times by each node (SWIM's λ·log n).
 *
 * Join and anti-entropy: a node with no live peer sends a full-state sync to its seeds in turn
 * every `joinRetryMs`; every `pushPullIntervalMs` it syncs with one random live member and one
 * random member it holds dead (so the two sides of a healed partition find each other again). A
 * sync carries at most `syncMembersMax` members.
 *
 * Bounds: `membersMax` members (dead and left members are evicted, oldest first, to make room;
 * otherwise a newcomer is refused), one queued update per member, `relaysMax` pending indirect
 * probes run for others, `suspicionSourcesMax` sources per suspicion, owed corrections for at
 * most 64 peers.
 *
 * Invariants (`invariants()`): own record alive or left at the current incarnation; the live
 * count, suspect set and member table agree; every suspect has between 1 and
 * `suspicionSourcesMax` distinct sources; all bounds hold.
 */
import type { NodeId, Random } from '../types.js';
import { BroadcastQueue, updateBytes } from './broadcast-queue.js';
import type { MemberStatus, MemberUpdate, MembershipEffect, MembershipInput, MembershipMessage } from './messages.js';

export interface MembershipOptions {
  readonly self: NodeId;
  /** Strictly increases across restarts of the same node (persisted by the host). */
  readonly incarnation: number;
  readonly random: Random;
  /** The node's clock at construction (before the first tick). */
  readonly startMs: number;
  /** Members to join through (this node's own id is skipped). */
  readonly seeds: readonly NodeId[];
  /** Members known at start, taken as alive at incarnation 0 (a static bootstrap; may be empty). */
  readonly members: readonly NodeId[];
  readonly ringEpoch: number;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  /** k: members asked to probe indirectly when the direct probe times out. */
  readonly indirectProbes: number;
  readonly suspicionMult: number;
  readonly suspicionMaxMult: number;
  /** Distinct suspecting members needed before a suspect can be declared dead (>= 2). */
  readonly suspicionSourcesMin: number;
  /** Lifeguard's K: confirmations after which the suspicion timeout reaches its minimum. */
  readonly suspicionConfirmations: number;
  readonly suspicionSourcesMax: number;
  /** λ in SWIM's λ·log n retransmissions per update. */
  readonly retransmitMult: number;
  readonly piggybackUpdatesMax: number;
  readonly piggybackBytesMax: number;
  readonly membersMax: number;
  /** Pending indirect probes this node runs on behalf of others. */
  readonly relaysMax: number;
  readonly pushPullIntervalMs: number;
  readonly syncMembersMax: number;
  readonly joinRetryMs: number;
  readonly ringPayloadBytesMax: number;
  /** Lifeguard local-health ceiling: probes slow to (healthMax + 1) x when this node misses acks; 0 disables. */
  readonly healthMax: number;
}

export const MEMBERSHIP_DEFAULTS = {
  seeds: [],
  members: [],
  ringEpoch: 0,
  probeIntervalMs: 1000,
  probeTimeoutMs: 400,
  indirectProbes: 3,
  suspicionMult: 4,
  suspicionMaxMult: 6,
  suspicionSourcesMin: 2,
  suspicionConfirmations: 3,
  suspicionSourcesMax: 8,
  retransmitMult: 4,
  piggybackUpdatesMax: 16,
  piggybackBytesMax: 1200,
  membersMax: 2048,
  relaysMax: 64,
  pushPullIntervalMs: 30_000,
  syncMembersMax: 2048,
  joinRetryMs: 1000,
  ringPayloadBytesMax: 64 * 1024,
  // Off by default: under uniform message loss every node's score rises, refutations spread more
  // slowly and false deaths went up in simulation (0 -> ~0.1-0.3 per node-hour at 30% loss).
  // Worth turning on (Lifeguard uses 8) where one slow or deaf node is the likelier fault.
  healthMax: 0,
} as const satisfies Partial<MembershipOptions>;

export interface MembershipStats {
  probes: number;
  /** Probes with no ack, direct or indirect, by the end of their period. */
  probesFailed: number;
  indirectProbes: number;
  /** Suspicions this node started from its own failed probe of a member it held alive. */
  suspicionsRaised: number;
  /** Own failed probes of a member already suspect: this node joins the suspicion's sources. */
  suspicionsConfirmed: number;
  /** Suspect updates this node adopted (own or gossiped, one per member and incarnation). */
  suspicionsAdopted: number;
  deathsDeclared: number;
  refutations: number;
  relaysDropped: number;
  membersRefused: number;
  syncs: number;
  /** Own newer views re-gossiped because a peer sent an older incarnation. */
  corrections: number;
}

interface Member {
  readonly id: NodeId;
  status: MemberStatus;
  incarnation: number;
  changedAtMs: number;
  /** When this node first heard the current suspicion (valid while suspect). */
  suspectSinceMs: number;
  /** When the timeout ran out and the suspicion was gossiped a last time (-1: not yet). */
  lastCallMs: number;
  sources: NodeId[];
  deadFrom: NodeId | null;
  /** Highest ring epoch reported for this peer, and the highest reported with a payload. */
  ringEpochSeen: number;
  ringPayloadEpochSeen: number;
}

interface Probe {
  readonly target: NodeId;
  readonly incarnation: number;
  readonly seq: number;
  readonly startMs: number;
  acked: boolean;
  indirectSent: boolean;
}

interface Relay {
  readonly requester: NodeId;
  readonly requesterSeq: number;
  readonly target: NodeId;
  readonly deadlineMs: number;
}

/** Peers owed a correction at once; beyond this, corrections rely on the gossip queue alone. */
const CORRECTION_PEERS_MAX = 64;

const isLive = (s: MemberStatus): boolean => s === 'alive' || s === 'suspect';

export class Membership {
  readonly id: NodeId;
  private nowMs: number;
  private incarnation: number;
  private ringEpoch: number;
  private ring: Uint8Array | null = null;
  private effects: MembershipEffect[] = [];
  private readonly members = new Map<NodeId, Member>();
  private readonly suspects = new Set<NodeId>();
  private liveCount = 0;
  private readonly queue: BroadcastQueue;
  private probeOrder: NodeId[] = [];
  private probeIndex = 0;
  private probe: Probe | null = null;
  private nextProbeMs: number;
  private nextPushPullMs: number;
  private nextJoinMs: number;
  private joinIndex = 0;
  private seq = 0;
  /** Lifeguard's local health multiplier, 0 (healthy) .. healthMax; scales probe period and timeout. */
  private health = 0;
  private correcting = true;
  /** The sender of the message being handled (null outside message handling). */
  private messageFrom: NodeId | null = null;
  /** Per peer: members it gossiped stale incarnations of, owed our view on the next message. */
  private readonly corrections = new Map<NodeId, Set<NodeId>>();
  private readonly relays = new Map<number, Relay>();
  private readonly seeds: readonly NodeId[];
  readonly stats: MembershipStats = {
    probes: 0, probesFailed: 0, indirectProbes: 0, suspicionsRaised: 0, suspicionsConfirmed: 0, suspicionsAdopted: 0, deathsDeclared: 0,
    refutations: 0, relaysDropped: 0, membersRefused: 0, syncs: 0, corrections: 0,
  };

  constructor(private readonly opts: MembershipOptions) {
    const positive: readonly [string, number][] = [
      ['probeIntervalMs', opts.probeIntervalMs], ['probeTimeoutMs', opts.probeTimeoutMs], ['indirectProbes', opts.indirectProbes],
      ['suspicionMult', opts.suspicionMult], ['suspicionMaxMult', opts.suspicionMaxMult], ['suspicionConfirmations', opts.suspicionConfirmations],
      ['suspicionSourcesMax', opts.suspicionSourcesMax], ['retransmitMult', opts.retransmitMult], ['piggybackUpdatesMax', opts.piggybackUpdatesMax],
      ['piggybackBytesMax', opts.piggybackBytesMax], ['membersMax', opts.membersMax], ['relaysMax', opts.relaysMax],
      ['pushPullIntervalMs', opts.pushPullIntervalMs], ['syncMembersMax', opts.syncMembersMax], ['joinRetryMs', opts.joinRetryMs],
      ['ringPayloadBytesMax', opts.ringPayloadBytesMax],
    ];
    for (const [name, v] of positive) if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    if (!Number.isSafeInteger(opts.incarnation) || opts.incarnation < 0) throw new RangeError('incarnation must be a non-negative integer');
    if (!Number.isSafeInteger(opts.healthMax) || opts.healthMax < 0) throw new RangeError('healthMax must be a non-negative integer');
    if (!Number.isSafeInteger(opts.ringEpoch) || opts.ringEpoch < 0) throw new RangeError('ringEpoch must be a non-negative integer');
    if (!Number.isSafeInteger(opts.suspicionSourcesMin) || opts.suspicionSourcesMin < 2) {
      throw new RangeError(`suspicionSourcesMin must be at least 2 (one report is not enough), got ${opts.suspicionSourcesMin}`);
    }
    if (opts.suspicionSourcesMax < opts.suspicionSourcesMin) throw new RangeError('suspicionSourcesMax must be >= suspicionSourcesMin');
    if (opts.probeTimeoutMs >= opts.probeIntervalMs) throw new RangeError('probeTimeoutMs must be below probeIntervalMs (indirect probes need time)');
    if (opts.suspicionMaxMult < 1) throw new RangeError('suspicionMaxMult must be >= 1');
    if (opts.members.length + 1 > opts.membersMax) throw new RangeError('more bootstrap members than membersMax');
    this.id = opts.self;
    this.nowMs = opts.startMs;
    this.incarnation = opts.incarnation;
    this.ringEpoch = opts.ringEpoch;
    this.seeds = opts.seeds.filter((s) => s !== opts.self);
    this.queue = new BroadcastQueue(opts.membersMax);
    this.members.set(this.id, this.record(this.id, 'alive', this.incarnation));
    this.liveCount = 1;
    for (const m of opts.members) {
      if (m === this.id || this.members.has(m)) continue;
      this.members.set(m, this.record(m, 'alive', 0));
      this.liveCount++;
    }
    // Spread the first probe over one period so a cluster started at once does not probe in lockstep.
    this.nextProbeMs = opts.startMs + opts.random.int(opts.probeIntervalMs);
    this.nextPushPullMs = opts.startMs + opts.pushPullIntervalMs + opts.random.int(opts.probeIntervalMs);
    this.nextJoinMs = opts.startMs;
    this.broadcast({ kind: 'alive', member: this.id, incarnation: this.incarnation });
  }

  // -------------------------------------------------------------------------------------------
  // The step contract
  // -------------------------------------------------------------------------------------------

  step(input: MembershipInput): void {
    switch (input.kind) {
      case 'tick':
        // Wall clocks may step back; deadlines must not, so time only moves forward here.
        if (input.nowMs > this.nowMs) this.nowMs = input.nowMs;
        this.onTick();
        return;
      case 'message':
        if (input.from === this.id) throw new Error('a node does not message itself');
        this.messageFrom = input.from;
        try {
          this.onMessage(input.from, input.message);
        } finally {
          this.messageFrom = null;
        }
        return;
      default: {
        const never: never = input;
        throw new TypeError(`unknown input ${JSON.stringify(never)}`);
      }
    }
  }

  /** Effects emitted since the last call, in emission order. */
  takeEffects(): MembershipEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Queries (what the coordinator routes with)
  // -------------------------------------------------------------------------------------------

  /** This node's view of a member; undefined if it never heard of it (or evicted it). */
  status(id: NodeId): MemberStatus | undefined {
    return this.members.get(id)?.status;
  }

  incarnationOf(id: NodeId): number | undefined {
    return this.members.get(id)?.incarnation;
  }

  /**
   * Members not known to be dead or gone, this node included while it has not left, in table
   * order. Suspects are included — they are members until confirmed dead; a coordinator that
   * prefers healthy replicas checks `status()`.
   */
  liveMembers(): NodeId[] {
    const out: NodeId[] = [];
    for (const m of this.members.values()) if (isLive(m.status)) out.push(m.id);
    return out;
  }

  /** Every known member with its status and incarnation (a snapshot, for INFO and tests). */
  snapshot(): { id: NodeId; status: MemberStatus; incarnation: number }[] {
    return [...this.members.values()].map((m) => ({ id: m.id, status: m.status, incarnation: m.incarnation }));
  }

  get clockMs(): number {
    return this.nowMs;
  }

  get ownIncarnation(): number {
    return this.incarnation;
  }

  /** Local health score (0 = healthy): the probe period and timeout are multiplied by it plus one. */
  get localHealth(): number {
    return this.health;
  }

  /** Updates queued for piggybacking (for tests of the dissemination bound). */
  get queuedUpdates(): number {
    return this.queue.size;
  }

  /** How many times this node sends each update, at the current cluster size. */
  get retransmitLimit(): number {
    return this.opts.retransmitMult * Math.max(1, Math.ceil(Math.log10(this.liveCount + 1)));
  }

  /** The suspicion timeout for a suspicion with `sources` distinct sources, at the current size. */
  suspicionTimeoutMs(sources: number): number {
    const n = this.liveCount;
    const minMs = this.opts.suspicionMult * Math.max(1, Math.log10(n)) * this.opts.probeIntervalMs;
    const maxMs = this.opts.suspicionMaxMult * minMs;
    const k = Math.max(1, Math.min(this.opts.suspicionConfirmations, n - 2));
    const confirmations = sources - 1;
    if (confirmations <= 0) return maxMs;
    const frac = Math.log(confirmations + 1) / Math.log(k + 1);
    return Math.max(minMs, maxMs - (maxMs - minMs) * frac);
  }

  // -------------------------------------------------------------------------------------------
  // Commands from the host
  // -------------------------------------------------------------------------------------------

  /** Raise the own incarnation and gossip it (e.g. after a restart the host could not persist). */
  announce(): void {
    if (this.self().status === 'left') throw new Error('a member that left does not announce itself');
    this.incarnation++;
    this.self().incarnation = this.incarnation;
    this.broadcast({ kind: 'alive', member: this.id, incarnation: this.incarnation });
  }

  /** Leave gracefully: gossip `left` and stop probing. The host keeps stepping a few periods so it spreads. */
  leave(): void {
    const me = this.self();
    if (me.status === 'left') return;
    this.incarnation++;
    me.incarnation = this.incarnation;
    this.setStatus(me, 'left');
    this.probe = null;
    this.broadcast({ kind: 'left', member: this.id, incarnation: this.incarnation });
  }

  /** The ring this node holds now; carried on every message from here on (the payload on syncs). */
  setRingEpoch(epoch: number, ring: Uint8Array | null): void {
    if (!Number.isSafeInteger(epoch) || epoch < this.ringEpoch) throw new RangeError(`ring epoch must not go back (${this.ringEpoch} -> ${epoch})`);
    if (ring !== null && ring.byteLength > this.opts.ringPayloadBytesMax) throw new RangeError(`ring payload over ${this.opts.ringPayloadBytesMax} bytes`);
    this.ringEpoch = epoch;
    this.ring = ring;
  }

  /** Push-pull with one peer now (e.g. one that advertised a newer ring epoch). */
  requestSync(peer: NodeId): void {
    if (peer === this.id) throw new RangeError('a node does not sync with itself');
    this.sendSync(peer, false, false);
  }

  // -------------------------------------------------------------------------------------------
  // Time
  // -------------------------------------------------------------------------------------------

  private onTick(): void {
    const now = this.nowMs;
    const leaving = this.self().status === 'left';
    if (!leaving && this.seeds.length > 0 && this.liveCount <= 1 && now >= this.nextJoinMs) {
      const seed = this.seeds[this.joinIndex % this.seeds.length] as NodeId;
      this.joinIndex++;
      this.nextJoinMs = now + this.opts.joinRetryMs;
      this.sendSync(seed, false, true);
    }
    if (!leaving && now >= this.nextProbeMs) {
      this.finishProbe();
      this.startProbe();
      // Lifeguard's local health: a node that misses acks itself (overloaded, or deaf) probes
      // and times out more slowly rather than accusing healthy peers at full rate.
      const intervalMs = this.opts.probeIntervalMs * (this.health + 1);
      this.nextProbeMs += intervalMs;
      if (this.nextProbeMs <= now) this.nextProbeMs = now + intervalMs;
    }
    const p = this.probe;
    if (p !== null && !p.acked && !p.indirectSent && now >= p.startMs + this.opts.probeTimeoutMs * (this.health + 1)) this.sendIndirect(p);
    for (const [seq, r] of this.relays) if (r.deadlineMs <= now) this.relays.delete(seq);
    for (const id of [...this.suspects]) this.checkSuspicion(id);
    if (!leaving && now >= this.nextPushPullMs) {
      this.nextPushPullMs = now + this.opts.pushPullIntervalMs;
      const peers = this.liveMembers().filter((m) => m !== this.id);
      if (peers.length > 0) this.sendSync(peers[this.opts.random.int(peers.length)] as NodeId, false, false);
      // And one member held dead, if any: after a partition heals, each side holds the other dead
      // and probes only the living, so without this the halves would never meet again. A live
      // receiver refutes on seeing our view of it; a dead one costs one lost message.
      const dead: NodeId[] = [];
      for (const m of this.members.values()) if (m.status === 'dead') dead.push(m.id);
      if (dead.length > 0) this.sendSync(dead[this.opts.random.int(dead.length)] as NodeId, false, false);
    }
  }

  private finishProbe(): void {
    const p = this.probe;
    this.probe = null;
    if (p === null) return;
    if (p.acked) {
      this.health = Math.max(0, this.health - 1);
      return;
    }
    this.health = Math.min(this.opts.healthMax, this.health + 1);
    this.stats.probesFailed++;
    const m = this.members.get(p.target);
    // Only a suspicion about the incarnation we probed: a refutation that arrived meanwhile wins.
    if (m === undefined || !isLive(m.status) || m.incarnation !== p.incarnation) return;
    if (m.status === 'alive') this.stats.suspicionsRaised++;
    else this.stats.suspicionsConfirmed++;
    this.apply({ kind: 'suspect', member: p.target, incarnation: p.incarnation, sources: [this.id] });
  }

  private startProbe(): void {
    const target = this.nextProbeTarget();
    if (target === null) return;
    const m = this.members.get(target) as Member;
    this.seq++;
    this.probe = { target, incarnation: m.incarnation, seq: this.seq, startMs: this.nowMs, acked: false, indirectSent: false };
    this.stats.probes++;
    this.send(target, { kind: 'ping', seq: this.seq, target, incarnation: this.incarnation, ringEpoch: this.ringEpoch, updates: this.piggyback(target) });
  }

  private nextProbeTarget(): NodeId | null {
    for (let rebuilds = 0; rebuilds < 2;) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = this.liveMembers().filter((m) => m !== this.id);
        this.shuffle(this.probeOrder);
        this.probeIndex = 0;
        rebuilds++;
        if (this.probeOrder.length === 0) return null;
      }
      const id = this.probeOrder[this.probeIndex++] as NodeId;
      const m = this.members.get(id);
      if (m !== undefined && isLive(m.status)) return id;
    }
    return null;
  }

  private sendIndirect(p: Probe): void {
    p.indirectSent = true;
    const candidates = this.liveMembers().filter((m) => m !== this.id && m !== p.target && this.members.get(m)?.status === 'alive');
    const k = Math.min(this.opts.indirectProbes, candidates.length);
    // Partial Fisher-Yates: k distinct random helpers.
    for (let i = 0; i < k; i++) {
      const j = i + this.opts.random.int(candidates.length - i);
      const helper = candidates[j] as NodeId;
      candidates[j] = candidates[i] as NodeId;
      candidates[i] = helper;
      this.stats.indirectProbes++;
      this.send(helper, { kind: 'ping_req', seq: p.seq, target: p.target, incarnation: this.incarnation, ringEpoch: this.ringEpoch, updates: this.piggyback(helper) });
    }
  }

  private checkSuspicion(id: NodeId): void {
    const m = this.members.get(id);
    if (m === undefined || m.status !== 'suspect') return;
    if (m.sources.length < this.opts.suspicionSourcesMin) return;
    if (this.nowMs - m.suspectSinceMs < this.suspicionTimeoutMs(m.sources.length)) return;
    if (m.lastCallMs < 0) {
      // Last call: gossip the suspicion once more and wait one probe period. A peer holding a
      // newer incarnation answers a stale suspicion with a correction, so a node that merely
      // missed the refutation (its own gossip long spent) learns it here instead of declaring.
      m.lastCallMs = this.nowMs;
      this.broadcast(this.updateOf(m));
      return;
    }
    if (this.nowMs - m.lastCallMs < this.opts.probeIntervalMs) return;
    this.stats.deathsDeclared++;
    this.apply({ kind: 'dead', member: id, incarnation: m.incarnation, from: this.id });
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  private onMessage(from: NodeId, msg: MembershipMessage): void {
    switch (msg.kind) {
      case 'ping':
        this.firstHand(from, msg.incarnation);
        this.mergeAll(msg.updates, this.opts.piggybackUpdatesMax);
        this.noteRing(from, msg.ringEpoch, null);
        // A probe meant for another holder of this id (a stale address) gets no ack.
        if (msg.target !== this.id) return;
        this.send(from, { kind: 'ack', seq: msg.seq, incarnation: this.incarnation, ringEpoch: this.ringEpoch, updates: this.piggyback(from) });
        return;
      case 'ack': {
        this.firstHand(from, msg.incarnation);
        this.mergeAll(msg.updates, this.opts.piggybackUpdatesMax);
        this.noteRing(from, msg.ringEpoch, null);
        const p = this.probe;
        if (p !== null && p.seq === msg.seq) {
          p.acked = true;
          return;
        }
        const r = this.relays.get(msg.seq);
        if (r !== undefined && r.target === from) {
          this.relays.delete(msg.seq);
          this.send(r.requester, { kind: 'ack', seq: r.requesterSeq, incarnation: this.incarnation, ringEpoch: this.ringEpoch, updates: this.piggyback(r.requester) });
        }
        return;
      }
      case 'ping_req': {
        this.firstHand(from, msg.incarnation);
        this.mergeAll(msg.updates, this.opts.piggybackUpdatesMax);
        this.noteRing(from, msg.ringEpoch, null);
        if (msg.target === this.id || msg.target === from) return;
        if (this.relays.size >= this.opts.relaysMax) {
          this.stats.relaysDropped++;
          return;
        }
        this.seq++;
        this.relays.set(this.seq, { requester: from, requesterSeq: msg.seq, target: msg.target, deadlineMs: this.nowMs + this.opts.probeIntervalMs });
        this.send(msg.target, { kind: 'ping', seq: this.seq, target: msg.target, incarnation: this.incarnation, ringEpoch: this.ringEpoch, updates: this.piggyback(msg.target) });
        return;
      }
      case 'gossip':
        this.firstHand(from, msg.incarnation);
        this.mergeAll(msg.updates, this.opts.piggybackUpdatesMax);
        this.noteRing(from, msg.ringEpoch, null);
        return;
      case 'sync':
        this.stats.syncs++;
        // A full state answers staleness by itself (the reply carries ours), so no corrections.
        this.correcting = false;
        this.mergeAll(msg.members, this.opts.syncMembersMax);
        this.correcting = true;
        this.noteRing(from, msg.ringEpoch, msg.ring);
        if (!msg.reply) this.sendSync(from, true, false);
        return;
      default: {
        const never: never = msg;
        throw new TypeError(`unknown membership message ${JSON.stringify(never)}`);
      }
    }
  }

  /** The sender says it is alive at `incarnation`: as good as its own alive update. */
  private firstHand(from: NodeId, incarnation: number): void {
    if (Number.isSafeInteger(incarnation) && incarnation >= 0) this.apply({ kind: 'alive', member: from, incarnation });
  }

  private mergeAll(updates: readonly MemberUpdate[], max: number): void {
    const n = Math.min(updates.length, max);
    for (let i = 0; i < n; i++) {
      const u = updates[i] as MemberUpdate;
      if (validUpdate(u)) this.apply(u);
    }
  }

  private noteRing(from: NodeId, epoch: number, ring: Uint8Array | null): void {
    if (!Number.isSafeInteger(epoch) || epoch <= this.ringEpoch) return;
    const m = this.members.get(from);
    if (m === undefined) return;
    const payload = ring !== null && ring.byteLength <= this.opts.ringPayloadBytesMax && epoch > m.ringPayloadEpochSeen ? ring : null;
    if (epoch <= m.ringEpochSeen && payload === null) return;
    m.ringEpochSeen = Math.max(m.ringEpochSeen, epoch);
    if (payload !== null) m.ringPayloadEpochSeen = epoch;
    this.effects.push({ kind: 'ring_epoch', peer: from, ringEpoch: epoch, ring: payload });
  }

  // -------------------------------------------------------------------------------------------
  // Merging updates
  // -------------------------------------------------------------------------------------------

  private apply(u: MemberUpdate): void {
    if (u.member === this.id) {
      this.aboutSelf(u);
      return;
    }
    const m = this.members.get(u.member);
    switch (u.kind) {
      case 'alive': {
        if (m === undefined) {
          if (this.add(u.member, u.incarnation) !== undefined) this.broadcast(u);
          return;
        }
        if (u.incarnation < m.incarnation) return this.correct(m);
        if (u.incarnation === m.incarnation) return;
        m.incarnation = u.incarnation;
        this.setStatus(m, 'alive');
        this.broadcast(u);
        return;
      }
      case 'suspect': {
        // No suspicion about a member we do not know: it would have no incarnation to refute.
        if (m === undefined) return;
        if (u.incarnation < m.incarnation) return this.correct(m);
        if (u.incarnation === m.incarnation && (m.status === 'dead' || m.status === 'left')) return;
        if (m.status === 'suspect' && u.incarnation === m.incarnation) {
          let added = false;
          for (const s of u.sources) {
            if (m.sources.length >= this.opts.suspicionSourcesMax) break;
            if (!m.sources.includes(s)) {
              m.sources.push(s);
              added = true;
            }
          }
          // Re-gossip a grown source set so confirmations reach every node (Lifeguard).
          if (added) this.broadcast(this.updateOf(m));
          return;
        }
        m.incarnation = u.incarnation;
        m.sources = dedupe(u.sources).slice(0, this.opts.suspicionSourcesMax);
        m.suspectSinceMs = this.nowMs;
        m.lastCallMs = -1;
        this.stats.suspicionsAdopted++;
        this.setStatus(m, 'suspect');
        this.broadcast(this.updateOf(m));
        return;
      }
      case 'dead': {
        if (m === undefined) return;
        if (u.incarnation < m.incarnation) return this.correct(m);
        if (u.incarnation === m.incarnation && (m.status === 'dead' || m.status === 'left')) return;
        m.incarnation = u.incarnation;
        m.deadFrom = u.from;
        this.setStatus(m, 'dead');
        this.broadcast(u);
        return;
      }
      case 'left': {
        if (m === undefined) return;
        if (u.incarnation < m.incarnation) return this.correct(m);
        if (u.incarnation === m.incarnation && m.status === 'left') return;
        m.incarnation = u.incarnation;
        this.setStatus(m, 'left');
        this.broadcast(u);
        return;
      }
      default: {
        const never: never = u;
        throw new TypeError(`unknown update ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * A peer gossiped an older incarnation of `m` than ours: it missed the newer update (under loss
   * a refutation can miss one node, which would later declare a refuted member dead). Gossip
   * our view again unless it is still queued (a fresh entry goes first on the next messages),
   * and put it first in the next message to that sender. Only strictly older incarnations count,
   * so in a converged cluster nothing is re-sent.
   */
  private correct(m: Member): void {
    if (!this.correcting) return;
    if (!this.queue.has(m.id)) {
      this.stats.corrections++;
      this.broadcast(this.updateOf(m));
    }
    // And tell the stale sender itself on the next message to it (the ack of its ping, usually):
    // gossip still queued may be spent on other peers before it reaches this one.
    const peer = this.messageFrom;
    if (peer === null || peer === m.id) return;
    let set = this.corrections.get(peer);
    if (set === undefined) {
      if (this.corrections.size >= CORRECTION_PEERS_MAX) return;
      set = new Set();
      this.corrections.set(peer, set);
    }
    if (set.size < this.opts.piggybackUpdatesMax) set.add(m.id);
  }

  /** Gossip about this node: refute anything that is not "alive at my incarnation". */
  private aboutSelf(u: MemberUpdate): void {
    const me = this.self();
    if (me.status === 'left') {
      // A leaving node keeps saying so, and never un-leaves.
      if (u.kind !== 'left' || u.incarnation < this.incarnation) this.broadcast({ kind: 'left', member: this.id, incarnation: this.incarnation });
      return;
    }
    const refute = u.kind === 'alive' ? u.incarnation > this.incarnation : u.incarnation >= this.incarnation;
    if (!refute) {
      if (u.incarnation < this.incarnation) this.correct(me);
      return;
    }
    if (u.kind !== 'alive') {
      this.stats.refutations++;
      // Being suspected hints that this node is the slow one (Lifeguard).
      this.health = Math.min(this.opts.healthMax, this.health + 1);
    }
    this.incarnation = u.incarnation + 1;
    me.incarnation = this.incarnation;
    this.broadcast({ kind: 'alive', member: this.id, incarnation: this.incarnation });
    if (u.kind !== 'alive') this.pushRefutation();
  }

  /**
   * The suspicion's clock is already running on every node that heard it, so the refutation
   * goes out at once to the member that told us and to `indirectProbes` random live members,
   * rather than on the next probe up to a period later. These sends count against the update's
   * retransmit limit like any piggyback.
   */
  private pushRefutation(): void {
    const peers = this.liveMembers().filter((id) => id !== this.id && id !== this.messageFrom);
    const targets: NodeId[] = this.messageFrom !== null ? [this.messageFrom] : [];
    const k = Math.min(this.opts.indirectProbes, peers.length);
    for (let i = 0; i < k; i++) {
      const j = i + this.opts.random.int(peers.length - i);
      const t = peers[j] as NodeId;
      peers[j] = peers[i] as NodeId;
      peers[i] = t;
      targets.push(t);
    }
    for (const to of targets) {
      this.send(to, { kind: 'gossip', incarnation: this.incarnation, ringEpoch: this.ringEpoch, updates: this.piggyback(to) });
    }
  }

  private add(id: NodeId, incarnation: number): Member | undefined {
    if (this.members.size >= this.opts.membersMax && !this.evictOne()) {
      this.stats.membersRefused++;
      return undefined;
    }
    const m = this.record(id, 'alive', incarnation);
    this.members.set(id, m);
    this.liveCount++;
    this.effects.push({ kind: 'change', member: id, status: 'alive', previous: null, incarnation });
    this.insertIntoProbeOrder(id);
    return m;
  }

  /** Make room by forgetting the dead or left member that changed longest ago. */
  private evictOne(): boolean {
    let oldest: Member | undefined;
    for (const m of this.members.values()) {
      if (isLive(m.status) || m.id === this.id) continue;
      if (oldest === undefined || m.changedAtMs < oldest.changedAtMs) oldest = m;
    }
    if (oldest === undefined) return false;
    this.members.delete(oldest.id);
    return true;
  }

  private setStatus(m: Member, status: MemberStatus): void {
    const previous = m.status;
    if (previous === status) {
      // Same status at a higher incarnation: still news for routing caches keyed by incarnation.
      this.effects.push({ kind: 'change', member: m.id, status, previous, incarnation: m.incarnation });
      return;
    }
    if (isLive(previous) && !isLive(status)) {
      this.liveCount--;
      this.corrections.delete(m.id);
    }
    if (!isLive(previous) && isLive(status)) {
      this.liveCount++;
      this.insertIntoProbeOrder(m.id);
    }
    if (status === 'suspect') this.suspects.add(m.id);
    else {
      this.suspects.delete(m.id);
      m.sources = [];
    }
    m.status = status;
    m.changedAtMs = this.nowMs;
    this.effects.push({ kind: 'change', member: m.id, status, previous, incarnation: m.incarnation });
  }

  // -------------------------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------------------------

  private send(to: NodeId, message: MembershipMessage): void {
    if (to === this.id) throw new Error('a node does not message itself');
    this.effects.push({ kind: 'send', to, message });
  }

  private sendSync(to: NodeId, reply: boolean, join: boolean): void {
    const members: MemberUpdate[] = [];
    // Own record first, then the live, then the dead and gone: the most useful fit the bound.
    for (const pass of [0, 1, 2] as const) {
      for (const m of this.members.values()) {
        if (members.length >= this.opts.syncMembersMax) break;
        const take = pass === 0 ? m.id === this.id : m.id !== this.id && (pass === 1) === isLive(m.status);
        if (take) members.push(this.updateOf(m));
      }
    }
    this.send(to, { kind: 'sync', reply, join, ringEpoch: this.ringEpoch, ring: this.ring, members });
  }

  private piggyback(to: NodeId): MemberUpdate[] {
    const out: MemberUpdate[] = [];
    const skip = new Set<NodeId>();
    const budget = { bytes: 0 };
    const m = this.members.get(to);
    // Buddy system: tell a member we do not think alive what we think, so it can refute now.
    if (m !== undefined && m.status !== 'alive') {
      const u = this.updateOf(m);
      out.push(u);
      skip.add(to);
      budget.bytes += updateBytes(u);
    }
    const owed = this.corrections.get(to);
    if (owed !== undefined) {
      this.corrections.delete(to);
      for (const id of owed) {
        const c = this.members.get(id);
        if (c === undefined || skip.has(id) || out.length >= this.opts.piggybackUpdatesMax) continue;
        const u = this.updateOf(c);
        const size = updateBytes(u);
        if (budget.bytes + size > this.opts.piggybackBytesMax) continue;
        out.push(u);
        skip.add(id);
        budget.bytes += size;
      }
    }
    const rest = this.queue.take(this.opts.piggybackUpdatesMax - out.length, this.opts.piggybackBytesMax, this.retransmitLimit, skip, budget);
    for (const u of rest) out.push(u);
    return out;
  }

  private broadcast(u: MemberUpdate): void {
    this.queue.enqueue(u);
  }

  private updateOf(m: Member): MemberUpdate {
    switch (m.status) {
      case 'alive': return { kind: 'alive', member: m.id, incarnation: m.incarnation };
      case 'suspect': return { kind: 'suspect', member: m.id, incarnation: m.incarnation, sources: [...m.sources] };
      case 'dead': return { kind: 'dead', member: m.id, incarnation: m.incarnation, from: m.deadFrom ?? this.id };
      case 'left': return { kind: 'left', member: m.id, incarnation: m.incarnation };
      default: {
        const never: never = m.status;
        throw new TypeError(`unknown status ${String(never)}`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------

  private self(): Member {
    return this.members.get(this.id) as Member;
  }

  private record(id: NodeId, status: MemberStatus, incarnation: number): Member {
    return {
      id, status, incarnation, changedAtMs: this.nowMs, suspectSinceMs: 0, lastCallMs: -1, sources: [], deadFrom: null,
      ringEpochSeen: -1, ringPayloadEpochSeen: -1,
    };
  }

  private insertIntoProbeOrder(id: NodeId): void {
    if (id === this.id) return;
    // A random position among those not yet probed this pass: probed within this pass or the next.
    const from = Math.min(this.probeIndex, this.probeOrder.length);
    const at = from + this.opts.random.int(this.probeOrder.length - from + 1);
    this.probeOrder.splice(at, 0, id);
    // Stale duplicates are skipped when reached (and dropped at the next reshuffle); bound the list.
    if (this.probeOrder.length > 2 * this.opts.membersMax) {
      this.probeOrder = this.probeOrder.slice(this.probeIndex);
      this.probeIndex = 0;
    }
  }

  private shuffle(xs: NodeId[]): void {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.opts.random.int(i + 1);
      const t = xs[i] as NodeId;
      xs[i] = xs[j] as NodeId;
      xs[j] = t;
    }
  }

  invariants(): void {
    const me = this.members.get(this.id);
    if (me === undefined) throw new Error('own record missing');
    if (me.status !== 'alive' && me.status !== 'left') throw new Error(`own status ${me.status}`);
    if (me.incarnation !== this.incarnation) throw new Error('own record behind own incarnation');
    if (this.members.size > this.opts.membersMax) throw new Error('member table over its bound');
    if (this.relays.size > this.opts.relaysMax) throw new Error('relays over their bound');
    if (this.health < 0 || this.health > this.opts.healthMax) throw new Error(`local health ${this.health} out of range`);
    if (this.corrections.size > CORRECTION_PEERS_MAX) throw new Error('corrections over their bound');
    let live = 0;
    let suspects = 0;
    for (const m of this.members.values()) {
      if (isLive(m.status)) live++;
      if (m.status === 'suspect') {
        suspects++;
        if (!this.suspects.has(m.id)) throw new Error(`suspect ${m.id} missing from the suspect set`);
        if (m.sources.length < 1 || m.sources.length > this.opts.suspicionSourcesMax) throw new Error(`suspect ${m.id} with ${m.sources.length} sources`);
        if (new Set(m.sources).size !== m.sources.length) throw new Error(`suspect ${m.id} with duplicate sources`);
      } else if (m.sources.length !== 0) throw new Error(`${m.status} member ${m.id} keeps suspicion sources`);
    }
    if (live !== this.liveCount) throw new Error(`live count ${this.liveCount} but ${live} live members`);
    if (suspects !== this.suspects.size) throw new Error('suspect set out of step with the table');
    this.queue.invariants();
  }
}

function dedupe(xs: readonly NodeId[]): NodeId[] {
  return [...new Set(xs)];
}

/** Peers are not trusted to send well-formed numbers; a malformed update is ignored. */
function validUpdate(u: MemberUpdate): boolean {
  if (typeof u.member !== 'string' || u.member.length === 0) return false;
  if (!Number.isSafeInteger(u.incarnation) || u.incarnation < 0) return false;
  if (u.kind === 'suspect') return Array.isArray(u.sources) && u.sources.length > 0 && u.sources.every((s) => typeof s === 'string');
  if (u.kind === 'dead') return typeof u.from === 'string';
  return u.kind === 'alive' || u.kind === 'left';
}
