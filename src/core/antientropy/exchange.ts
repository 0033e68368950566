/**
 * Anti-entropy sessions between replicas, sans-IO: the host feeds ticks and peer messages in and
 * takes out messages to send and transfer decisions ("push these keys to the peer", "fetch the
 * records behind these entry hashes from the peer"). It never touches storage: the host
 * reads/merges records (versioning's `merge`) and reports new digests through `tree.update`.
 *
 * Protocol (the opener drives; the responder only answers, holding the session's slot set):
 *   1. opener -> `ae_open` with the slots both replicas hold and its root hash over them;
 *   2. responder -> `ae_reply`: "equal" (both record the slots as synced at once; no close), or
 *      the root's description;
 *   3. a description is either the node's children's compact hashes (4 bytes each, non-empty
 *      children only), or — when the responder holds few keys below the node
 *      (`leafEntriesMax`), and always for a leaf bucket — the compact entry hashes of every key
 *      below it (4 bytes per key: no key names, no digests);
 *   4. the opener compares children with its own and asks (`ae_request`) only for differing
 *      ones, level by level; a child the peer has empty is pushed whole without questions;
 *   5. for an entry list the opener walks its own entries below the node: its entries whose
 *      hash the peer did not list are pushed (by key, batched); the peer's hashes it holds no
 *      entry for are fetched (`ae_want` by hash, answered with the records) — a key held in two
 *      versions moves both ways, and each side merges;
 *   6. once every difference is resolved and the host confirms the transfers (`transfersDone`),
 *      both sides record the slots as synced with each other, and the opener sends `ae_close`.
 * Bytes: hashes are 32-bit halves of the 64-bit tree hashes (`compactHash`: the half alternates
 * by session, so an accidental 32-bit collision hides a difference for one session only);
 * descriptions are one packed byte string per reply; entry lists replace two or three levels
 * of descent; records move in batches with one ack per batch.
 *
 * Bounds ("put a limit on everything"): bytes sent per tick (`bytesPerTickMax`: a message goes
 * when it fits, or when nothing was sent yet this tick, so an oversized one cannot starve),
 * nodes per request (`nodesPerMessageMax`), one request in flight per session, sessions opened
 * and answered (`sessionsMax` each), keys decided per tick (`transfersPerTickMax`, which also
 * bounds the local subtree walking: pushes of whole subtrees and entry comparisons are
 * expanded lazily), keys per transfer batch (`transferBatchMax`), and idle sessions time out
 * (`sessionTimeoutMs`).
 *
 * Sync watermark: `lastSyncedAtMs(slot, peer)` is the local time a completed session with that
 * peer over that slot STARTED (opener: when it opened; responder: when the open arrived). Records
 * only grow by merge, so when the session completes the peer holds, for every key, a record that
 * descends from what this replica held at that time: what tombstone GC needs (tombstones.ts).
 *
 * Determinism: no clocks or randomness; sessions and replies are served in creation order, keys
 * in sorted order, so equal inputs give equal outputs.
 */
import { Packr } from 'msgpackr';
import { SLOT_COUNT } from '../ring/key-slot.js';
import type { NodeId, Slot } from '../types.js';
import { digestsEqual, entryHash, isZeroDigest, ZERO_DIGEST, type Digest } from './hash.js';
import type { MerkleTree } from './merkle-tree.js';
import {
  bucketNode,
  compactHash,
  decodeNode,
  DESC_CHILDREN,
  DESC_ENTRIES,
  DESC_EQUAL,
  rangeNode,
  rangesToMembership,
  ROOT_NODE,
  slotsToRanges,
  slotsWireForm,
  slotSetFingerprint,
  type AeMessage,
  type AeNodeId,
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
  /** Keys decided (pushed or fetched) per tick; also bounds local subtree walking per tick. */
  readonly transfersPerTickMax: number;
  /** Keys (or wanted hashes) in one transfer batch. */
  readonly transferBatchMax: number;
  /** A responder describes a node by its entries when it holds at most this many keys below it. */
  readonly leafEntriesMax: number;
  readonly sessionTimeoutMs: number;
  /**
   * The slots this replica shares with `peer` by its own ring view. When given, sessions open
   * with a fingerprint of the slot set instead of the set (`ae_open_implied`), and implied opens
   * from peers are answered; absent = explicit slot sets only.
   */
  readonly impliedSlots?: (peer: NodeId) => readonly Slot[];
}

