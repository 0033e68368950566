/**
 * Anti-entropy sessions between replicas, sans-IO: the host feeds ticks and peer messages in and
 * takes out messages to send and transfer decisions ("push key K to peer", "fetch K from peer").
 * It never touches storage: the host reads/merges records (versioning's `merge`) and reports the
 * new digests through `tree.update`.
 *
 * Protocol (the opener drives; the responder only answers, holding nothing but the session's
 * slot set):
 *   1. opener -> `ae_open` with the slots both replicas hold and its root hash over them;
 *   2. responder -> `ae_reply`: "equal", or the root's children hashes;
 *   3. the opener compares each child with its own and asks (`ae_request`, at most
 *      `nodesPerMessageMax` nodes) only for those that differ, level by level: slot ranges,
 *      slots, leaf buckets; for a bucket the responder answers with its keys and digests;
 *   4. the opener compares key lists: keys only it holds -> push; only the peer holds -> fetch;
 *      held by both with different digests -> push and fetch (each side merges the other's);
 *      a subtree the peer has empty is pushed whole without further questions;
 *   5. once every difference is resolved and the host confirms the transfers
 *      (`transfersDone`), both sides record the slots as synced with each other, and the opener
 *      sends `ae_close`.
 * Hashes travel one way (responder to opener), and only for children of differing nodes.
 *
 * Bounds ("put a limit on everything"): bytes sent per tick (`bytesPerTickMax`: a message goes
 * when it fits, or when nothing was sent yet this tick, so an oversized one cannot starve),
 * nodes per request (`nodesPerMessageMax`), one request in flight per session, sessions opened
 * and answered (`sessionsMax` each), transfer decisions per tick (`transfersPerTickMax`; pushes
 * of whole subtrees are expanded lazily so the decision queue stays short), and idle sessions
 * time out (`sessionTimeoutMs`).
 *
 * Sync watermark: `lastSyncedAtMs(slot, peer)` is the local time a completed session with that
 * peer over that slot STARTED (opener: when it opened; responder: when the open arrived). Records
 * only grow by merge, so when the session completes the peer holds, for every key, a record that
 * descends from what this replica held at that time: exactly what tombstone GC needs
 * (tombstones.ts).
 *
 * Determinism: no clocks or randomness; sessions and replies are served in creation order, keys
 * of a bucket in sorted order, so equal inputs give equal outputs.
 */
import { Packr } from 'msgpackr';
import { SLOT_COUNT } from '../ring/key-slot.js';
import type { NodeId, Slot } from '../types.js';
import { digestsEqual, isZeroDigest, ZERO_DIGEST, type Digest } from './hash.js';
import type { MerkleTree } from './merkle-tree.js';
import {
  bucketNode,
  decodeNode,
  rangeNode,
  rangesToMembership,
  ROOT_NODE,
  slotsToRanges,
  slotsWireForm,
  slotSetFingerprint,
  type AeMessage,
  type AeNodeId,
  type AeReplyEntry,
  type DecodedNode,
} from './messages.js';

/** A module-local copy: hot loops read it without going through the imported binding. */
const SLOTS: number = SLOT_COUNT;

export interface AntiEntropyOptions {
  readonly self: NodeId;
  /**
   * The node's incarnation (strictly increasing across restarts): session ids embed it, so a
   * reply addressed to a session of a previous life never matches a session of this one.
   */
  readonly incarnation?: number;
  /** Children per slot-range node: a power of two in 2..32. */
  readonly fanout: number;
  readonly bytesPerTickMax: number;
  /** Nodes (ranges, slots or buckets) asked for in one request. */
  readonly nodesPerMessageMax: number;
  /** Sessions this replica opens at once, and (separately) sessions it answers at once. */
  readonly sessionsMax: number;
  readonly transfersPerTickMax: number;
  readonly sessionTimeoutMs: number;
  /**
   * The slots this replica shares with `peer` by its own ring view. When given, sessions open
   * with a fingerprint of the slot set instead of the set (`ae_open_implied`), and implied opens
   * from peers are answered; absent = explicit slot sets only.
   */
  readonly impliedSlots?: (peer: NodeId) => readonly Slot[];
}

