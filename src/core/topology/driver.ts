/**
 * The node's side of ring changes (join, decommission, remove), sans-IO: proposing, spreading
 * and adopting topology states (view.ts), streaming gained slots, committing, and handing off
 * then purging records of slots the node no longer owns.
 *
 * Protocol, per change:
 * 1. Propose. Only a ring member starts a change, and only while no change is in flight
 *    (ERR_TOPOLOGY_BUSY); a node outside the ring forwards the request (at most
 *    `forwardHopsMax` hops). The new state (pending = current with the member added/removed,
 *    version + 1) is adopted locally, announced to every member and gossiped by membership.
 *    Conflicting proposals at one version are settled by rank (view.ts): everyone converges on
 *    the greater id, and the proposer of the other learns its change failed (progress 'failed').
 * 2. Dual writes (the node's placement, ring-placement.ts): while pending, a write needs W acks
 *    among the current owners AND W among the pending owners; reads use current owners.
 * 3. Stream. Each gainer (a node with slot-replicas in pending and not in current) pulls, from
 *    every current owner of its gained slots (the member being removed excepted: it is dead), the
 *    records of those slots, page by page (`pull`: the owner scans one page of its storage and
 *    filters by slot), merging each through the replica write path (synced) before asking for the
 *    next page. An owner serves pulls only once it has held the pending ring for `quiesceMs`
 *    (>= the request timeout): every write it coordinated under the old ring — and each write's
 *    coordinator stores it before acking — is then over, so the pull sees it; writes it
 *    coordinates afterwards reach W pending owners by rule 2. Hence at commit every acknowledged
 *    write is on W pending owners or on the gainers: nothing acknowledged is lost and reads
 *    from the new owners still intersect.
 * 4. Done and commit. A gainer holding every gained slot sends `done` to every member, retried
 *    each `retryMs` until the ring moves on. Any node that has heard `done` from every gainer of
 *    the state it holds commits (current = pending's placement, version + 1). Commit is a pure
 *    function of the pending state, so several nodes committing agree, and a crashed proposer
 *    does not stall the change: whoever hears the last `done` finishes it.
 * 5. Hand-off and purge. With no change in flight, a node scans its records (at start, after a
 *    commit, and again whenever a record lands in a slot it does not own); each record of a slot
 *    it does not own is pushed to every owner of the slot, and only when all of them acked
 *    (merged and synced) is it purged, compare-and-delete under the key's turn, so a newer write
 *    survives. Purging therefore happens only after the commit, which happens only after the
 *    gainers confirmed.
 *
 * Limits: one pull page (`pullPageMax` records) in flight per source; one hand-off page
 * (`pullPageMax` records) at a time; forwarded requests <= `forwardsMax`.
 * Known limit: ranking settles conflicting proposals among nodes that hear each other; two
 * proposals made on opposite sides of a partition can each stream on their side, and only one
 * survives the heal (its sources must all have served it, so it cannot commit while partitioned
 * from any of them). A single operator-facing entry point avoids this in practice.
 */
import { isRingkvError } from '../../errors/ringkv-error.js';
import type { KvResult, StoredRecord } from '../messages.js';
import { keySlot } from '../ring/index.js';
import type { NodeId, RequestId, Slot } from '../types.js';
import type { TopologyMessage } from './messages.js';
import type { RingChange, TopologyProgress } from './types.js';
import {
  commit, compareRank, compareStates, decodeState, encodeState, gainedSlots, gainers, ownsKey, peekRank, propose, removedMember,
  stateVersion, type TopologyState,
} from './view.js';

export interface TopologyOptions {
  readonly self: NodeId;
  readonly incarnation: number;
  /** A current owner serves pulls only after holding the pending ring this long (>= request timeout). */
  readonly quiesceMs: number;
  /** Pull, done and hand-off retry interval. */
  readonly retryMs: number;
  /** Records per scan page (pull pages and hand-off pages). */
  readonly pullPageMax: number;
  readonly forwardHopsMax: number;
  readonly forwardTimeoutMs: number;
  readonly forwardsMax: number;
  /** Where to forward a change before this node knows a ring or its membership knows anyone. */
  readonly seeds: readonly NodeId[];
}

