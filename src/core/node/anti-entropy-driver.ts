/**
 * The node's side of Merkle anti-entropy: owns the per-slot Merkle tree and the exchange state
 * machine (antientropy/), turns their decisions into peer messages and storage effects, and
 * garbage-collects tombstones and expired records.
 *
 * - Tree upkeep: every local store of a user record updates the tree with the digest of the
 *   record's canonical bytes (`onStored`). After a (re)start the tree is rebuilt by a bounded
 *   background scan: one `scan` page (at most `scanPageMax` records) per tick.
 * - While the rebuild runs the tree is incomplete, so the node neither opens sessions nor answers
 *   them (an `ae_open` gets `ae_busy`): an empty-looking tree would only cause needless transfers.
 * - Every `intervalMs` (first one jittered) it opens a session with one random live replica peer
 *   over the slots both replicate. Transfers travel in batches inside `ae` messages: a push is
 *   one `ae_data` (the peer merges each record through its replica write path, synced, then
 *   acks the batch with `ae_data_ack`); a fetch is one `ae_want` of compact entry hashes,
 *   answered by `ae_data` with the records, merged here, synced. When every transfer of a
 *   session is confirmed the exchange is told (`transfersDone`); a transfer unanswered for
 *   `transferTimeoutMs`, a want the peer could not fully resolve, or a failed read fails its
 *   session (aborted, retried at a later interval).
 * - Watermarks: `lastSyncedAtMs(slot)` is the oldest of the per-peer marks over the slot's other
 *   replicas: when the slot was last fully in sync with all of them (null = never).
 *
 * Tombstone and expiry GC (`tombstoneGraceMs`; null = never purge). A record is DEAD when every
 * sibling is a tombstone or has an expiry (the expiry travels in the record, so every replica
 * agrees on it); it died at `deadSinceMs` = the latest of its tombstones' write times and its
 * siblings' expiry times (cluster clock). The driver tracks dead records it stores (and finds by
 * the rebuild scan) with the local time it stored them, and purges one when ALL hold:
 *   1. now >= max(storedAt, deadSince) + grace: older versions still in flight (hints, late
 *      replicates, read repairs) have landed or expired — the grace must exceed the hint window
 *      plus request timeouts (the Node checks it);
 *   2. every other replica of its slot completed an anti-entropy session with this node that
 *      started after storedAt (`syncedPastMs`, tombstones.ts): each holds a descendant of the
 *      record — or holds nothing for the key;
 *   3. every replica is up, no ring change is in flight, and a synced push of the record to
 *      every other replica was acked ("prepare"): sessions can end on equal trees while a
 *      replica holds the record only in an unsynced write (a read repair) that a crash then
 *      loses, reviving the older version it superseded; the prepare makes it durable;
 *   4. `purgeSettleMs` after the last ack: an older version a replica sent before it held the
 *      record (a session push of its old copy, a read repair built from it) may still be in
 *      flight, and must land while the record is here to supersede it (a test found one
 *      arriving right after the purge and being stored as new);
 *   5. then a compare-and-delete `purge` under the key's turn (a write landing meanwhile wins).
 * A replica that purged a record (and holds nothing for the key since) does not store that
 * same record again when anti-entropy brings it back from a replica that has not purged yet
 * (it answers as if merged): its purge established that every replica held the record and
 * nothing older was in flight, and storing it would bounce the tombstone between replicas that
 * purge at different times, forever. It remembers its purges for twice the grace. A replica
 * that never held the record stores it like any other: an older version may still reach it.
 *
 * Invariants: a transfer belongs to exactly one tracked session; a tracked session's
 * `outstanding` equals its transfers in `xfers`; a purge in progress is tracked once; bounded
 * by the exchange's own limits and `purgeBatchMax` / `deadTrackedMax`.
 */