export const ANTI_ENTROPY_DEFAULTS = {
  fanout: 16,
  bytesPerTickMax: 256 * 1024,
  nodesPerMessageMax: 256,
  sessionsMax: 2,
  transfersPerTickMax: 512,
  sessionTimeoutMs: 30_000,
} as const satisfies Partial<AntiEntropyOptions>;

export type AeOutput =
  | { kind: 'send'; to: NodeId; message: AeMessage }
  /** Send this replica's record of `key` to `peer`, which merges it. */
  | { kind: 'push'; sid: number; peer: NodeId; key: string }
  /** Ask `peer` for its record of `key` and merge it here. */
  | { kind: 'fetch'; sid: number; peer: NodeId; key: string }
  | { kind: 'session_end'; sid: number; peer: NodeId; outcome: 'synced' | 'aborted'; transfers: number };

interface Transfer {
  readonly kind: 'push' | 'fetch';
  readonly key: string;
}

interface OpenSession {
  readonly sid: number;
  readonly peer: NodeId;
  readonly startedAtMs: number;
  readonly member: Uint8Array;
  /** The session's slots as sent on the wire (ranges or bitmap, whichever is smaller). */
  readonly ranges: readonly number[] | Uint8Array;
  /** Opened with the slot set's fingerprint (the peer derives the set from its ring). */
  readonly implied: boolean;
  readonly fp: Digest;
  lastActivityMs: number;
  /** Nodes known to differ, to ask the peer about. */
  readonly toAsk: AeNodeId[];
  /** Nodes asked and not yet answered (one request in flight). */
  inFlight: ReadonlySet<AeNodeId> | null;
  /** Subtrees the peer holds nothing of: every key below is pushed. */
  readonly pushAll: AeNodeId[];
  readonly transfers: Transfer[];
  transfersEmitted: number;
  state: 'opening' | 'exchanging' | 'applying';
}

interface AnswerSession {
  readonly peer: NodeId;
  readonly sid: number;
  readonly openedAtMs: number;
  readonly member: Uint8Array;
  lastActivityMs: number;
}

export interface AntiEntropyStats {
  bytesSent: number;
  messagesSent: number;
  pushes: number;
  fetches: number;
  sessionsSynced: number;
  sessionsAborted: number;
}

const SID_SEQUENCE_SPAN = 2 ** 21;

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/** The exact size a message has on the wire (MessagePack, as peers frame it). */
export function messageBytes(message: AeMessage): number {
  return packr.pack(message).length;
}

function writeDigest(out: Uint8Array, at: number, d: Digest): void {
  out[at] = d.hi >>> 24;
  out[at + 1] = (d.hi >>> 16) & 0xff;
  out[at + 2] = (d.hi >>> 8) & 0xff;
  out[at + 3] = d.hi & 0xff;
  out[at + 4] = d.lo >>> 24;
  out[at + 5] = (d.lo >>> 16) & 0xff;
  out[at + 6] = (d.lo >>> 8) & 0xff;
  out[at + 7] = d.lo & 0xff;
}

function readDigest(buf: Uint8Array, at: number): Digest {
  const hi = ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
  const lo = ((buf[at + 4]! << 24) | (buf[at + 5]! << 16) | (buf[at + 6]! << 8) | buf[at + 7]!) >>> 0;
  return { hi, lo };
}

export class AntiEntropy {
  private readonly opts: AntiEntropyOptions;
  private nowMs = 0;
  private nextSid = 1;
  private readonly opened = new Map<number, OpenSession>();
  private readonly answering = new Map<string, AnswerSession>();
  /** Replies and busy notices waiting for byte budget, oldest first. */
  private readonly replyQueue: { to: NodeId; message: AeMessage }[] = [];
  private outputs: AeOutput[] = [];
  private bytesThisTick = 0;
  private transfersThisTick = 0;
  private readonly synced = new Map<NodeId, Float64Array>();
  /** Peers whose ring view disagreed with ours on the shared slots: opened with explicit sets. */
  private readonly explicitPeers = new Set<NodeId>();
  private readonly slotSets = new WeakMap<readonly Slot[], { member: Uint8Array; wire: readonly number[] | Uint8Array; fp: Digest }>();
  readonly stats: AntiEntropyStats = { bytesSent: 0, messagesSent: 0, pushes: 0, fetches: 0, sessionsSynced: 0, sessionsAborted: 0 };

