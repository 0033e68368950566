/**
 * The node's side of Merkle anti-entropy: owns the per-slot Merkle tree and the exchange state
 * machine (antientropy/), and turns their decisions into peer messages and storage effects.
 *
 * - Tree upkeep: every local store of a user record updates the tree with the digest of the
 *   record's canonical bytes (`onStored`). After a (re)start the tree is rebuilt by a bounded
 *   background scan: one `scan` page (at most `scanPageMax` records) per tick.
 * - While the rebuild runs the tree is incomplete, so the node neither opens sessions nor answers
 *   them (an `ae_open` gets `ae_busy`): an empty-looking tree would only cause needless transfers.
 * - Every `intervalMs` (first one jittered) it opens a session with one random live replica peer
 *   over the slots both replicate. `push` = read the local record and send it (`ae_push`); the
 *   peer merges it through its replica write path, synced, then acks. `fetch` = ask the peer
 *   (`ae_fetch`) and merge its answer locally, synced. When every transfer of a session is
 *   confirmed the exchange is told (`transfersDone`); a transfer unanswered for
 *   `transferTimeoutMs` fails its session (aborted, retried at a later interval).
 * - Watermarks: `lastSyncedAtMs(slot)` is the oldest of the per-peer marks over the slot's other
 *   replicas: when the slot was last fully in sync with all of them (null = never).
 *
 * Invariants: a transfer belongs to exactly one tracked session; a tracked session's
 * `outstanding` equals its transfers in `xfers`; bounded by the exchange's own limits.
 */
import {
  AntiEntropy, ANTI_ENTROPY_DEFAULTS, MerkleTree, recordDigest, type AeMessage, type AntiEntropyOptions, type Digest,
} from '../antientropy/index.js';
import type { PeerMessage, StoredRecord } from '../messages.js';
import { SLOT_COUNT } from '../ring/key-slot.js';
import type { NodeId, Random, Slot } from '../types.js';

/** A module-local copy: hot loops read it without going through the imported binding. */
const SLOTS: number = SLOT_COUNT;

export interface NodeAntiEntropyOptions extends Omit<AntiEntropyOptions, 'self' | 'incarnation'> {
  /** Time between the sessions this node opens. */
  readonly intervalMs: number;
  readonly bucketsPerSlot: number;
  /** Records per scan page while rebuilding the tree (one page per tick). */
  readonly scanPageMax: number;
  /** A transfer (push ack or fetch reply) unanswered this long fails its session. */
  readonly transferTimeoutMs: number;
}

export const NODE_ANTI_ENTROPY_DEFAULTS: NodeAntiEntropyOptions = {
  ...ANTI_ENTROPY_DEFAULTS,
  intervalMs: 10_000,
  bucketsPerSlot: 8,
  scanPageMax: 256,
  transferTimeoutMs: 5_000,
};

export interface AntiEntropyHost {
  nowMs(): number;
  send(to: NodeId, message: PeerMessage): void;
  /** The local record (null = none), or undefined when the read failed. */
  read(key: string, done: (record: Buffer | null | undefined) => void): void;
  scan(afterKey: string | null, limit: number, done: (page: { records: StoredRecord[]; done: boolean } | null) => void): void;
  /** Merge a peer's record through the replica write path, synced; `then` once stored. */
  merge(key: string, record: Buffer, then: (changed: boolean) => void): void;
  isDown(node: NodeId): boolean;
  /** The replicas of a slot (its preference list). */
  slotReplicas(slot: Slot): readonly NodeId[];
  /** Identity of the placement slotReplicas answers from: nodes sharing it share the slot tables. */
  readonly placementKey: object;
  /** Whether this node replicates the key (transfers for other keys are refused). */
  replicates(key: string): boolean;
}

export interface AntiEntropyNodeStats {
  sessionsOpened: number;
  sessionsSynced: number;
  sessionsAborted: number;
  /** Tree-protocol bytes this node sent (MessagePack sizes of `ae` messages). */
  protocolBytes: number;
  /** Record bytes this node sent in transfers (pushes and fetch replies). */
  transferBytes: number;
  /** Record bytes received in transfers whose merge changed the stored record here. */
  usefulBytes: number;
  pushes: number;
  fetches: number;
  rebuilds: number;
  scanPages: number;
}