import {
  AntiEntropy, ANTI_ENTROPY_DEFAULTS, canPurgeTombstone, MerkleTree, messageBytes, recordDigest, type AeMessage, type AntiEntropyOptions, type Digest,
} from '../antientropy/index.js';
import type { PeerMessage, StoredRecord } from '../messages.js';
import { keySlot, SLOT_COUNT } from '../ring/key-slot.js';
import type { NodeId, Random, Slot } from '../types.js';
import { decodeRecord } from '../versioning/index.js';

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
  /** How long a dead record (tombstones, expired values) is kept at least; null = never purged. */
  readonly tombstoneGraceMs: number | null;
  /** Dead records prepared for purge per tick. */
  readonly purgeBatchMax: number;
  /** Dead records tracked for purge (beyond: found again by the next restart's scan). */
  readonly deadTrackedMax: number;
  /**
   * Wait between the last prepare ack and the compare-and-delete: older versions a replica sent
   * before it acked (a session push, a read repair built from its old copy) are still in flight
   * for up to a request timeout plus the network's delay. The Node checks it covers requestTimeoutMs.
   */
  readonly purgeSettleMs: number;
}

export const NODE_ANTI_ENTROPY_DEFAULTS: NodeAntiEntropyOptions = {
  ...ANTI_ENTROPY_DEFAULTS,
  intervalMs: 10_000,
  bucketsPerSlot: 8,
  scanPageMax: 256,
  transferTimeoutMs: 5_000,
  // Past the default hint window (3 h) with room for timeouts and clock skew.
  tombstoneGraceMs: 4 * 60 * 60 * 1000,
  purgeBatchMax: 64,
  deadTrackedMax: 1 << 20,
  purgeSettleMs: 5_000,
};

export interface AntiEntropyHost {
  nowMs(): number;
  send(to: NodeId, message: PeerMessage): void;
  /** The local record (null = none), or undefined when the read failed. */
  read(key: string, done: (record: Buffer | null | undefined) => void): void;
  scan(afterKey: string | null, limit: number, done: (page: { records: StoredRecord[]; done: boolean } | null) => void): void;
  /** Merge a peer's record through the replica write path, synced; `then` once stored. */
  merge(key: string, record: Buffer, then: (changed: boolean) => void): void;
  /** Compare-and-delete under the key's turn; the tree is updated from what storage holds after. */
  purge(key: string, record: Buffer, done: (ok: boolean) => void): void;
  isDown(node: NodeId): boolean;
  /** The replicas of a slot (its preference list). */
  slotReplicas(slot: Slot): readonly NodeId[];
  /** Identity of the placement slotReplicas answers from: nodes sharing it share the slot tables. */
  readonly placementKey: object;
  /** Whether this node replicates the key (transfers for other keys are refused). */
  replicates(key: string): boolean;
  /** False while a ring change is in flight: replica sets are moving, nothing is purged. */
  readonly purgeAllowed: boolean;
}

export interface AntiEntropyNodeStats {
  sessionsOpened: number;
  sessionsSynced: number;
  sessionsAborted: number;
  /** Tree-protocol bytes this node sent (wire sizes of open/request/reply/close messages). */
  protocolBytes: number;
  /** Wire bytes of the session transfer messages this node sent (ae_data, ae_data_ack, ae_want), records included. */
  transferMessageBytes: number;
  /** Wire bytes of purge prepares (and their acks) this node sent: the cost of tombstone GC. */
  purgeMessageBytes: number;
  /** Record bytes (key + record) this node sent in transfers. */
  transferBytes: number;
  /** Record bytes (key + record) received in transfers whose merge changed the stored record here. */
  usefulBytes: number;
  pushes: number;
  fetches: number;
  rebuilds: number;
  scanPages: number;
  /** Dead records removed from storage by this node. */
  purges: number;
  /** Records this node had purged that anti-entropy brought back, not stored again. */
  deadRefused: number;
}

interface Xfer {
  readonly sid: number;
  readonly peer: NodeId;
  readonly kind: 'push' | 'fetch' | 'prepare';
}

interface TrackedSession {
  readonly peer: NodeId;
  outstanding: number;
  failed: boolean;
  lastActivityMs: number;
}