export const ANTI_ENTROPY_DEFAULTS = {
  fanout: 8,
  bytesPerTickMax: 256 * 1024,
  nodesPerMessageMax: 512,
  sessionsMax: 2,
  transfersPerTickMax: 512,
  transferBatchMax: 128,
  leafEntriesMax: 16,
  sessionTimeoutMs: 30_000,
} as const satisfies Partial<AntiEntropyOptions>;

export type AeOutput =
  | { kind: 'send'; to: NodeId; message: AeMessage }
  /** Send this replica's records of `keys` to `peer`, which merges them. */
  | { kind: 'push'; sid: number; peer: NodeId; keys: readonly string[] }
  /**
   * Ask `peer` (`ae_want`) for the records behind compact entry hashes, `counts[i]` of them below
   * `nodes[i]` (4 bytes each in `hashes`), and merge them here.
   */
  | { kind: 'fetch'; sid: number; peer: NodeId; nodes: readonly AeNodeId[]; counts: readonly number[]; hashes: Uint8Array }
  | { kind: 'session_end'; sid: number; peer: NodeId; outcome: 'synced' | 'aborted'; transfers: number };

/** A local walk below `node`: every entry is pushed unless the peer listed its hash (`theirs`). */
interface WalkJob {
  readonly node: AeNodeId;
  readonly stack: AeNodeId[];
  /** compact entry hash -> how many of the peer's entries have it; null = the peer holds nothing below. */
  readonly theirs: Map<number, number> | null;
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
  /** Nodes asked and not yet answered, in the order asked (one request in flight). */
  inFlight: readonly AeNodeId[] | null;
  readonly walks: WalkJob[];
  readonly pushes: string[];
  readonly wants: { node: AeNodeId; hashes: number[] }[];
  transfersEmitted: number;
  state: 'opening' | 'exchanging' | 'applying';
}

interface AnswerSession {
  readonly peer: NodeId;
  readonly sid: number;
  readonly openedAtMs: number;
  readonly member: Uint8Array;
  lastActivityMs: number;
  /**
   * node -> compact entry hash -> keys, for every entry list this session sent: a want is
   * resolved against what was listed, so a push of the same key that lands first (and changes
   * its hash) does not make the want miss. Bounded by `LISTED_ENTRIES_MAX` per session.
   */
  readonly listed: Map<AeNodeId, Map<number, string[]>>;
  listedCount: number;
}

export interface AntiEntropyStats {
  /** Wire bytes of the exchange's own messages (each as a whole `ae` peer message). */
  bytesSent: number;
  messagesSent: number;
  /** Keys decided to push / hashes decided to fetch. */
  pushes: number;
  fetches: number;
  sessionsSynced: number;
  sessionsAborted: number;
}

const SID_SEQUENCE_SPAN = 2 ** 21;
/** Most entries one description may list (a bucket of a huge slot): bounds a reply's size. */
const ENTRIES_PER_DESCRIPTION_MAX = 1 << 16;
/** Listed entries an answered session remembers for resolving wants (past it: the live tree). */
const LISTED_ENTRIES_MAX = 1 << 18;

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/**
 * Slot lists' membership tables, wire forms and fingerprints, by list identity: hosts pass the
 * same array per peer while the ring stands, across restarts too (the tables are read-only).
 */