interface Xfer {
  readonly sid: number;
  readonly peer: NodeId;
  readonly key: string;
  readonly kind: 'push' | 'fetch';
}

interface TrackedSession {
  readonly peer: NodeId;
  outstanding: number;
  failed: boolean;
  lastActivityMs: number;
}

/**
 * Shared slots per (placement, self): computed once per placement (a 16384-slot walk), the ring
 * being static here (topology change is not wired into anti-entropy yet).
 */
const sharedCache = new WeakMap<object, Map<NodeId, Map<NodeId, Slot[]>>>();

function sharedSlots(placementKey: object, slotReplicas: (slot: Slot) => readonly NodeId[], self: NodeId): Map<NodeId, Slot[]> {
  let bySelf = sharedCache.get(placementKey);
  if (bySelf === undefined) {
    bySelf = new Map();
    sharedCache.set(placementKey, bySelf);
  }
  let out = bySelf.get(self);
  if (out === undefined) {
    out = new Map();
    for (let s = 0; s < SLOTS; s++) {
      const list = slotReplicas(s);
      if (!list.includes(self)) continue;
      for (const p of list) {
        if (p === self) continue;
        let slots = out.get(p);
        if (slots === undefined) {
          slots = [];
          out.set(p, slots);
        }
        slots.push(s);
      }
    }
    bySelf.set(self, out);
  }
  return out;
}

export class AntiEntropyDriver {
  readonly tree: MerkleTree;
  private readonly ae: AntiEntropy;
  private readonly shared: Map<NodeId, Slot[]>;
  private readonly peers: NodeId[];
  private rebuild: ReturnType<MerkleTree['beginRebuild']> | null = null;
  private scanAfter: string | null = null;
  private scanInFlight = false;
  private scanWanted = false;
  private nextSessionAtMs: number;
  private xferSeq = 0;
  private roundRobin = 0;
  private readonly xfers = new Map<string, Xfer>();
  private readonly sessions = new Map<number, TrackedSession>();
  readonly stats: AntiEntropyNodeStats = {
    sessionsOpened: 0, sessionsSynced: 0, sessionsAborted: 0, protocolBytes: 0, transferBytes: 0, usefulBytes: 0, pushes: 0, fetches: 0,
    rebuilds: 0, scanPages: 0,
  };

  constructor(
    private readonly self: NodeId,
    private readonly incarnation: number,
    private readonly opts: NodeAntiEntropyOptions,
    private readonly host: AntiEntropyHost,
    private readonly random: Random | null,
  ) {
    for (const [name, v] of [['intervalMs', opts.intervalMs], ['scanPageMax', opts.scanPageMax], ['transferTimeoutMs', opts.transferTimeoutMs]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`antiEntropy.${name} must be a positive integer, got ${v}`);
    }
    this.tree = new MerkleTree({ bucketsPerSlot: opts.bucketsPerSlot });
    // Session ids embed the incarnation modulo 2^31 (the exchange's bound); lives 2^31 apart never overlap in time.
    this.shared = sharedSlots(host.placementKey, (s) => host.slotReplicas(s), self);
    const shared = this.shared;
    this.ae = new AntiEntropy(this.tree, { ...opts, self, incarnation: incarnation % 2 ** 31, impliedSlots: (peer) => shared.get(peer) ?? [] });
    this.peers = [...this.shared.keys()].sort();
    // Spread the first session over an interval so restarted nodes do not open in lockstep.
    this.nextSessionAtMs = host.nowMs() + Math.floor((random?.next() ?? 0.5) * opts.intervalMs);
    this.startRebuild();
  }

  /** A user record was stored locally (any path): keep the tree's digest of it current. */
  onStored(key: string, record: Buffer): void {
    this.tree.update(key, recordDigest(record));
  }

  get rebuilding(): boolean {
    return this.rebuild !== null;
  }

  /** When `slot` was last fully in sync with all its other replicas (local ms); null = never. */
  lastSyncedAtMs(slot: Slot): number | null {
    return this.ae.syncedPastMs(slot, this.host.slotReplicas(slot));
  }