interface DeadRecord {
  readonly record: Buffer;
  readonly storedAtMs: number;
  readonly deadSinceMs: number;
}

/** A purge being prepared: the records pushed to every other replica, waiting for their acks. */
interface Prepare {
  readonly records: Map<string, Buffer>;
  readonly waiting: Set<number>;
  readonly startedAtMs: number;
  /** When the last ack arrived; the purge goes `purgeSettleMs` later. null = acks pending. */
  ackedAtMs: number | null;
}

/**
 * When a record died (every sibling a tombstone or expiring): the latest tombstone write time
 * and expiry among its siblings, cluster clock; null when a sibling never expires.
 */
export function deadSinceMs(record: Uint8Array): number | null {
  const r = decodeRecord(record);
  let since = 0;
  for (const s of r.siblings) {
    if (s.value === null) since = Math.max(since, s.hlc.wallMs);
    else if (s.expiresAtMs !== 0) since = Math.max(since, s.hlc.wallMs, s.expiresAtMs);
    else return null;
  }
  return since;
}

/**
 * Shared slots per (placement, self): computed once per placement (a 16384-slot walk); a ring
 * change builds a new placement and a new driver.
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

const XFER_SEQUENCE_SPAN = 2 ** 21;

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
  private nextPurgeCheckAtMs = 0;
  private xferSeq = 0;
  private roundRobin = 0;
  private readonly xfers = new Map<number, Xfer>();
  private readonly sessions = new Map<number, TrackedSession>();
  /** Dead records stored here, oldest first (re-inserted when rotated or rewritten). */
  private readonly dead = new Map<string, DeadRecord>();
  /** Keys being prepared or purged (not prepared twice). */
  private readonly purging = new Set<string>();
  private readonly prepares = new Map<number, Prepare>();
  /** Keys whose compare-and-delete is issued (a subset of `purging`). */
  private readonly purgeIssued = new Set<string>();
  /** Peer pushes of a key being purged here, applied once the purge ended (bounded by pushes in flight). */
  private readonly purgeWaiters = new Map<string, (() => void)[]>();
  /** Records this node purged, oldest first, kept for twice the grace (and at most deadTrackedMax). */
  private readonly purged = new Map<string, { record: Buffer; atMs: number }>();
  readonly stats: AntiEntropyNodeStats = {
    sessionsOpened: 0, sessionsSynced: 0, sessionsAborted: 0, protocolBytes: 0, transferMessageBytes: 0, purgeMessageBytes: 0, transferBytes: 0,
    usefulBytes: 0, pushes: 0, fetches: 0, rebuilds: 0, scanPages: 0, purges: 0, deadRefused: 0,
  };

  constructor(
    private readonly self: NodeId,
    private readonly incarnation: number,
    private readonly opts: NodeAntiEntropyOptions,
    private readonly host: AntiEntropyHost,
    private readonly random: Random | null,
  ) {
    for (const [name, v] of [['intervalMs', opts.intervalMs], ['scanPageMax', opts.scanPageMax], ['transferTimeoutMs', opts.transferTimeoutMs],
      ['purgeBatchMax', opts.purgeBatchMax], ['deadTrackedMax', opts.deadTrackedMax], ['purgeSettleMs', opts.purgeSettleMs]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`antiEntropy.${name} must be a positive integer, got ${v}`);
    }
    const g = opts.tombstoneGraceMs;
    if (g !== null && (!Number.isSafeInteger(g) || g < 0)) throw new RangeError(`antiEntropy.tombstoneGraceMs must be null or a non-negative integer, got ${g}`);
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

  /** A user record was stored locally (any path): keep the tree's digest of it current, and track it when dead. */
  onStored(key: string, record: Buffer): void {
    this.tree.update(key, recordDigest(record));
    this.track(key, record, this.host.nowMs());
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

  /** Dead records tracked for purge. */
  get deadTracked(): number {
    return this.dead.size;
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
    // Dead records are looked at ten times per session interval, not every tick.
    if (now >= this.nextPurgeCheckAtMs) {
      this.nextPurgeCheckAtMs = now + Math.max(1, Math.floor(this.opts.intervalMs / 10));
      this.purgeTick(now);
    }
    this.drain();
  }

  private openSession(): void {
    const live = this.peers.filter((p) => !this.host.isDown(p));
    if (live.length === 0) return;
    const peer = this.random !== null ? live[Math.floor(this.random.next() * live.length)] : live[this.roundRobin++ % live.length];
    if (peer === undefined) return;
    this.openSessionWith(peer);
  }

  private openSessionWith(peer: NodeId): boolean {
    const slots = this.shared.get(peer);
    if (slots === undefined || slots.length === 0) return false;
    const sid = this.ae.open(peer, slots);
    if (sid === null) return false;
    this.stats.sessionsOpened++;
    this.sessions.set(sid, { peer, outstanding: 0, failed: false, lastActivityMs: this.host.nowMs() });
    return true;
  }

  /**
   * Operator repair: a session with every live replica peer now, instead of one random peer per
   * interval. Returns how many opened (a peer with a session already open is skipped).
   */
  repairNow(): number {
    if (this.rebuild !== null) return 0;
    let opened = 0;
    for (const peer of this.peers) if (!this.host.isDown(peer) && this.openSessionWith(peer)) opened++;
    this.drain();
    return opened;
  }

  /** Every slot this node shares with another replica, with when it was last fully in sync. */
  syncMarks(): Map<Slot, number | null> {
    const out = new Map<Slot, number | null>();
    for (const slots of this.shared.values()) for (const slot of slots) if (!out.has(slot)) out.set(slot, this.lastSyncedAtMs(slot));
    return out;
  }

  /** Peer messages of kind `ae` (the exchange and its transfers). */
  message(from: NodeId, m: PeerMessage): void {
    if (m.kind !== 'ae') return; // the per-key transfer messages of earlier versions are not used
    const am = m.message;
    switch (am.kind) {
      case 'ae_open':
      case 'ae_open_implied':
        if (this.rebuild !== null) {
          this.sendAe(from, { kind: 'ae_busy', sid: am.sid });
          break;
        }
        this.ae.receive(from, am);
        break;
      case 'ae_request':
      case 'ae_reply':
      case 'ae_busy':
      case 'ae_close':
        this.ae.receive(from, am);
        break;
      case 'ae_data':
        if (am.missing !== undefined) this.onDataAnswer(from, am);
        else this.onDataPush(from, am);
        return;
      case 'ae_data_ack':
        this.onAck(from, am.xfer);
        break;
      case 'ae_want':
        this.onWant(from, am);
        return;
      default: {
        const never: never = am;
        void never;
      }
    }
    this.drain();
  }

  // -------------------------------------------------------------------------------------------
  // Transfers
  // -------------------------------------------------------------------------------------------

  private nextXfer(): number {
    return (this.incarnation % 2 ** 31) * XFER_SEQUENCE_SPAN + (++this.xferSeq % XFER_SEQUENCE_SPAN);
  }

  private sendAe(to: NodeId, message: AeMessage): void {
    this.host.send(to, { kind: 'ae', message });
  }

  private sendTransfer(to: NodeId, message: AeMessage): void {
    const purge = (message.kind === 'ae_data' || message.kind === 'ae_data_ack') && message.purge === true;
    if (purge) this.stats.purgeMessageBytes += messageBytes(message);
    else this.stats.transferMessageBytes += messageBytes(message);
    this.sendAe(to, message);
  }

  /** Records of a batch received as buffers (msgpack may hand back plain Uint8Arrays). */
  private static buffers(records: readonly Uint8Array[]): Buffer[] | null {
    if (!Array.isArray(records)) return null;
    const out: Buffer[] = [];
    for (const r of records) {
      if (!(r instanceof Uint8Array)) return null;
      out.push(Buffer.isBuffer(r) ? r : Buffer.from(r.buffer, r.byteOffset, r.byteLength));
    }
    return out;
  }

  /**
   * A batch pushed by a peer (a session's push, or a purge's prepare): merged key by key
   * through the replica write path, synced; acked once every record is stored (a failed store
   * never acks: the sender times out). Keys this node does not replicate are skipped.
   */
  private onDataPush(from: NodeId, m: Extract<AeMessage, { kind: 'ae_data' }>): void {
    const records = AntiEntropyDriver.buffers(m.records);
    if (records === null || !Array.isArray(m.keys) || m.keys.length !== records.length || !Number.isSafeInteger(m.xfer)) return;
    let pending = 1;
    const done = (): void => {
      if (--pending === 0) this.sendTransfer(from, m.purge === true ? { kind: 'ae_data_ack', xfer: m.xfer, purge: true } : { kind: 'ae_data_ack', xfer: m.xfer });
    };
    for (let i = 0; i < records.length; i++) {
      const key = m.keys[i]!;
      const record = records[i]!;
      if (typeof key !== 'string' || !this.host.replicates(key)) continue;
      pending++;
      const apply = (): void => {
        if (this.refuseDead(key, record)) return done();
        this.host.merge(key, record, (changed) => {
          if (changed && m.purge !== true) this.stats.usefulBytes += key.length + record.length;
          done();
        });
      };
      // Our compare-and-delete of this key is queued or running: decide once it ended, so a merge
      // queued behind it does not store the record right back. (While we only prepare, the merge
      // runs first under the key's turn, and stores the record with sync for the peer's sake.)
      if (this.purgeIssued.has(key)) this.afterPurge(key, apply);
      else apply();
    }
    done();
  }

  private afterPurge(key: string, task: () => void): void {
    const list = this.purgeWaiters.get(key);
    if (list === undefined) this.purgeWaiters.set(key, [task]);
    else list.push(task);
  }

  private endPurging(key: string): void {
    this.purging.delete(key);
    this.purgeIssued.delete(key);
    const list = this.purgeWaiters.get(key);
    if (list === undefined) return;
    this.purgeWaiters.delete(key);
    for (const task of list) task();
  }

  /**
   * Not storing again a record this node purged, for a key it holds nothing of (see the
   * header). Only with a complete tree: during a rebuild "not in the tree" means nothing.
   */
  private refuseDead(key: string, record: Buffer): boolean {
    if (this.opts.tombstoneGraceMs === null || this.rebuild !== null || this.tree.get(key) !== undefined) return false;
    if (this.purged.get(key)?.record.equals(record) !== true) return false;
    this.stats.deadRefused++;
    return true;
  }

  /** The answer to our `ae_want`: merge every record (synced); the fetch succeeds only if nothing was missing. */
  private onDataAnswer(from: NodeId, m: Extract<AeMessage, { kind: 'ae_data' }>): void {
    const x = this.xfers.get(m.xfer);
    if (x === undefined || x.peer !== from || x.kind !== 'fetch') return;
    const records = AntiEntropyDriver.buffers(m.records);
    if (records === null || !Array.isArray(m.keys) || m.keys.length !== records.length || (m.missing ?? 0) > 0) {
      this.finishXfer(from, m.xfer, 'fetch', true);
      this.drain();
      return;
    }
    let pending = 1;
    let failed = false;
    const done = (): void => {
      if (--pending > 0) return;
      this.finishXfer(from, m.xfer, 'fetch', failed);
      this.drain();
    };
    for (let i = 0; i < records.length; i++) {
      const key = m.keys[i]!;
      const record = records[i]!;
      if (typeof key !== 'string' || !this.host.replicates(key)) {
        failed = true;
        continue;
      }
      if (this.refuseDead(key, record)) continue;
      pending++;
      this.host.merge(key, record, (changed) => {
        if (changed) this.stats.usefulBytes += key.length + record.length;
        done();
      });
    }
    done();
  }

  /** A peer wants the records behind hashes we listed in its session: read and send them. */
  private onWant(from: NodeId, m: Extract<AeMessage, { kind: 'ae_want' }>): void {
    const got = this.ae.resolveWanted(from, m.sid, m.nodes, m.counts, m.hashes);
    if (got === null) {
      this.sendTransfer(from, { kind: 'ae_data', xfer: m.xfer, keys: [], records: [], missing: Math.max(1, (m.hashes?.length ?? 4) / 4) });
      return;
    }
    const keys: string[] = [];
    const records: Buffer[] = [];
    let missing = got.missing;
    let pending = 1;
    let readFailed = false;
    const done = (): void => {
      if (--pending > 0) return;
      if (readFailed) return; // the asker times out and a later session retries
      this.sendTransfer(from, { kind: 'ae_data', xfer: m.xfer, keys, records, missing });
    };
    for (const key of got.keys) {
      if (!this.host.replicates(key)) {
        missing++;
        continue;
      }
      pending++;
      this.host.read(key, (record) => {
        if (record === undefined) readFailed = true;
        else if (record === null) missing++;
        else {
          keys.push(key);
          records.push(record);
          this.stats.transferBytes += key.length + record.length;
        }
        done();
      });
    }
    done();
  }

  private onAck(from: NodeId, xfer: number): void {
    const x = this.xfers.get(xfer);
    if (x === undefined || x.peer !== from) return;
    if (x.kind === 'prepare') {
      this.xfers.delete(xfer);
      const p = this.prepares.get(x.sid);
      if (p === undefined) return;
      p.waiting.delete(xfer);
      if (p.waiting.size === 0) this.finishPrepare(x.sid, p);
      return;
    }
    this.finishXfer(from, xfer, 'push');
  }

  private finishXfer(from: NodeId, xfer: number, kind: 'push' | 'fetch', failed = false): void {
    const x = this.xfers.get(xfer);
    if (x === undefined || x.peer !== from || x.kind !== kind) return;
    this.xfers.delete(xfer);
    const s = this.sessions.get(x.sid);
    if (s === undefined) return;
    s.outstanding--;
    if (failed) s.failed = true;
    s.lastActivityMs = this.host.nowMs();
    if (s.outstanding === 0) this.ae.transfersDone(x.sid, !s.failed);
  }

  /** Reads `keys` and pushes the batch; `then(xfer)` once sent, or with null when a read failed. */
  private pushBatch(peer: NodeId, keys: readonly string[], onSent: (xfer: number | null, records: Map<string, Buffer>) => void): void {
    const batchKeys: string[] = [];
    const records: Buffer[] = [];
    const byKey = new Map<string, Buffer>();
    let pending = 1;
    let readFailed = false;
    const done = (): void => {
      if (--pending > 0) return;
      if (readFailed) return onSent(null, byKey);
      if (batchKeys.length === 0) return onSent(-1, byKey);
      const xfer = this.nextXfer();
      onSent(xfer, byKey);
      this.sendTransfer(peer, { kind: 'ae_data', xfer, keys: batchKeys, records });
    };
    for (const key of keys) {
      pending++;
      this.host.read(key, (record) => {
        if (record === undefined) readFailed = true;
        else if (record !== null) {
          batchKeys.push(key);
          records.push(record);
          byKey.set(key, record);
          this.stats.transferBytes += key.length + record.length;
        }
        done();
      });
    }
    done();
  }

  private drain(): void {
    for (;;) {
      const outputs = this.ae.takeOutputs();
      if (outputs.length === 0) break;
      for (const o of outputs) {
        switch (o.kind) {
          case 'send':
            this.sendAe(o.to, o.message);
            break;
          case 'push': {
            const s = this.sessions.get(o.sid);
            if (s === undefined) break; // a session of ours we no longer track cannot be: defensive
            this.stats.pushes += o.keys.length;
            // One placeholder transfer while the reads run, so the session cannot complete meanwhile.
            const hold = this.nextXfer();
            this.xfers.set(hold, { sid: o.sid, peer: o.peer, kind: 'push' });
            s.outstanding++;
            s.lastActivityMs = this.host.nowMs();
            this.pushBatch(o.peer, o.keys, (xfer) => {
              if (!this.xfers.has(hold)) return; // the session ended meanwhile
              if (xfer === null || xfer === -1) {
                // A failed read fails the session; nothing left to push (all gone since) is done.
                this.finishXfer(o.peer, hold, 'push', xfer === null);
                this.drain();
                return;
              }
              this.xfers.delete(hold);
              this.xfers.set(xfer, { sid: o.sid, peer: o.peer, kind: 'push' });
            });
            break;
          }
          case 'fetch': {
            const s = this.sessions.get(o.sid);
            if (s === undefined) break;
            this.stats.fetches += o.hashes.length / 4;
            const xfer = this.nextXfer();
            this.xfers.set(xfer, { sid: o.sid, peer: o.peer, kind: 'fetch' });
            s.outstanding++;
            s.lastActivityMs = this.host.nowMs();
            this.sendTransfer(o.peer, { kind: 'ae_want', xfer, sid: o.sid, nodes: o.nodes, counts: o.counts, hashes: o.hashes });
            break;
          }
          case 'session_end':
            this.sessions.delete(o.sid);
            for (const [id, x] of [...this.xfers]) if (x.sid === o.sid && x.kind !== 'prepare') this.xfers.delete(id);
            if (o.outcome === 'synced') this.stats.sessionsSynced++;
            else this.stats.sessionsAborted++;
            break;
          default: {
            const never: never = o;
            throw new TypeError(`unknown anti-entropy output ${JSON.stringify(never)}`);
          }
        }
      }
    }
    this.stats.protocolBytes = this.ae.stats.bytesSent;
  }

  // -------------------------------------------------------------------------------------------
  // Tombstone and expiry GC
  // -------------------------------------------------------------------------------------------

  private track(key: string, record: Buffer, storedAtMs: number): void {
    if (this.opts.tombstoneGraceMs === null) return;
    let since: number | null = null;
    try {
      since = deadSinceMs(record);
    } catch {
      since = null;
    }
    const known = this.dead.get(key);
    // The same record stored again (a synced re-store, a prepare from a peer) keeps its first
    // store time: peers synced since then still hold descendants of it.
    if (known !== undefined && since !== null && known.record.equals(record)) return;
    this.dead.delete(key);
    if (since === null || this.dead.size >= this.opts.deadTrackedMax) return;
    this.dead.set(key, { record, storedAtMs, deadSinceMs: since });
  }

  /** Checks up to `purgeBatchMax` tracked dead records (round robin) and prepares the ripe ones. */
  private purgeTick(now: number): void {
    const g = this.opts.tombstoneGraceMs;
    for (const [id, p] of [...this.prepares]) {
      if (p.ackedAtMs !== null) {
        if (now - p.ackedAtMs >= this.opts.purgeSettleMs) this.purgeSettled(id, p);
        continue;
      }
      if (now - p.startedAtMs > this.opts.transferTimeoutMs) {
        this.prepares.delete(id);
        for (const x of p.waiting) this.xfers.delete(x);
        for (const k of p.records.keys()) this.endPurging(k);
      }
    }
    if (g === null) return;
    for (const [key, p] of this.purged) {
      if (now - p.atMs <= 2 * g && this.purged.size <= this.opts.deadTrackedMax) break;
      this.purged.delete(key);
    }
    if (this.rebuild !== null || !this.host.purgeAllowed || this.dead.size === 0) return;
    const ripe: { key: string; d: DeadRecord }[] = [];
    const checks = Math.min(this.dead.size, 4 * this.opts.purgeBatchMax);
    for (let i = 0; i < checks && ripe.length < this.opts.purgeBatchMax; i++) {
      const first = this.dead.entries().next();
      if (first.done === true) break;
      const [key, d] = first.value;
      // Rotate: the next tick looks at others first.
      this.dead.delete(key);
      this.dead.set(key, d);
      if (this.purging.has(key) || now < Math.max(d.storedAtMs, d.deadSinceMs) + g) continue;
      const slot = keySlot(key);
      const replicas = this.host.slotReplicas(slot);
      if (!replicas.includes(this.self) || replicas.some((r) => r !== this.self && this.host.isDown(r))) continue;
      const syncedPastMs = this.ae.syncedPastMs(slot, replicas);
      if (!canPurgeTombstone({ storedAtMs: d.storedAtMs, deadSinceMs: d.deadSinceMs, nowMs: now, graceMs: g, syncedPastMs })) continue;
      ripe.push({ key, d });
    }
    if (ripe.length === 0) return;
    // Prepare: a synced push of each record to every other replica of its slot.
    const byPeer = new Map<NodeId, string[]>();
    const records = new Map<string, Buffer>();
    for (const { key, d } of ripe) {
      this.purging.add(key);
      records.set(key, d.record);
      for (const r of this.host.slotReplicas(keySlot(key))) {
        if (r === this.self) continue;
        const list = byPeer.get(r) ?? [];
        list.push(key);
        byPeer.set(r, list);
      }
    }
    const id = this.nextXfer();
    const p: Prepare = { records, waiting: new Set(), startedAtMs: now, ackedAtMs: null };
    this.prepares.set(id, p);
    for (const [peer, keys] of byPeer) {
      const xfer = this.nextXfer();
      p.waiting.add(xfer);
      this.xfers.set(xfer, { sid: id, peer, kind: 'prepare' });
      this.sendTransfer(peer, { kind: 'ae_data', xfer, keys, records: keys.map((k) => records.get(k)!), purge: true });
    }
    if (p.waiting.size === 0) this.finishPrepare(id, p);
  }

  /** Every replica acked the prepare: the purge goes once older versions in flight have landed. */
  private finishPrepare(_id: number, p: Prepare): void {
    p.ackedAtMs = this.host.nowMs();
  }

  /** Compare-and-delete each record still tracked unchanged. */
  private purgeSettled(id: number, p: Prepare): void {
    this.prepares.delete(id);
    for (const [key, record] of p.records) {
      const d = this.dead.get(key);
      if (d === undefined || !d.record.equals(record)) {
        this.endPurging(key);
        continue;
      }
      this.purgeIssued.add(key);
      this.host.purge(key, record, (ok) => {
        if (ok && this.tree.get(key) === undefined) {
          this.dead.delete(key);
          this.stats.purges++;
          this.purged.delete(key);
          this.purged.set(key, { record, atMs: this.host.nowMs() });
        } // else a write landed meanwhile: it won
        this.endPurging(key);
      });
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
      const now = this.host.nowMs();
      let i = 0;
      const iter: Iterator<readonly [string, Digest]> = {
        next: () => {
          const e = entries[i++];
          if (e === undefined) return { done: true, value: undefined };
          // A dead record found by the scan counts as stored now: its grace and watermarks start over.
          if (!this.dead.has(e.key)) this.track(e.key, e.record, now);
          return { done: false, value: [e.key, recordDigest(e.record)] as const };
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
    let sessionXfers = 0;
    for (const x of this.xfers.values()) {
      if (x.kind === 'prepare') {
        if (!this.prepares.has(x.sid)) throw new Error('antientropy driver: prepare transfer of an unknown purge');
        continue;
      }
      sessionXfers++;
      if (!this.sessions.has(x.sid)) throw new Error('antientropy driver: transfer of an untracked session');
    }
    if (total !== sessionXfers) throw new Error(`antientropy driver: ${sessionXfers} transfers tracked, sessions count ${total}`);
    if (this.dead.size > this.opts.deadTrackedMax) throw new Error('antientropy driver: dead records tracked above the bound');
    if (this.purged.size > this.opts.deadTrackedMax + this.opts.purgeBatchMax) throw new Error('antientropy driver: purged records remembered above the bound');
  }
}