export const TOPOLOGY_DEFAULTS = {
  retryMs: 500,
  pullPageMax: 256,
  forwardHopsMax: 3,
  forwardsMax: 64,
  seeds: [],
} as const;

export interface TopologyHost {
  nowMs(): number;
  send(to: NodeId, message: TopologyMessage): void;
  isDown(node: NodeId): boolean;
  /** Members this node's membership knows (forwarding targets before it knows a ring). */
  knownPeers(): readonly NodeId[];
  scan(afterKey: string | null, limit: number, done: (page: { records: StoredRecord[]; done: boolean } | null) => void): void;
  /** Merge a record through the replica write path, synced; `then` once stored (never on failure). */
  merge(key: string, record: Buffer, then: () => void): void;
  /** Compare-and-delete of a record under the key's turn; `done(false)` when storage failed. */
  purge(key: string, record: Buffer, done: (ok: boolean) => void): void;
  reply(requestId: RequestId, result: KvResult): void;
  /** The node now holds `state` (rebuild placement, persist, gossip). */
  adopted(state: TopologyState): void;
}

export interface TopologyStats {
  proposed: number;
  adopted: number;
  commits: number;
  keysStreamed: number;
  bytesStreamed: number;
  pullsServed: number;
  keysHandedOff: number;
  bytesHandedOff: number;
  purged: number;
}

interface SourceCursor {
  afterKey: string | null;
  phase: 'idle' | 'waiting' | 'merging' | 'done';
  /** idle: next send; waiting/merging: deadline. */
  atMs: number;
  attempt: number;
  readonly slots: Set<Slot>;
}

interface Gain {
  readonly version: number;
  readonly id: string;
  readonly slots: readonly Slot[];
  readonly sources: Map<NodeId, SourceCursor>;
  keys: number;
  bytes: number;
  done: boolean;
  nextDoneMs: number;
}

interface HandOff {
  readonly key: string;
  readonly record: Buffer;
  readonly pushId: string;
  readonly waiting: Set<NodeId>;
  nextSendMs: number;
  purging: boolean;
}