  /** When `slot` last completed a session with `peer` (local ms); null = never. */
  lastSyncedWithAtMs(slot: Slot, peer: NodeId): number | null {
    return this.ae.lastSyncedAtMs(slot, peer);
  }

  get openSessions(): number {
    return this.ae.openSessions;
  }

  tick(): void {
    const now = this.host.nowMs();
    this.ae.tick(now);
    if (this.scanWanted && !this.scanInFlight) this.issueScan();
    for (const [sid, s] of [...this.sessions]) {
      if (s.outstanding > 0 && now - s.lastActivityMs > this.opts.transferTimeoutMs) {
        for (const [id, x] of [...this.xfers]) if (x.sid === sid) this.xfers.delete(id);
        s.outstanding = 0;
        s.failed = true;
      }
      if (s.outstanding === 0) this.ae.transfersDone(sid, !s.failed);
    }
    if (this.rebuild === null && now >= this.nextSessionAtMs) {
      this.nextSessionAtMs = now + this.opts.intervalMs;
      this.openSession();
    }
    this.drain();
  }

  private openSession(): void {
    const live = this.peers.filter((p) => !this.host.isDown(p));
    if (live.length === 0) return;
    const peer = this.random !== null ? live[Math.floor(this.random.next() * live.length)] : live[this.roundRobin++ % live.length];
    if (peer === undefined) return;
    const slots = this.shared.get(peer);
    if (slots === undefined || slots.length === 0) return;
    const sid = this.ae.open(peer, slots);
    if (sid === null) return;
    this.stats.sessionsOpened++;
    this.sessions.set(sid, { peer, outstanding: 0, failed: false, lastActivityMs: this.host.nowMs() });
  }

  /** Peer messages of kind ae, ae_push, ae_push_ack, ae_fetch, ae_fetch_reply. */
  message(from: NodeId, m: PeerMessage): void {
    switch (m.kind) {
      case 'ae':
        if (this.rebuild !== null && (m.message.kind === 'ae_open' || m.message.kind === 'ae_open_implied')) {
          this.sendAe(from, { kind: 'ae_busy', sid: m.message.sid });
          break;
        }
        this.ae.receive(from, m.message);
        break;
      case 'ae_push':
        if (!this.host.replicates(m.key)) return;
        this.host.merge(m.key, m.record, (changed) => {
          if (changed) this.stats.usefulBytes += m.record.length;
          this.host.send(from, { kind: 'ae_push_ack', xferId: m.xferId, key: m.key });
        });
        return;
      case 'ae_push_ack':
        this.finishXfer(from, m.xferId, 'push');
        break;
      case 'ae_fetch':
        if (!this.host.replicates(m.key)) return;
        this.host.read(m.key, (record) => {
          if (record === undefined) return; // a failed read: the asker times out and retries later
          if (record !== null) this.stats.transferBytes += record.length;
          this.host.send(from, { kind: 'ae_fetch_reply', xferId: m.xferId, key: m.key, record });
        });
        return;
      case 'ae_fetch_reply': {
        const x = this.xfers.get(m.xferId);
        if (x === undefined || x.peer !== from || x.kind !== 'fetch' || x.key !== m.key) return;
        if (m.record === null) {
          this.finishXfer(from, m.xferId, 'fetch');
          break;
        }
        const record = m.record;
        this.host.merge(m.key, record, (changed) => {
          if (changed) this.stats.usefulBytes += record.length;
          this.finishXfer(from, m.xferId, 'fetch');
          this.drain();
        });
        return;
      }
      default:
        throw new Error(`${m.kind} is not an anti-entropy message`);
    }
    this.drain();
  }

  private finishXfer(from: NodeId, xferId: string, kind: Xfer['kind'], failed = false): void {
    const x = this.xfers.get(xferId);
    if (x === undefined || x.peer !== from || x.kind !== kind) return;
    this.xfers.delete(xferId);
    const s = this.sessions.get(x.sid);
    if (s === undefined) return;
    s.outstanding--;
    if (failed) s.failed = true;
    s.lastActivityMs = this.host.nowMs();
    if (s.outstanding === 0) this.ae.transfersDone(x.sid, !s.failed);
  }