const slotSets = new WeakMap<readonly Slot[], { member: Uint8Array; wire: readonly number[] | Uint8Array; fp: Digest }>();
/** Distinct slot sets a peer's sync marks are kept for (beyond: the oldest is forgotten, which only delays purges). */
const MARK_SETS_MAX = 16;

/** The exact size an anti-entropy message has on the wire (MessagePack of the `ae` peer message). */
export function messageBytes(message: AeMessage): number {
  return packr.pack({ kind: 'ae', message }).length;
}

/** Growable byte writer for reply bodies. */
class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v & 0xff;
  }

  u32(v: number): void {
    this.room(4);
    const b = this.buf;
    const at = this.length;
    b[at] = v >>> 24;
    b[at + 1] = (v >>> 16) & 0xff;
    b[at + 2] = (v >>> 8) & 0xff;
    b[at + 3] = v & 0xff;
    this.length += 4;
  }

  /** Reserves n zero bytes, returns their offset. */
  reserve(n: number): number {
    this.room(n);
    const at = this.length;
    this.buf.fill(0, at, at + n);
    this.length += n;
    return at;
  }

  orByte(at: number, v: number): void {
    this.buf[at]! |= v;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** Packs compact hashes into a byte string (4 bytes each, big-endian). */
export function packHashes(hashes: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 * hashes.length);
  for (let i = 0; i < hashes.length; i++) {
    const v = hashes[i]!;
    out[4 * i] = v >>> 24;
    out[4 * i + 1] = (v >>> 16) & 0xff;
    out[4 * i + 2] = (v >>> 8) & 0xff;
    out[4 * i + 3] = v & 0xff;
  }
  return out;
}