  constructor(readonly tree: MerkleTree, opts: AntiEntropyOptions) {
    const f = opts.fanout;
    if (!Number.isSafeInteger(f) || f < 2 || f > 32 || (f & (f - 1)) !== 0) throw new RangeError(`fanout must be a power of two in 2..32, got ${f}`);
    for (const [name, v] of [['bytesPerTickMax', opts.bytesPerTickMax], ['nodesPerMessageMax', opts.nodesPerMessageMax],
      ['sessionsMax', opts.sessionsMax], ['transfersPerTickMax', opts.transfersPerTickMax], ['sessionTimeoutMs', opts.sessionTimeoutMs]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
    const inc = opts.incarnation ?? 0;
    if (!Number.isSafeInteger(inc) || inc < 0 || inc >= 2 ** 31) throw new RangeError(`incarnation must be an integer in 0..2^31-1, got ${inc}`);
    this.opts = opts;
  }

  // -------------------------------------------------------------------------------------------
  // Host interface
  // -------------------------------------------------------------------------------------------

  /** Advances time (never backwards), resets the per-tick budgets, times out idle sessions, sends. */
  tick(nowMs: number): void {
    if (nowMs > this.nowMs) this.nowMs = nowMs;
    this.bytesThisTick = 0;
    this.transfersThisTick = 0;
    for (const s of [...this.opened.values()]) {
      if (s.state !== 'applying' && this.nowMs - s.lastActivityMs > this.opts.sessionTimeoutMs) this.abort(s, true);
    }
    for (const [k, a] of [...this.answering]) {
      if (this.nowMs - a.lastActivityMs > this.opts.sessionTimeoutMs) this.answering.delete(k);
    }
    this.pump();
  }

  /**
   * Opens a session with `peer` over `slots` (sorted, unique: the slots both replicate, from the
   * ring). Returns its id, or null when `sessionsMax` sessions are open or one with `peer` is.
   */
  open(peer: NodeId, slots: readonly Slot[]): number | null {
    if (peer === this.opts.self) throw new RangeError('anti-entropy with oneself');
    if (this.opened.size >= this.opts.sessionsMax) return null;
    for (const s of this.opened.values()) if (s.peer === peer) return null;
    const { member, wire, fp } = this.slotSet(slots);
    // incarnation * 2^21 + sequence: a safe integer, unique within an incarnation up to 2^21 sessions
    // (then it wraps, long after any reply of the session it reuses the id of could arrive).
    const sid = (this.opts.incarnation ?? 0) * SID_SEQUENCE_SPAN + (this.nextSid++ % SID_SEQUENCE_SPAN);
    const session: OpenSession = {
      sid, peer, startedAtMs: this.nowMs, member, ranges: wire, fp,
      implied: this.opts.impliedSlots !== undefined && !this.explicitPeers.has(peer), lastActivityMs: this.nowMs,
      toAsk: [], inFlight: null, pushAll: [], transfers: [], transfersEmitted: 0, state: 'opening',
    };
    this.opened.set(sid, session);
    this.pump();
    return sid;
  }

  /** A peer's anti-entropy message. Malformed or unexpected messages are dropped. */
  receive(from: NodeId, message: AeMessage): void {
    switch (message.kind) {
      case 'ae_open': {
        const member = rangesToMembership(message.slots);
        if (member !== null) this.onOpen(from, message.sid, member, message.rootHi, message.rootLo);
        break;
      }
      case 'ae_open_implied': {
        const set = this.opts.impliedSlots === undefined ? null : this.slotSet(this.opts.impliedSlots(from));
        if (set === null || !digestsEqual(set.fp, { hi: message.fpHi, lo: message.fpLo })) {
          this.replyQueue.push({ to: from, message: { kind: 'ae_busy', sid: message.sid, mismatch: true } });
          break;
        }
        this.onOpen(from, message.sid, set.member, message.rootHi, message.rootLo);
        break;
      }
      case 'ae_request':
        this.onRequest(from, message.sid, message.nodes);
        break;
      case 'ae_reply':
        this.onReply(from, message.sid, message.entries);
        break;
      case 'ae_busy': {
        const s = this.opened.get(message.sid);
        if (s !== undefined && s.peer === from && s.state !== 'applying') {
          if (message.mismatch === true && s.implied) this.explicitPeers.add(from);
          this.abort(s, false);
        }
        break;
      }
      case 'ae_close': {
        const key = `${from}\u0000${message.sid}`;
        const a = this.answering.get(key);
        if (a !== undefined) {
          this.answering.delete(key);
          if (message.completed === true) this.markSynced(a.peer, a.member, a.openedAtMs);
        }
        break;
      }
      default: {
        const never: never = message;
        void never;
      }
    }
    this.pump();
  }

  /** The host applied every push and fetch of session `sid` (successfully or not). */
  transfersDone(sid: number, ok: boolean): void {
    const s = this.opened.get(sid);
    if (s === undefined || s.state !== 'applying') return;
    if (ok) this.complete(s);
    else this.abort(s, true);
    this.pump();
  }

  takeOutputs(): AeOutput[] {
    const out = this.outputs;
    this.outputs = [];
    return out;
  }

  /** When a session with `peer` covering `slot` last completed (its start, local ms); null = never. */
  lastSyncedAtMs(slot: Slot, peer: NodeId): number | null {
    const v = this.synced.get(peer)?.[slot];
    return v === undefined || Number.isNaN(v) ? null : v;
  }

  /** The oldest of `lastSyncedAtMs(slot, p)` over `peers`; null when any never synced. */
  syncedPastMs(slot: Slot, peers: readonly NodeId[]): number | null {
    let min = Infinity;
    for (const p of peers) {
      if (p === this.opts.self) continue;
      const v = this.lastSyncedAtMs(slot, p);
      if (v === null) return null;
      if (v < min) min = v;
    }
    return min === Infinity ? null : min;
  }

  get openSessions(): number {
    return this.opened.size;
  }

  get answeringSessions(): number {
    return this.answering.size;
  }

  invariants(): void {
    if (this.opened.size > this.opts.sessionsMax) throw new Error('antientropy: too many open sessions');
    if (this.answering.size > this.opts.sessionsMax) throw new Error('antientropy: too many answered sessions');
    if (this.transfersThisTick > this.opts.transfersPerTickMax) throw new Error('antientropy: transfer budget exceeded');
    for (const s of this.opened.values()) {
      if (s.inFlight !== null && s.inFlight.size > this.opts.nodesPerMessageMax) throw new Error('antientropy: request too large');
      if (s.state === 'applying' && (s.inFlight !== null || s.toAsk.length > 0 || s.pushAll.length > 0 || s.transfers.length > 0)) {
        throw new Error('antientropy: applying with work left');
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Responder
  // -------------------------------------------------------------------------------------------

  /**
   * A slot list's membership table, wire form and fingerprint, cached by the list's identity
   * (hosts pass the same array per peer while the ring stands; the tables are read-only).
   */
  private slotSet(slots: readonly Slot[]): { member: Uint8Array; wire: readonly number[] | Uint8Array; fp: Digest } {
    let set = this.slotSets.get(slots);
    if (set === undefined) {
      const ranges = slotsToRanges(slots);
      const member = rangesToMembership(ranges);
      if (member === null) throw new Error('slotsToRanges produced malformed ranges');
      set = { member, wire: slotsWireForm(ranges, member), fp: slotSetFingerprint(member) };
      this.slotSets.set(slots, set);
    }
    return set;
  }

  private onOpen(from: NodeId, sid: number, member: Uint8Array, rootHi: number, rootLo: number): void {
    if (!Number.isSafeInteger(sid)) return;
    const m = { sid, rootHi, rootLo };
    const key = `${from}\u0000${m.sid}`;
    if (!this.answering.has(key) && this.answering.size >= this.opts.sessionsMax) {
      this.replyQueue.push({ to: from, message: { kind: 'ae_busy', sid: m.sid } });
      return;
    }
    const a: AnswerSession = { peer: from, sid: m.sid, openedAtMs: this.nowMs, member, lastActivityMs: this.nowMs };
    this.answering.delete(key);
    this.answering.set(key, a);
    const mine = this.tree.rangeHash(0, SLOTS, (s) => member[s] === 1);
    const entry = digestsEqual(mine, { hi: m.rootHi, lo: m.rootLo })
      ? ([ROOT_NODE, 0] as const)
      : this.describe({ kind: 'range', lo: 0, size: SLOTS }, ROOT_NODE, member);
    this.replyQueue.push({ to: from, message: { kind: 'ae_reply', sid: m.sid, entries: [entry] } });
  }

  private onRequest(from: NodeId, sid: number, nodes: readonly AeNodeId[]): void {
    const a = this.answering.get(`${from}\u0000${sid}`);
    if (a === undefined || !Array.isArray(nodes) || nodes.length > this.opts.nodesPerMessageMax) {
      this.replyQueue.push({ to: from, message: { kind: 'ae_busy', sid } });
      return;
    }
    a.lastActivityMs = this.nowMs;
    const entries: AeReplyEntry[] = [];
    for (const node of nodes) {
      const d = decodeNode(node, this.tree.bucketsPerSlot);
      if (d === null || !this.inSession(d, a.member)) {
        this.replyQueue.push({ to: from, message: { kind: 'ae_busy', sid } });
        return;
      }
      entries.push(this.describe(d, node, a.member));
    }
    this.replyQueue.push({ to: from, message: { kind: 'ae_reply', sid, entries } });
  }

  private inSession(d: DecodedNode, member: Uint8Array): boolean {
    if (d.kind === 'bucket') return member[d.slot] === 1;
    return member.subarray(d.lo, d.lo + d.size).includes(1);
  }

  /** This replica's view of a node: children hashes (non-zero ones) or a bucket's keys. */
  private describe(d: DecodedNode, node: AeNodeId, member: Uint8Array): AeReplyEntry {
    if (d.kind === 'bucket') {
      const entries = this.tree.bucketEntries(d.slot, d.bucket);
      const keys = [...entries.keys()].sort();
      const digests = new Uint8Array(8 * keys.length);
      keys.forEach((k, i) => writeDigest(digests, 8 * i, entries.get(k)!));
      return [node, 2, keys, digests];
    }
    const children = this.childHashes(d, member);
    let present = 0;
    let count = 0;
    children.forEach((h, i) => {
      if (!isZeroDigest(h)) {
        present |= 1 << i;
        count++;
      }
    });
    const hashes = new Uint8Array(8 * count);
    let at = 0;
    for (const h of children) {
      if (isZeroDigest(h)) continue;
      writeDigest(hashes, at, h);
      at += 8;
    }
    return [node, 1, present >>> 0, hashes];
  }

  private childNodes(d: Extract<DecodedNode, { kind: 'range' }>): DecodedNode[] {
    const out: DecodedNode[] = [];
    if (d.size === 1) {
      for (let b = 0; b < this.tree.bucketsPerSlot; b++) out.push({ kind: 'bucket', slot: d.lo, bucket: b });
      return out;
    }
    const parts = Math.min(this.opts.fanout, d.size);
    const size = d.size / parts;
    for (let i = 0; i < parts; i++) out.push({ kind: 'range', lo: d.lo + i * size, size });
    return out;
  }

  private nodeId(d: DecodedNode): AeNodeId {
    return d.kind === 'range' ? rangeNode(d.lo, d.size) : bucketNode(d.slot, d.bucket, this.tree.bucketsPerSlot);
  }

  private hashOf(d: DecodedNode, member: Uint8Array): Digest {
    if (d.kind === 'bucket') return member[d.slot] === 1 ? this.tree.bucketHash(d.slot, d.bucket) : ZERO_DIGEST;
    if (d.size === 1) return member[d.lo] === 1 ? this.tree.slotHash(d.lo) : ZERO_DIGEST;
    return this.tree.rangeHash(d.lo, d.lo + d.size, (s) => member[s] === 1);
  }

  private childHashes(d: Extract<DecodedNode, { kind: 'range' }>, member: Uint8Array): Digest[] {
    return this.childNodes(d).map((c) => this.hashOf(c, member));
  }

  // -------------------------------------------------------------------------------------------
  // Opener
  // -------------------------------------------------------------------------------------------

  private onReply(from: NodeId, sid: number, entries: readonly AeReplyEntry[]): void {
    const s = this.opened.get(sid);
    if (s === undefined || s.peer !== from || s.inFlight === null || !Array.isArray(entries)) return;
    const asked = s.inFlight;
    // A reply about other nodes than the ones in flight is a duplicated or late copy of an
    // earlier reply (networks duplicate and reorder; each node is asked once per session, so it
    // cannot be an answer to this request): ignored, not fatal — aborting on it made sessions
    // on a duplicating network never complete (simulator seed 146). A reply naming exactly the
    // asked nodes, each once, is the answer; malformed content in it aborts (applyEntry).
    const seen = new Set<AeNodeId>();
    for (const e of entries) {
      if (!Array.isArray(e) || !asked.has(e[0]) || seen.has(e[0])) return;
      seen.add(e[0]);
    }
    if (seen.size !== asked.size) return;
    s.inFlight = null;
    s.lastActivityMs = this.nowMs;
    s.state = 'exchanging';
    for (const e of entries) {
      if (!this.applyEntry(s, e)) return this.abort(s, true);
    }
  }

  /** Compares one answered node with this replica's view; false when the entry is malformed. */
  private applyEntry(s: OpenSession, e: AeReplyEntry): boolean {
    const d = decodeNode(e[0], this.tree.bucketsPerSlot);
    if (d === null) return false;
    switch (e[1]) {
      case 0:
        return true;
      case 1: {
        if (d.kind !== 'range') return false;
        const [, , present, hashes] = e;
        if (typeof present !== 'number' || !(hashes instanceof Uint8Array)) return false;
        const children = this.childNodes(d);
        let at = 0;
        for (let i = 0; i < children.length; i++) {
          const child = children[i]!;
          let theirs = ZERO_DIGEST;
          if ((present >>> i) & 1) {
            if (at + 8 > hashes.length) return false;
            theirs = readDigest(hashes, at);
            at += 8;
          }
          const mine = this.hashOf(child, s.member);
          if (digestsEqual(mine, theirs)) continue;
          if (isZeroDigest(theirs)) s.pushAll.push(this.nodeId(child));
          else s.toAsk.push(this.nodeId(child));
        }
        return at === hashes.length;
      }
      case 2: {
        if (d.kind !== 'bucket') return false;
        const [, , keys, digests] = e;
        if (!Array.isArray(keys) || !(digests instanceof Uint8Array) || digests.length !== 8 * keys.length) return false;
        const mine = this.tree.bucketEntries(d.slot, d.bucket);
        const theirs = new Map<string, Digest>();
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i];
          if (typeof k !== 'string') return false;
          const loc = this.tree.locate(k);
          if (loc.slot !== d.slot || loc.bucket !== d.bucket) return false;
          theirs.set(k, readDigest(digests, 8 * i));
        }
        const all = [...new Set([...mine.keys(), ...theirs.keys()])].sort();
        for (const k of all) {
          const m = mine.get(k);
          const t = theirs.get(k);
          if (m !== undefined && t !== undefined && digestsEqual(m, t)) continue;
          if (m !== undefined) s.transfers.push({ kind: 'push', key: k });
          if (t !== undefined) s.transfers.push({ kind: 'fetch', key: k });
        }
        return true;
      }
      default:
        return false;
    }
  }

  private abort(s: OpenSession, tellPeer: boolean): void {
    this.opened.delete(s.sid);
    this.stats.sessionsAborted++;
    if (tellPeer) this.replyQueue.push({ to: s.peer, message: { kind: 'ae_close', sid: s.sid, completed: false } });
    this.outputs.push({ kind: 'session_end', sid: s.sid, peer: s.peer, outcome: 'aborted', transfers: s.transfersEmitted });
  }

  private complete(s: OpenSession): void {
    this.opened.delete(s.sid);
    this.stats.sessionsSynced++;
    this.markSynced(s.peer, s.member, s.startedAtMs);
    this.replyQueue.push({ to: s.peer, message: { kind: 'ae_close', sid: s.sid, completed: true } });
    this.outputs.push({ kind: 'session_end', sid: s.sid, peer: s.peer, outcome: 'synced', transfers: s.transfersEmitted });
  }

  private markSynced(peer: NodeId, member: Uint8Array, atMs: number): void {
    let arr = this.synced.get(peer);
    if (arr === undefined) {
      arr = new Float64Array(SLOTS).fill(Number.NaN);
      this.synced.set(peer, arr);
    }
    for (let slot = 0; slot < SLOTS; slot++) {
      if (member[slot] !== 1) continue;
      const prev = arr[slot]!;
      // A session that started earlier than the one already recorded cannot move the mark back.
      if (Number.isNaN(prev) || atMs > prev) arr[slot] = atMs;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sending within the budgets
  // -------------------------------------------------------------------------------------------

  /** Tries to send; false when the byte budget for this tick is spent. */
  private send(to: NodeId, message: AeMessage): boolean {
    const bytes = messageBytes(message);
    if (this.bytesThisTick > 0 && this.bytesThisTick + bytes > this.opts.bytesPerTickMax) return false;
    this.bytesThisTick += bytes;
    this.stats.bytesSent += bytes;
    this.stats.messagesSent++;
    this.outputs.push({ kind: 'send', to, message });
    return true;
  }

  private pump(): void {
    // Replies first: a peer is waiting on them.
    while (this.replyQueue.length > 0) {
      const r = this.replyQueue[0]!;
      if (!this.send(r.to, r.message)) return;
      this.replyQueue.shift();
    }
    for (const s of [...this.opened.values()]) {
      this.emitTransfers(s);
      if (s.state === 'opening' && s.inFlight === null) {
        const root = this.tree.rangeHash(0, SLOTS, (slot) => s.member[slot] === 1);
        let open: AeMessage = { kind: 'ae_open', sid: s.sid, slots: s.ranges, rootHi: root.hi, rootLo: root.lo };
        if (s.implied) {
          const fp = s.fp;
          open = { kind: 'ae_open_implied', sid: s.sid, fpHi: fp.hi, fpLo: fp.lo, rootHi: root.hi, rootLo: root.lo };
        }
        if (!this.send(s.peer, open)) return;
        s.inFlight = new Set([ROOT_NODE]);
        s.lastActivityMs = this.nowMs;
        continue;
      }
      if (s.state === 'exchanging' && s.inFlight === null && s.toAsk.length > 0) {
        const nodes = s.toAsk.slice(0, this.opts.nodesPerMessageMax);
        if (!this.send(s.peer, { kind: 'ae_request', sid: s.sid, nodes })) return;
        s.toAsk.splice(0, nodes.length);
        s.inFlight = new Set(nodes);
        s.lastActivityMs = this.nowMs;
      }
      if (s.state === 'exchanging' && s.inFlight === null && s.toAsk.length === 0 && s.pushAll.length === 0 && s.transfers.length === 0) {
        s.state = 'applying';
        if (s.transfersEmitted === 0) this.complete(s);
      }
    }
    // Completing a session queues its close.
    while (this.replyQueue.length > 0) {
      const r = this.replyQueue[0]!;
      if (!this.send(r.to, r.message)) return;
      this.replyQueue.shift();
    }
  }

  /** Emits queued transfer decisions within the per-tick bound, expanding pushed subtrees lazily. */
  private emitTransfers(s: OpenSession): void {
    for (;;) {
      while (s.transfers.length > 0 && this.transfersThisTick < this.opts.transfersPerTickMax) {
        const t = s.transfers.shift()!;
        this.transfersThisTick++;
        s.transfersEmitted++;
        if (t.kind === 'push') this.stats.pushes++;
        else this.stats.fetches++;
        this.outputs.push({ kind: t.kind, sid: s.sid, peer: s.peer, key: t.key });
      }
      if (this.transfersThisTick >= this.opts.transfersPerTickMax || s.pushAll.length === 0) return;
      // Expand one pushed subtree node: its non-empty children, or a bucket's keys.
      const node = s.pushAll.pop()!;
      const d = decodeNode(node, this.tree.bucketsPerSlot);
      if (d === null) continue;
      if (d.kind === 'bucket') {
        for (const k of [...this.tree.bucketEntries(d.slot, d.bucket).keys()].sort()) s.transfers.push({ kind: 'push', key: k });
        continue;
      }
      const children = this.childNodes(d);
      for (let i = children.length - 1; i >= 0; i--) {
        const c = children[i]!;
        if (!isZeroDigest(this.hashOf(c, s.member))) s.pushAll.push(this.nodeId(c));
      }
    }
  }
}