  private sendAe(to: NodeId, message: AeMessage): void {
    this.host.send(to, { kind: 'ae', message });
  }

  private drain(): void {
    for (;;) {
      const outputs = this.ae.takeOutputs();
      if (outputs.length === 0) return;
      for (const o of outputs) {
        switch (o.kind) {
          case 'send':
            this.sendAe(o.to, o.message);
            break;
          case 'push':
          case 'fetch': {
            const s = this.sessions.get(o.sid);
            if (s === undefined) break; // a session of ours we no longer track cannot be: defensive
            const xferId = `${this.incarnation}.${++this.xferSeq}`;
            this.xfers.set(xferId, { sid: o.sid, peer: o.peer, key: o.key, kind: o.kind });
            s.outstanding++;
            s.lastActivityMs = this.host.nowMs();
            if (o.kind === 'fetch') {
              this.stats.fetches++;
              this.host.send(o.peer, { kind: 'ae_fetch', xferId, key: o.key });
              break;
            }
            this.stats.pushes++;
            this.host.read(o.key, (record) => {
              if (!this.xfers.has(xferId)) return;
              if (record === undefined || record === null) {
                // Nothing to push (gone since the tree saw it) or a failed read.
                this.finishXfer(o.peer, xferId, 'push', record === undefined);
                this.drain();
                return;
              }
              this.stats.transferBytes += record.length;
              this.host.send(o.peer, { kind: 'ae_push', xferId, key: o.key, record });
            });
            break;
          }
          case 'session_end':
            this.sessions.delete(o.sid);
            for (const [id, x] of [...this.xfers]) if (x.sid === o.sid) this.xfers.delete(id);
            if (o.outcome === 'synced') this.stats.sessionsSynced++;
            else this.stats.sessionsAborted++;
            break;
          default: {
            const never: never = o;
            throw new TypeError(`unknown anti-entropy output ${JSON.stringify(never)}`);
          }
        }
      }
      this.stats.protocolBytes = this.ae.stats.bytesSent;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Rebuild
  // -------------------------------------------------------------------------------------------

  private startRebuild(): void {
    this.rebuild = this.tree.beginRebuild();
    this.stats.rebuilds++;
    this.scanAfter = null;
    this.issueScan();
  }

  private issueScan(): void {
    this.scanWanted = false;
    this.scanInFlight = true;
    this.host.scan(this.scanAfter, this.opts.scanPageMax, (page) => {
      this.scanInFlight = false;
      const r = this.rebuild;
      if (r === null) return;
      if (page === null) {
        this.scanWanted = true; // a failed page is retried at the next tick
        return;
      }
      this.stats.scanPages++;
      const entries = page.records;
      let i = 0;
      const iter: Iterator<readonly [string, Digest]> = {
        next: () => {
          const e = entries[i++];
          return e === undefined ? { done: true, value: undefined } : { done: false, value: [e.key, recordDigest(e.record)] as const };
        },
      };
      const last = page.done || entries.length === 0;
      // Not the last page: feed exactly its entries, so the iterator's end does not finish the rebuild.
      const finished = r.step(iter, last ? entries.length + 1 : entries.length);
      if (finished || last) {
        if (!finished) r.step(iter, 1);
        this.rebuild = null;
        return;
      }
      this.scanAfter = entries[entries.length - 1]!.key;
      this.scanWanted = true; // the next page goes at the next tick: bounded work per tick
    });
  }

  invariants(): void {
    this.ae.invariants();
    let total = 0;
    for (const s of this.sessions.values()) {
      if (s.outstanding < 0) throw new Error('antientropy driver: negative outstanding transfers');
      total += s.outstanding;
    }
    if (total !== this.xfers.size) throw new Error(`antientropy driver: ${this.xfers.size} transfers tracked, sessions count ${total}`);
    for (const x of this.xfers.values()) if (!this.sessions.has(x.sid)) throw new Error('antientropy driver: transfer of an untracked session');
  }
}