export function unpackHashes(bytes: Uint8Array): number[] | null {
  if (!(bytes instanceof Uint8Array) || bytes.length % 4 !== 0) return null;
  const out: number[] = [];
  for (let at = 0; at < bytes.length; at += 4) out.push(readU32(bytes, at));
  return out;
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
  private walkThisTick = 0;
  /** peer -> slot set (membership table) -> when the last completed session over it started. */
  private readonly synced = new Map<NodeId, Map<Uint8Array, number>>();
  /** Peers whose ring view disagreed with ours on the shared slots: opened with explicit sets. */
  private readonly explicitPeers = new Set<NodeId>();
  readonly stats: AntiEntropyStats = { bytesSent: 0, messagesSent: 0, pushes: 0, fetches: 0, sessionsSynced: 0, sessionsAborted: 0 };

  constructor(readonly tree: MerkleTree, opts: AntiEntropyOptions) {
    const f = opts.fanout;
    if (!Number.isSafeInteger(f) || f < 2 || f > 32 || (f & (f - 1)) !== 0) throw new RangeError(`fanout must be a power of two in 2..32, got ${f}`);
    for (const [name, v] of [['bytesPerTickMax', opts.bytesPerTickMax], ['nodesPerMessageMax', opts.nodesPerMessageMax],
      ['sessionsMax', opts.sessionsMax], ['transfersPerTickMax', opts.transfersPerTickMax], ['transferBatchMax', opts.transferBatchMax],
      ['leafEntriesMax', opts.leafEntriesMax], ['sessionTimeoutMs', opts.sessionTimeoutMs]] as const) {
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
    this.walkThisTick = 0;
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
      toAsk: [], inFlight: null, walks: [], pushes: [], wants: [], transfersEmitted: 0, state: 'opening',
    };
    this.opened.set(sid, session);
    this.pump();
    return sid;
  }

  /** A peer's exchange message (transfer messages are the host's). Malformed or unexpected ones are dropped. */
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
        this.onReply(from, message.sid, message.body);
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
      case 'ae_data':
      case 'ae_data_ack':
      case 'ae_want':
        break; // transfers are the host's business
      default: {
        const never: never = message;
        void never;
      }
    }
    this.pump();
  }

  /**
   * The responder's side of `ae_want`: the keys (within the session's slots) whose compact entry
   * hashes are listed, `counts[i]` of them below `nodes[i]`; one key per listed hash. null when
   * this replica does not answer that session (any more) or the request is malformed: the asker
   * must not count the session as synced.
   */
  resolveWanted(from: NodeId, sid: number, nodes: readonly AeNodeId[], counts: readonly number[], hashes: Uint8Array): { keys: string[]; missing: number } | null {
    const a = this.answering.get(`${from}\u0000${sid}`);
    const wanted = unpackHashes(hashes);
    if (a === undefined || wanted === null || !Array.isArray(nodes) || !Array.isArray(counts) || nodes.length !== counts.length) return null;
    if (nodes.length > this.opts.nodesPerMessageMax || wanted.length > this.opts.transferBatchMax) return null;
    let total = 0;
    for (const c of counts) {
      if (!Number.isSafeInteger(c) || c < 1) return null;
      total += c;
    }
    if (total !== wanted.length) return null;
    a.lastActivityMs = this.nowMs;
    const keys: string[] = [];
    let missing = 0;
    let at = 0;
    for (let i = 0; i < nodes.length; i++) {
      const d = decodeNode(nodes[i]!, this.tree.bucketsPerSlot);
      if (d === null) return null;
      let byHash = a.listed.get(nodes[i]!);
      if (byHash === undefined) {
        byHash = new Map();
        this.indexEntries(d, a.member, sid, byHash);
      }
      for (let j = 0; j < counts[i]!; j++) {
        const key = byHash.get(wanted[at++]!)?.shift();
        if (key === undefined) missing++;
        else keys.push(key);
      }
    }
    return { keys, missing };
  }

  /** The host applied every push and fetch of session `sid` (successfully or not). */
  transfersDone(sid: number, ok: boolean): void {
    const s = this.opened.get(sid);
    if (s === undefined || s.state !== 'applying') return;
    if (ok) this.complete(s, true);
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
    const marks = this.synced.get(peer);
    if (marks === undefined) return null;
    let best: number | null = null;
    for (const [member, atMs] of marks) if (member[slot] === 1 && (best === null || atMs > best)) best = atMs;
    return best;
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
    if (this.transfersThisTick > this.opts.transfersPerTickMax + this.opts.transferBatchMax) throw new Error('antientropy: transfer budget exceeded');
    for (const s of this.opened.values()) {
      if (s.inFlight !== null && s.inFlight.length > this.opts.nodesPerMessageMax) throw new Error('antientropy: request too large');
      if (s.state === 'applying' && (s.inFlight !== null || s.toAsk.length > 0 || s.walks.length > 0 || s.pushes.length > 0 || s.wants.length > 0)) {
        throw new Error('antientropy: applying with work left');
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tree views shared by both sides
  // -------------------------------------------------------------------------------------------

  /**
   * A slot list's membership table, wire form and fingerprint, cached by the list's identity
   * (hosts pass the same array per peer while the ring stands; the tables are read-only).
   */
  private slotSet(slots: readonly Slot[]): { member: Uint8Array; wire: readonly number[] | Uint8Array; fp: Digest } {
    let set = slotSets.get(slots);
    if (set === undefined) {
      const ranges = slotsToRanges(slots);
      const member = rangesToMembership(ranges);
      if (member === null) throw new Error('slotsToRanges produced malformed ranges');
      set = { member, wire: slotsWireForm(ranges, member), fp: slotSetFingerprint(member) };
      slotSets.set(slots, set);
    }
    return set;
  }

  private childNodes(d: DecodedNode): DecodedNode[] {
    const out: DecodedNode[] = [];
    if (d.kind === 'bucket') return out;
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

  /** Keys below a node within the session's slots. */
  private keyCount(d: DecodedNode, member: Uint8Array): number {
    if (d.kind === 'bucket') return member[d.slot] === 1 ? this.tree.bucketEntries(d.slot, d.bucket).size : 0;
    let n = 0;
    for (let s = d.lo; s < d.lo + d.size; s++) if (member[s] === 1) n += this.tree.slotSize(s);
    return n;
  }

  private forEachEntry(d: DecodedNode, member: Uint8Array, f: (key: string, digest: Digest) => void): void {
    const lo = d.kind === 'bucket' ? d.slot : d.lo;
    const hi = d.kind === 'bucket' ? d.slot + 1 : d.lo + d.size;
    for (let s = lo; s < hi; s++) {
      if (member[s] !== 1 || this.tree.slotSize(s) === 0) continue;
      for (let b = 0; b < this.tree.bucketsPerSlot; b++) {
        if (d.kind === 'bucket' && b !== d.bucket) continue;
        for (const [k, dg] of this.tree.bucketEntries(s, b)) f(k, dg);
      }
    }
  }

  /** compact entry hash -> keys below a node (within the session's slots), in key order. */
  private indexEntries(d: DecodedNode, member: Uint8Array, sid: number, into: Map<number, string[]>): void {
    this.forEachEntry(d, member, (key, digest) => {
      const h = compactHash(entryHash(key, digest), sid);
      const list = into.get(h);
      if (list === undefined) into.set(h, [key]);
      else list.push(key);
    });
  }

  private inSession(d: DecodedNode, member: Uint8Array): boolean {
    if (d.kind === 'bucket') return member[d.slot] === 1;
    return member.subarray(d.lo, d.lo + d.size).includes(1);
  }

  // -------------------------------------------------------------------------------------------
  // Responder
  // -------------------------------------------------------------------------------------------

  private onOpen(from: NodeId, sid: number, member: Uint8Array, rootHi: number, rootLo: number): void {
    if (!Number.isSafeInteger(sid)) return;
    const key = `${from}\u0000${sid}`;
    const mine = this.tree.rangeHash(0, SLOTS, (s) => member[s] === 1);
    if (digestsEqual(mine, { hi: rootHi, lo: rootLo })) {
      // Equal sets right now: synced both ways without another message (the opener does the same).
      this.answering.delete(key);
      this.markSynced(from, member, this.nowMs);
      this.replyQueue.push({ to: from, message: { kind: 'ae_reply', sid, body: Uint8Array.of(DESC_EQUAL) } });
      return;
    }
    if (!this.answering.has(key) && this.answering.size >= this.opts.sessionsMax) {
      this.replyQueue.push({ to: from, message: { kind: 'ae_busy', sid } });
      return;
    }
    const a: AnswerSession = { peer: from, sid, openedAtMs: this.nowMs, member, lastActivityMs: this.nowMs, listed: new Map(), listedCount: 0 };
    this.answering.delete(key);
    this.answering.set(key, a);
    const w = new ByteWriter();
    this.describe({ kind: 'range', lo: 0, size: SLOTS }, ROOT_NODE, a, w);
    this.replyQueue.push({ to: from, message: { kind: 'ae_reply', sid, body: w.bytes() } });
  }

  private onRequest(from: NodeId, sid: number, nodes: readonly AeNodeId[]): void {
    const a = this.answering.get(`${from}\u0000${sid}`);
    if (a === undefined || !Array.isArray(nodes) || nodes.length > this.opts.nodesPerMessageMax) {
      this.replyQueue.push({ to: from, message: { kind: 'ae_busy', sid } });
      return;
    }
    a.lastActivityMs = this.nowMs;
    const w = new ByteWriter();
    for (const node of nodes) {
      const d = decodeNode(node, this.tree.bucketsPerSlot);
      if (d === null || !this.inSession(d, a.member)) {
        this.replyQueue.push({ to: from, message: { kind: 'ae_busy', sid } });
        return;
      }
      this.describe(d, node, a, w);
    }
    this.replyQueue.push({ to: from, message: { kind: 'ae_reply', sid, body: w.bytes() } });
  }

  /** Appends this replica's description of a node: its entries when few (or a bucket), else its children. */
  private describe(d: DecodedNode, node: AeNodeId, a: AnswerSession, w: ByteWriter): void {
    const member = a.member;
    const count = this.keyCount(d, member);
    if (d.kind === 'bucket' || count <= this.opts.leafEntriesMax || this.childNodes(d).length === 0) {
      const byHash = new Map<number, string[]>();
      this.indexEntries(d, member, a.sid, byHash);
      const hashes: number[] = [];
      for (const [h, keys] of byHash) for (let i = 0; i < keys.length && hashes.length < ENTRIES_PER_DESCRIPTION_MAX; i++) hashes.push(h);
      hashes.sort((x, y) => x - y);
      if (a.listedCount + hashes.length <= LISTED_ENTRIES_MAX && !a.listed.has(node)) {
        a.listed.set(node, byHash);
        a.listedCount += hashes.length;
      }
      w.u8(DESC_ENTRIES);
      w.u32(hashes.length);
      for (const h of hashes) w.u32(h);
      return;
    }
    const sid = a.sid;
    const children = this.childNodes(d);
    w.u8(DESC_CHILDREN);
    const bitmapAt = w.reserve((children.length + 7) >>> 3);
    const present: number[] = [];
    children.forEach((c, i) => {
      const h = this.hashOf(c, member);
      if (isZeroDigest(h)) return;
      w.orByte(bitmapAt + (i >>> 3), 1 << (i & 7));
      present.push(compactHash(h, sid));
    });
    for (const h of present) w.u32(h);
  }

  // -------------------------------------------------------------------------------------------
  // Opener
  // -------------------------------------------------------------------------------------------

  private onReply(from: NodeId, sid: number, body: Uint8Array): void {
    const s = this.opened.get(sid);
    if (s === undefined || s.peer !== from || s.inFlight === null || !(body instanceof Uint8Array)) return;
    // A reply must describe exactly the nodes in flight, in order, and end there. One that does
    // not parse against them is a duplicated or late copy of an earlier reply (networks
    // duplicate and reorder): ignored, not fatal — aborting on it made sessions on a duplicating
    // network never complete (simulator seed 146). A late duplicate that happens to parse
    // cannot do harm either: every decision it leads to is re-checked against the trees.
    const parsed = this.parseReply(s, body);
    if (parsed === null) return;
    s.inFlight = null;
    s.lastActivityMs = this.nowMs;
    if (parsed === 'equal') {
      this.complete(s, false);
      return;
    }
    s.state = 'exchanging';
  }

  /** Applies a reply to the session; null when it does not match the nodes in flight (nothing applied). */
  private parseReply(s: OpenSession, body: Uint8Array): 'equal' | 'applied' | null {
    const asked = s.inFlight ?? [];
    // First pass: validate the shape so a malformed reply changes nothing.
    let at = 0;
    const plans: { d: DecodedNode; node: AeNodeId; tag: number; at: number }[] = [];
    for (const node of asked) {
      const d = decodeNode(node, this.tree.bucketsPerSlot);
      if (d === null || at >= body.length) return null;
      const tag = body[at]!;
      const start = at + 1;
      if (tag === DESC_EQUAL) {
        if (node !== ROOT_NODE || asked.length !== 1 || body.length !== 1) return null;
        return 'equal';
      } else if (tag === DESC_CHILDREN) {
        const children = this.childNodes(d).length;
        if (children === 0) return null;
        const bm = (children + 7) >>> 3;
        if (start + bm > body.length) return null;
        let present = 0;
        for (let i = 0; i < children; i++) if ((body[start + (i >>> 3)]! >>> (i & 7)) & 1) present++;
        at = start + bm + 4 * present;
      } else if (tag === DESC_ENTRIES) {
        if (start + 4 > body.length) return null;
        at = start + 4 + 4 * readU32(body, start);
      } else {
        return null;
      }
      if (at > body.length) return null;
      plans.push({ d, node, tag, at: start });
    }
    if (at !== body.length) return null;
    for (const p of plans) {
      if (p.tag === DESC_CHILDREN) this.compareChildren(s, p.d, body, p.at);
      else this.compareEntries(s, p.node, body, p.at);
    }
    return 'applied';
  }

  private compareChildren(s: OpenSession, d: DecodedNode, body: Uint8Array, at: number): void {
    const children = this.childNodes(d);
    let h = at + ((children.length + 7) >>> 3);
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      const theirsPresent = ((body[at + (i >>> 3)]! >>> (i & 7)) & 1) === 1;
      const theirs = theirsPresent ? readU32(body, h) : 0;
      if (theirsPresent) h += 4;
      const mine = this.hashOf(child, s.member);
      const mineEmpty = isZeroDigest(mine);
      if (!theirsPresent && mineEmpty) continue;
      if (theirsPresent && !mineEmpty && compactHash(mine, s.sid) === theirs) continue;
      if (!theirsPresent) {
        const node = this.nodeId(child);
        s.walks.push({ node, stack: [node], theirs: null });
      } else {
        s.toAsk.push(this.nodeId(child));
      }
    }
  }

  private compareEntries(s: OpenSession, node: AeNodeId, body: Uint8Array, at: number): void {
    const n = readU32(body, at);
    const theirs = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const h = readU32(body, at + 4 + 4 * i);
      theirs.set(h, (theirs.get(h) ?? 0) + 1);
    }
    s.walks.push({ node, stack: [node], theirs });
  }

  private abort(s: OpenSession, tellPeer: boolean): void {
    this.opened.delete(s.sid);
    this.stats.sessionsAborted++;
    if (tellPeer) this.replyQueue.push({ to: s.peer, message: { kind: 'ae_close', sid: s.sid, completed: false } });
    this.outputs.push({ kind: 'session_end', sid: s.sid, peer: s.peer, outcome: 'aborted', transfers: s.transfersEmitted });
  }

  private complete(s: OpenSession, sendClose: boolean): void {
    this.opened.delete(s.sid);
    this.stats.sessionsSynced++;
    this.markSynced(s.peer, s.member, s.startedAtMs);
    if (sendClose) this.replyQueue.push({ to: s.peer, message: { kind: 'ae_close', sid: s.sid, completed: true } });
    this.outputs.push({ kind: 'session_end', sid: s.sid, peer: s.peer, outcome: 'synced', transfers: s.transfersEmitted });
  }

  /** O(1): marks are kept per slot set (few per peer: the cached tables), read per slot on demand. */
  private markSynced(peer: NodeId, member: Uint8Array, atMs: number): void {
    let marks = this.synced.get(peer);
    if (marks === undefined) {
      marks = new Map();
      this.synced.set(peer, marks);
    }
    const prev = marks.get(member);
    // A session that started earlier than the one already recorded cannot move the mark back.
    if (prev !== undefined && prev >= atMs) return;
    marks.delete(member);
    marks.set(member, atMs);
    if (marks.size > MARK_SETS_MAX) marks.delete(marks.keys().next().value!);
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

  private flushReplies(): boolean {
    while (this.replyQueue.length > 0) {
      const r = this.replyQueue[0]!;
      if (!this.send(r.to, r.message)) return false;
      this.replyQueue.shift();
    }
    return true;
  }

  private pump(): void {
    // Replies first: a peer is waiting on them.
    if (!this.flushReplies()) return;
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
        s.inFlight = [ROOT_NODE];
        s.lastActivityMs = this.nowMs;
        continue;
      }
      if (s.state === 'exchanging' && s.inFlight === null && s.toAsk.length > 0) {
        const nodes = s.toAsk.slice(0, this.opts.nodesPerMessageMax);
        if (!this.send(s.peer, { kind: 'ae_request', sid: s.sid, nodes })) return;
        s.toAsk.splice(0, nodes.length);
        s.inFlight = nodes;
        s.lastActivityMs = this.nowMs;
      }
      if (s.state === 'exchanging' && s.inFlight === null && s.toAsk.length === 0 && s.walks.length === 0 && s.pushes.length === 0 && s.wants.length === 0) {
        s.state = 'applying';
        if (s.transfersEmitted === 0) this.complete(s, true);
      }
    }
    // Completing a session queues its close.
    this.flushReplies();
  }

  /**
   * Walks queued subtrees and emits transfer batches within the per-tick budgets: the local
   * walk of a subtree (pushing entries the peer did not list) advances one node at a time.
   */
  private emitTransfers(s: OpenSession): void {
    const budget = this.opts.transfersPerTickMax;
    const batch = this.opts.transferBatchMax;
    for (;;) {
      // Emit full batches as soon as they fill; the remainder once no walk is left.
      while (s.pushes.length >= (s.walks.length > 0 ? batch : 1) && this.transfersThisTick < budget) {
        const keys = s.pushes.splice(0, Math.min(batch, budget - this.transfersThisTick));
        this.transfersThisTick += keys.length;
        s.transfersEmitted += keys.length;
        this.stats.pushes += keys.length;
        this.outputs.push({ kind: 'push', sid: s.sid, peer: s.peer, keys });
      }
      let wanted = 0;
      for (const w of s.wants) wanted += w.hashes.length;
      while (wanted >= (s.walks.length > 0 ? batch : 1) && this.transfersThisTick < budget) {
        const room = Math.min(batch, budget - this.transfersThisTick);
        const nodes: AeNodeId[] = [];
        const counts: number[] = [];
        const hashes: number[] = [];
        while (s.wants.length > 0 && hashes.length < room && nodes.length < this.opts.nodesPerMessageMax) {
          const w = s.wants[0]!;
          const take = w.hashes.splice(0, room - hashes.length);
          nodes.push(w.node);
          counts.push(take.length);
          hashes.push(...take);
          if (w.hashes.length === 0) s.wants.shift();
        }
        wanted -= hashes.length;
        this.transfersThisTick += hashes.length;
        s.transfersEmitted += hashes.length;
        this.stats.fetches += hashes.length;
        this.outputs.push({ kind: 'fetch', sid: s.sid, peer: s.peer, nodes, counts, hashes: packHashes(hashes) });
      }
      if (this.transfersThisTick >= budget || this.walkThisTick >= 4 * budget || s.walks.length === 0) return;
      this.walkStep(s);
    }
  }

  /** Expands one node of the oldest walk: its non-empty children, or a bucket's entries. */
  private walkStep(s: OpenSession): void {
    const job = s.walks[0]!;
    const node = job.stack.pop();
    if (node === undefined) {
      s.walks.shift();
      if (job.theirs !== null) {
        const hashes: number[] = [];
        for (const [h, n] of [...job.theirs].sort((x, y) => x[0] - y[0])) for (let i = 0; i < n; i++) hashes.push(h);
        if (hashes.length > 0) s.wants.push({ node: job.node, hashes });
      }
      return;
    }
    this.walkThisTick++;
    const d = decodeNode(node, this.tree.bucketsPerSlot);
    if (d === null) return;
    if (d.kind === 'bucket') {
      if (s.member[d.slot] !== 1) return;
      const entries = this.tree.bucketEntries(d.slot, d.bucket);
      for (const k of [...entries.keys()].sort()) {
        if (job.theirs !== null) {
          const h = compactHash(entryHash(k, entries.get(k)!), s.sid);
          const n = job.theirs.get(h);
          if (n !== undefined) {
            if (n === 1) job.theirs.delete(h);
            else job.theirs.set(h, n - 1);
            continue;
          }
        }
        s.pushes.push(k);
      }
      this.walkThisTick += entries.size;
      return;
    }
    const children = this.childNodes(d);
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i]!;
      if (!isZeroDigest(this.hashOf(c, s.member))) job.stack.push(this.nodeId(c));
    }
  }
}