type ForwardOrigin = { kind: 'client'; requestId: RequestId } | { kind: 'peer'; from: NodeId; opId: string };

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export class TopologyDriver {
  private st: TopologyState | null;
  private adoptedAtMs: number;
  private gain: Gain | null = null;
  /** The figures of this node's last finished stream (progress keeps showing them after a commit). */
  private lastGain: { slots: number; keys: number; bytes: number } | null = null;
  private gainerList: NodeId[] = [];
  private readonly dones = new Set<NodeId>();
  /** The change this node proposed and its outcome, for progress. */
  private mine: { id: string; change: RingChange; outcome: 'running' | 'done' | 'failed'; message: string } | null = null;
  /** The last change this node saw committed (for progress on nodes that did not propose it). */
  private lastCommitted: RingChange | null = null;
  private readonly forwards = new Map<string, { origin: ForwardOrigin; deadlineMs: number }>();
  private opSeq = 0;
  private pushSeq = 0;
  private handoffActive = false;
  private handoffRescan = false;
  private handoffAfter: string | null = null;
  private handoffScanning = false;
  private handoffPage: Map<string, HandOff> | null = null;
  private handoffNextScanMs = 0;
  readonly stats: TopologyStats = {
    proposed: 0, adopted: 0, commits: 0, keysStreamed: 0, bytesStreamed: 0, pullsServed: 0, keysHandedOff: 0, bytesHandedOff: 0, purged: 0,
  };

  constructor(private readonly opts: TopologyOptions, private readonly host: TopologyHost, initial: TopologyState | null) {
    for (const [name, v] of [['retryMs', opts.retryMs], ['pullPageMax', opts.pullPageMax], ['forwardTimeoutMs', opts.forwardTimeoutMs], ['forwardsMax', opts.forwardsMax]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`topology.${name} must be a positive integer, got ${v}`);
    }
    if (!Number.isSafeInteger(opts.quiesceMs) || opts.quiesceMs < 0) throw new RangeError('topology.quiesceMs must be a non-negative integer');
    this.st = initial;
    this.adoptedAtMs = host.nowMs();
    if (initial !== null) this.entered();
  }

  get state(): TopologyState | null {
    return this.st;
  }

  // -------------------------------------------------------------------------------------------
  // Proposing
  // -------------------------------------------------------------------------------------------

  changeRing(requestId: RequestId, change: RingChange): void {
    this.request({ kind: 'client', requestId }, change, 0);
  }

  private request(origin: ForwardOrigin, change: RingChange, hops: number): void {
    const s = this.st;
    if (s === null || !s.current.members.some((m) => m.id === this.opts.self)) {
      this.forward(origin, change, hops);
      return;
    }
    try {
      const next = propose(s, change, this.opts.self);
      this.stats.proposed++;
      this.mine = { id: next.id, change, outcome: 'running', message: '' };
      this.adopt(next);
      this.announceToMembers();
      this.answer(origin, { kind: 'written' });
    } catch (e) {
      if (!isRingkvError(e)) throw e;
      this.answer(origin, { kind: 'error', code: e.code, message: e.message });
    }
  }

  private forward(origin: ForwardOrigin, change: RingChange, hops: number): void {
    if (hops >= this.opts.forwardHopsMax) {
      return this.answer(origin, { kind: 'error', code: 'ERR_UNAVAILABLE', message: 'no ring member reached to start the change' });
    }
    if (this.forwards.size >= this.opts.forwardsMax) {
      return this.answer(origin, { kind: 'error', code: 'ERR_OVERLOADED', message: 'too many ring change requests in flight' });
    }
    const s = this.st;
    const candidates = s !== null ? s.current.members.map((m) => m.id) : [...new Set([...this.host.knownPeers(), ...this.opts.seeds])].sort();
    const live = candidates.filter((n) => n !== this.opts.self && !this.host.isDown(n));
    const target = live[this.opSeq % Math.max(1, live.length)];
    if (target === undefined) return this.answer(origin, { kind: 'error', code: 'ERR_UNAVAILABLE', message: 'no live ring member known to start the change' });
    const opId = `${this.opts.self}/${this.opts.incarnation}/t${++this.opSeq}`;
    this.forwards.set(opId, { origin, deadlineMs: this.host.nowMs() + this.opts.forwardTimeoutMs });
    this.host.send(target, { kind: 'change', opId, change, hops: hops + 1 });
  }

  private answer(origin: ForwardOrigin, result: KvResult): void {
    if (origin.kind === 'client') this.host.reply(origin.requestId, result);
    else this.host.send(origin.from, { kind: 'change_reply', opId: origin.opId, result });
  }

  // -------------------------------------------------------------------------------------------
  // Adopting
  // -------------------------------------------------------------------------------------------

  /** A gossiped payload (membership sync) or an `announce`. */
  onAnnouncement(payload: Uint8Array): void {
    const rank = peekRank(payload);
    if (rank === null) return;
    if (this.st !== null && compareRank(rank.version, rank.id, stateVersion(this.st), this.st.id) <= 0) return;
    let next: TopologyState;
    try {
      next = decodeState(payload);
    } catch (e) {
      if (isRingkvError(e)) return; // a malformed payload from a peer is ignored, never a crash
      throw e;
    }
    if (this.st !== null && compareStates(next, this.st) <= 0) return;
    this.adopt(next);
  }

  private adopt(next: TopologyState): void {
    const prev = this.st;
    if (prev !== null && compareStates(next, prev) <= 0) throw new Error('adopting a state that does not rank higher');
    const m = this.mine;
    if (m !== null && m.outcome === 'running') {
      if (next.id !== m.id) {
        m.outcome = 'failed';
        m.message = `superseded by concurrent change ${next.id}`;
      } else if (next.pending === null) {
        m.outcome = 'done';
        m.message = 'committed';
      }
    }
    if (next.pending === null && prev?.pending !== null && prev !== null && prev.id === next.id && prev.change !== null) this.lastCommitted = prev.change;
    this.st = next;
    this.stats.adopted++;
    this.adoptedAtMs = this.host.nowMs();
    this.entered();
    this.host.adopted(next);
  }

  private entered(): void {
    const s = this.st;
    if (s === null) return;
    this.dones.clear();
    if (this.gain !== null) this.lastGain = { slots: this.gain.slots.length, keys: this.gain.keys, bytes: this.gain.bytes };
    this.gain = null;
    this.gainerList = gainers(s);
    this.handoffPage = null;
    this.handoffScanning = false;
    if (s.pending !== null) {
      this.handoffActive = false;
      const slots = gainedSlots(s, this.opts.self);
      if (slots.length > 0) {
        const removed = removedMember(s);
        const sources = new Map<NodeId, SourceCursor>();
        for (const slot of slots) {
          for (const o of s.current.owners[slot]!) {
            if (o === this.opts.self || o === removed) continue;
            let c = sources.get(o);
            if (c === undefined) {
              c = { afterKey: null, phase: 'idle', atMs: this.host.nowMs(), attempt: 0, slots: new Set() };
              sources.set(o, c);
            }
            c.slots.add(slot);
          }
        }
        this.gain = { version: stateVersion(s), id: s.id, slots, sources, keys: 0, bytes: 0, done: false, nextDoneMs: 0 };
      }
    } else {
      this.handoffActive = true;
      this.handoffRescan = false;
      this.handoffAfter = null;
      this.handoffNextScanMs = 0;
    }
  }

  private announceToMembers(): void {
    const s = this.st;
    if (s === null) return;
    const payload = encodeState(s);
    for (const n of this.members()) this.host.send(n, { kind: 'announce', payload });
  }

  /** Members of current and pending, self excluded, sorted. */
  private members(): NodeId[] {
    const s = this.st;
    if (s === null) return [];
    const out = new Set<NodeId>();
    for (const m of s.current.members) out.add(m.id);
    if (s.pending !== null) for (const m of s.pending.members) out.add(m.id);
    out.delete(this.opts.self);
    return [...out].sort();
  }

  /** Answers a message naming another state: ours if it ranks higher, else ask for theirs. */
  private mismatch(from: NodeId, version: number, id: string): boolean {
    const s = this.st;
    if (s !== null && version === stateVersion(s) && id === s.id) return false;
    if (s !== null && compareRank(stateVersion(s), s.id, version, id) > 0) this.host.send(from, { kind: 'announce', payload: encodeState(s) });
    else this.host.send(from, { kind: 'announce_request' });
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  onMessage(from: NodeId, m: TopologyMessage): void {
    switch (m.kind) {
      case 'change':
        this.request({ kind: 'peer', from, opId: m.opId }, m.change, m.hops);
        return;
      case 'change_reply': {
        const f = this.forwards.get(m.opId);
        if (f === undefined) return;
        this.forwards.delete(m.opId);
        this.answer(f.origin, m.result);
        return;
      }
      case 'pull':
        this.servePull(from, m.version, m.id, m.afterKey);
        return;
      case 'pull_reply':
        this.onPullReply(from, m);
        return;
      case 'done': {
        if (this.mismatch(from, m.version, m.id)) return;
        if (this.st?.pending === null) return;
        this.dones.add(from);
        this.maybeCommit();
        return;
      }
      case 'push': {
        const s = this.st;
        if (s === null || !ownsKey(s, this.opts.self, m.key)) return; // not ours (yet): no ack, the holder retries
        this.host.merge(m.key, asBuffer(m.record), () => this.host.send(from, { kind: 'push_ack', pushId: m.pushId, key: m.key }));
        return;
      }
      case 'push_ack': {
        const h = this.handoffPage?.get(m.key);
        if (h === undefined || h.pushId !== m.pushId) return;
        h.waiting.delete(from);
        if (h.waiting.size === 0) this.purge(h);
        return;
      }
      case 'announce':
        this.onAnnouncement(m.payload);
        return;
      case 'announce_request':
        if (this.st !== null) this.host.send(from, { kind: 'announce', payload: encodeState(this.st) });
        return;
      default: {
        const never: never = m;
        throw new TypeError(`unknown topology message ${JSON.stringify(never)}`);
      }
    }
  }

  private servePull(from: NodeId, version: number, id: string, afterKey: string | null): void {
    const retry = (): void => this.host.send(from, { kind: 'pull_reply', version, id, afterKey, status: 'retry', records: [], next: null });
    if (this.mismatch(from, version, id)) return retry();
    const s = this.st;
    if (s === null || s.pending === null) return retry();
    if (this.host.nowMs() - this.adoptedAtMs < this.opts.quiesceMs) return retry();
    this.host.scan(afterKey, this.opts.pullPageMax, (page) => {
      const now = this.st;
      if (page === null || now !== s) return retry();
      const records: [string, Uint8Array][] = [];
      const pending = s.pending;
      if (pending === null) return retry();
      for (const r of page.records) {
        const slot = keySlot(r.key);
        const cur = s.current.owners[slot]!;
        if (cur.includes(this.opts.self) && !cur.includes(from) && pending.owners[slot]!.includes(from)) records.push([r.key, r.record]);
      }
      const last = page.records[page.records.length - 1];
      this.stats.pullsServed++;
      this.host.send(from, { kind: 'pull_reply', version, id, afterKey, status: 'ok', records, next: page.done || last === undefined ? null : last.key });
    });
  }

  private onPullReply(from: NodeId, m: Extract<TopologyMessage, { kind: 'pull_reply' }>): void {
    const g = this.gain;
    const src = g?.sources.get(from);
    if (g === null || src === undefined || g.version !== m.version || g.id !== m.id || src.phase !== 'waiting' || src.afterKey !== m.afterKey) return;
    const now = this.host.nowMs();
    if (m.status === 'retry') {
      src.phase = 'idle';
      src.atMs = now + this.opts.retryMs;
      return;
    }
    const wanted = m.records.filter(([key]) => src.slots.has(keySlot(key)));
    const advance = (): void => {
      for (const [, r] of wanted) g.bytes += r.byteLength;
      g.keys += wanted.length;
      this.stats.keysStreamed += wanted.length;
      for (const [, r] of wanted) this.stats.bytesStreamed += r.byteLength;
      src.afterKey = m.next;
      src.phase = m.next === null ? 'done' : 'idle';
      src.atMs = this.host.nowMs();
      this.checkGainDone();
    };
    if (wanted.length === 0) return advance();
    src.phase = 'merging';
    src.attempt++;
    const attempt = src.attempt;
    // A merge whose store fails never calls back: the deadline re-pulls the same page.
    src.atMs = now + 4 * this.opts.retryMs;
    let remaining = wanted.length;
    for (const [key, record] of wanted) {
      this.host.merge(key, asBuffer(record), () => {
        if (this.gain !== g || src.phase !== 'merging' || src.attempt !== attempt) return;
        if (--remaining === 0) advance();
      });
    }
  }

  private checkGainDone(): void {
    const g = this.gain;
    if (g === null || g.done) return;
    for (const c of g.sources.values()) if (c.phase !== 'done') return;
    g.done = true;
    g.nextDoneMs = this.host.nowMs();
    this.dones.add(this.opts.self);
    this.sendDone();
    this.maybeCommit();
  }

  private sendDone(): void {
    const g = this.gain;
    if (g === null || !g.done || this.st?.pending === null) return;
    const removed = this.st === null ? null : removedMember(this.st);
    for (const n of this.members()) if (n !== removed) this.host.send(n, { kind: 'done', version: g.version, id: g.id });
    g.nextDoneMs = this.host.nowMs() + this.opts.retryMs;
  }

  private maybeCommit(): void {
    const s = this.st;
    if (s === null || s.pending === null) return;
    for (const g of this.gainerList) if (!this.dones.has(g)) return;
    this.stats.commits++;
    this.adopt(commit(s));
    this.announceToMembers();
  }

  // -------------------------------------------------------------------------------------------
  // Time
  // -------------------------------------------------------------------------------------------

  tick(): void {
    const now = this.host.nowMs();
    for (const [opId, f] of [...this.forwards]) {
      if (now < f.deadlineMs) continue;
      this.forwards.delete(opId);
      this.answer(f.origin, { kind: 'error', code: 'ERR_MAYBE_APPLIED', message: 'the ring member asked to start the change did not answer' });
    }
    const g = this.gain;
    const s = this.st;
    if (g !== null && s !== null && s.pending !== null) {
      if (g.done) {
        if (now >= g.nextDoneMs) this.sendDone();
      } else {
        for (const [peer, c] of g.sources) {
          if (c.phase === 'done' || now < c.atMs) continue;
          if (c.phase === 'waiting' || c.phase === 'merging') {
            c.phase = 'idle';
            c.atMs = now;
          }
          if (this.host.isDown(peer)) {
            c.atMs = now + this.opts.retryMs;
            continue;
          }
          c.phase = 'waiting';
          c.atMs = now + 2 * this.opts.retryMs;
          this.host.send(peer, { kind: 'pull', version: g.version, id: g.id, afterKey: c.afterKey });
        }
        this.checkGainDone();
      }
    }
    // Normally the last `done` commits; this covers a change with no gainer at all.
    if (s !== null && s.pending !== null && this.gainerList.length === 0) this.maybeCommit();
    this.handoffTick(now);
  }

  // -------------------------------------------------------------------------------------------
  // Hand-off and purge of slots this node no longer owns
  // -------------------------------------------------------------------------------------------

  /** A user record was stored here: if its slot is not ours, a hand-off pass must see it. */
  noteStored(key: string): void {
    const s = this.st;
    if (s === null || ownsKey(s, this.opts.self, key)) return;
    if (this.handoffActive) this.handoffRescan = true;
    else if (s.pending === null) {
      this.handoffActive = true;
      this.handoffAfter = null;
    } else this.handoffRescan = true;
  }

  private handoffTick(now: number): void {
    const s = this.st;
    if (s === null || s.pending !== null) return;
    if (!this.handoffActive && this.handoffRescan) {
      this.handoffActive = true;
      this.handoffRescan = false;
      this.handoffAfter = null;
    }
    if (!this.handoffActive) return;
    const page = this.handoffPage;
    if (page !== null) {
      for (const h of page.values()) {
        if (h.purging || now < h.nextSendMs) continue;
        h.nextSendMs = now + this.opts.retryMs;
        for (const n of h.waiting) if (!this.host.isDown(n)) this.host.send(n, { kind: 'push', pushId: h.pushId, key: h.key, record: h.record });
      }
      return;
    }
    if (this.handoffScanning || now < this.handoffNextScanMs) return;
    this.handoffScanning = true;
    const version = stateVersion(s);
    this.host.scan(this.handoffAfter, this.opts.pullPageMax, (p) => {
      if (this.st !== s || !this.handoffScanning) return;
      this.handoffScanning = false;
      if (p === null) {
        this.handoffNextScanMs = this.host.nowMs() + this.opts.retryMs;
        return;
      }
      const entries = new Map<string, HandOff>();
      for (const r of p.records) {
        if (ownsKey(s, this.opts.self, r.key)) continue;
        const owners = s.current.owners[keySlot(r.key)]!.filter((n) => n !== this.opts.self);
        entries.set(r.key, {
          key: r.key, record: r.record, pushId: `${this.opts.self}/${this.opts.incarnation}/${version}/${++this.pushSeq}`,
          waiting: new Set(owners), nextSendMs: 0, purging: false,
        });
      }
      const last = p.records[p.records.length - 1];
      this.handoffAfter = p.done || last === undefined ? null : last.key;
      const finished = p.done || last === undefined;
      if (entries.size > 0) {
        this.handoffPage = entries;
        this.handoffPageLast = finished;
        for (const h of entries.values()) if (h.waiting.size === 0) this.purge(h);
      } else if (finished) {
        this.handoffActive = false;
      }
    });
  }

  /** Whether the current hand-off page is the last of its pass. */
  private handoffPageLast = false;

  private purge(h: HandOff): void {
    if (h.purging) return;
    h.purging = true;
    this.host.purge(h.key, h.record, (ok) => {
      const page = this.handoffPage;
      if (page === null || page.get(h.key) !== h) return;
      if (!ok) {
        h.purging = false;
        return this.purge(h);
      }
      this.stats.purged++;
      this.stats.keysHandedOff++;
      this.stats.bytesHandedOff += h.record.length;
      page.delete(h.key);
      if (page.size === 0) {
        this.handoffPage = null;
        if (this.handoffPageLast) this.handoffActive = false;
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Views
  // -------------------------------------------------------------------------------------------

  progress(): TopologyProgress {
    const s = this.st;
    const g = this.gain;
    let slotsMoved = 0;
    if (g !== null) {
      const pendingSlots = new Set<Slot>();
      for (const c of g.sources.values()) if (c.phase !== 'done') for (const slot of c.slots) pendingSlots.add(slot);
      slotsMoved = g.slots.length - pendingSlots.size;
    }
    const last = this.lastGain;
    const base = g !== null
      ? { slotsToMove: g.slots.length, slotsMoved, keysStreamed: g.keys, bytesStreamed: g.bytes }
      : { slotsToMove: last?.slots ?? 0, slotsMoved: last?.slots ?? 0, keysStreamed: last?.keys ?? 0, bytesStreamed: last?.bytes ?? 0 };
    const m = this.mine;
    // The proposer of a change that lost to a concurrent one sees its own change failed, even
    // while the winner is still in flight.
    if (m !== null && m.outcome === 'failed' && s !== null && s.id !== m.id) return { change: m.change, phase: 'failed', ...base, message: m.message };
    if (s !== null && s.pending !== null) {
      const streaming = g !== null && !g.done;
      const waiting = this.gainerList.filter((n) => !this.dones.has(n));
      return {
        change: s.change, phase: streaming ? 'streaming' : 'committing', ...base,
        message: streaming ? `streaming ${g.slots.length - slotsMoved} of ${g.slots.length} gained slots` : `waiting for ${waiting.join(', ') || 'nobody'}`,
      };
    }
    if (m !== null && m.outcome === 'done') return { change: m.change, phase: 'done', ...base, message: m.message };
    if (this.lastCommitted !== null) return { change: this.lastCommitted, phase: 'done', ...base, message: 'committed' };
    return { change: null, phase: 'idle', ...base, message: s === null ? 'not in a ring yet' : '' };
  }

  /** Whether a hand-off pass is running or owed (the simulator waits for none). */
  get handingOff(): boolean {
    return this.handoffActive || this.handoffRescan;
  }

  invariants(): void {
    if (this.forwards.size > this.opts.forwardsMax) throw new Error('topology: forwarded requests above their bound');
    const s = this.st;
    if (this.gain !== null) {
      if (s === null || s.pending === null) throw new Error('topology: streaming without a pending ring');
      if (this.gain.version !== stateVersion(s) || this.gain.id !== s.id) throw new Error('topology: streaming for another state');
    }
    if (this.handoffPage !== null && this.handoffPage.size > this.opts.pullPageMax) throw new Error('topology: hand-off page above its bound');
    if (s !== null && s.pending !== null && this.handoffPage !== null) throw new Error('topology: handing off during a change');
  }
}

