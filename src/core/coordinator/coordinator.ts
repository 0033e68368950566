/**
 * Quorum coordination of get/put/delete (Dynamo), strict or sloppy.
 *
 * Sloppy quorum (the default; `strict` per request or per node turns it off, like Riak's PW):
 * when the coordinating replica holds preference-list owners down, each down owner is stood in
 * for by the next fallback (the key's slot fallback list, members outside the preference list)
 * not held down; the fallback gets `replicate_hint` naming the owner, keeps the record as a
 * durable hint (handoff/) and acks, and that ack counts toward W. A write that cannot find W
 * reachable owners + fallbacks is refused (ERR_UNAVAILABLE, "did not happen"); in strict mode
 * only owners count. Down owners still get the plain `replicate` (the down view may be wrong).
 * Reads always go to owners only: R + W > N guarantees read-your-writes only for writes acked
 * by owners (hintedAcks = 0 in the reply); a hinted write becomes visible to every R once its
 * hints are delivered.
 *
 * Writes. Any node accepts a put/delete. A node outside the key's preference list forwards it to
 * the first replica not locally known to be down (the dot must come from a replica). The
 * coordinating replica then, under the key's turn: reads its record, applies the write (a new dot
 * from itself), stores the result with sync, and only then sends the record to the other
 * replicas, which merge, store and ack. The client gets success after W acks (the local store is
 * one). Outcomes:
 *   - ERR_UNAVAILABLE ("did not happen"): fewer than W replicas are reachable per the local down
 *     set, or the deadline passed before the local store was issued — the op is marked finished
 *     so the queued work never stores it;
 *   - ERR_MAYBE_APPLIED: the deadline passed after the local store was issued but before W acks,
 *     or a forwarded write got no answer (the forwarder cannot know).
 * Storing locally with sync BEFORE replicating keeps the law that a node never reuses a dot:
 * the counter comes from the local record, which always holds every dot this node handed out.
 *
 * Reads. The coordinator asks all reachable replicas of the preference list and answers after R
 * replies (asking all N instead of only R costs messages but tolerates a slow replica without
 * waiting for a timeout, and the extra answers are what read repair needs). When every asked
 * replica answered, or at the deadline, replicas whose record differs from the merge of all
 * answers get the merged record (read repair) — after the client's reply, never before it.
 *
 * Duplicates and reordering: replies are matched by opId and by sender (acks are a set, so a
 * duplicated ack counts once); merges are idempotent; a duplicated forward_write is recognised by
 * (sender, opId) in a bounded table and answered from it instead of writing twice.
 *
 * Limits: unanswered operations <= inFlightMax (ERR_OVERLOADED beyond); answered reads still
 * waiting for their last replicas (to repair them) <= inFlightMax too — past that, a read repairs
 * with the answers it has as soon as it replies, so repair bookkeeping never refuses clients; waiting
 * key-turns <= keyQueueMax (work beyond is dropped like a lost message); the forward dedup table
 * <= forwardDedupMax entries.
 */
import { RingkvError, isRingkvError } from '../../errors/ringkv-error.js';
import type { ErrorCode } from '../../errors/codes.js';
import type { Consistency, KvOp, KvResult, OpId, PeerMessage } from '../messages.js';
import type { NodeId, RequestId } from '../types.js';
import { resolveQuorum } from './quorum.js';
import type { Rec, Versions } from './versions.js';

export interface CoordinatorOptions {
  readonly self: NodeId;
  readonly incarnation: number;
  readonly requestTimeoutMs: number;
  readonly inFlightMax: number;
  /** Forwarded-write dedup entries kept (FIFO). */
  readonly forwardDedupMax: number;
  /** Sync replica merges (replicate). The coordinating replica's own store is always synced. */
  readonly replicaSync: boolean;
  /** Sync read-repair merges (losing one on a crash only loses a copy that exists elsewhere). */
  readonly repairSync: boolean;
  /** Default for writes that do not say: true = only owners count toward W (no hints). */
  readonly strict: boolean;
}

/** What the coordinator needs from the node that hosts it: effects and key turns. */
export interface CoordinatorHost {
  nowMs(): number;
  /** Replication factor and preference list for a key under the current ring. */
  placement(key: string): { replicationFactor: number; preferenceList: readonly NodeId[] };
  /** Members outside the key's preference list, in fallback order (empty = no sloppy quorum). */
  fallbacks(key: string): readonly NodeId[];
  /**
   * During a ring change: the key's owners in the pending ring when they differ from the
   * preference list (null = no change for this key). A write then also goes to them and needs
   * W acks among them besides W among the preference list (a joint quorum). Absent = never.
   */
  pendingPreferenceList?(key: string): readonly NodeId[] | null;
  /** A fallback's side of a sloppy write: keep the hint durably, `ack` once it is. */
  acceptHint(owner: NodeId, key: string, record: Buffer, ack: () => void): void;
  isDown(node: NodeId): boolean;
  send(to: NodeId, message: PeerMessage): void;
  reply(requestId: RequestId, result: KvResult): void;
  storageRead(key: string, done: (r: { ok: true; record: Buffer | null } | { ok: false; message: string }) => void): void;
  storageWrite(key: string, record: Buffer, sync: boolean, done: (r: { ok: true } | { ok: false; message: string }) => void): void;
  /** Runs `task` when the key's turn comes; false = queue full, the task will never run. */
  withKey(key: string, task: (release: () => void) => void): boolean;
}

type Origin =
  | { kind: 'client'; requestId: RequestId }
  | { kind: 'peer'; from: NodeId; opId: OpId };

interface WriteOp {
  kind: 'write';
  opId: OpId;
  origin: Origin;
  key: string;
  preferenceList: readonly NodeId[];
  /** fallback -> the down owner it stands in for (sloppy quorum); empty when strict. */
  fallbacks: Map<NodeId, NodeId>;
  /** The pending ring's owners during a ring change (joint quorum), else null. */
  pendingList: readonly NodeId[] | null;
  writeQuorum: number;
  acks: Set<NodeId>;
  /** 'issued': the local store effect was emitted (it may land even if we time out). */
  stored: 'no' | 'issued' | 'yes';
  deadlineMs: number;
  finished: boolean;
}

interface ForwardOp {
  kind: 'forward';
  opId: OpId;
  requestId: RequestId;
  target: NodeId;
  deadlineMs: number;
  finished: boolean;
}

interface ReadOp {
  kind: 'read';
  opId: OpId;
  requestId: RequestId;
  key: string;
  preferenceList: readonly NodeId[];
  asked: Set<NodeId>;
  readQuorum: number;
  replies: Map<NodeId, Rec>;
  replied: boolean;
  deadlineMs: number;
  finished: boolean;
}

type Op = WriteOp | ForwardOp | ReadOp;

/** A forwarded write seen from a peer: running (no result yet) or answered. */
interface ForwardSeen {
  result: KvResult | null;
}

export interface CoordinatorStats {
  droppedMessages: number;
  readRepairsSent: number;
}

function checkExpiry(expiresAtMs: number): void {
  if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0) {
    throw new RingkvError('ERR_INVALID_ARGUMENT', 'expiresAtMs must be a non-negative integer (0 = never)');
  }
}

function errorResult(code: ErrorCode, message: string): KvResult {
  return { kind: 'error', code, message };
}

export class Coordinator {
  private readonly ops = new Map<OpId, Op>();
  private seq = 0;
  /** Reads in `ops` that already replied and wait only to repair (see Limits). */
  private answeredReads = 0;
  private readonly forwardsSeen = new Map<string, ForwardSeen>();
  readonly stats: CoordinatorStats = { droppedMessages: 0, readRepairsSent: 0 };

  constructor(
    private readonly opts: CoordinatorOptions,
    private readonly host: CoordinatorHost,
    private readonly versions: Versions,
  ) {}

  /** Operations not yet answered (what inFlightMax bounds). */
  get inFlight(): number {
    return this.ops.size - this.answeredReads;
  }

  private nextOpId(): OpId {
    this.seq++;
    return `${this.opts.self}/${this.opts.incarnation}/${this.seq}`;
  }

  // -------------------------------------------------------------------------------------------
  // Client requests
  // -------------------------------------------------------------------------------------------

  clientRequest(requestId: RequestId, op: KvOp): void {
    try {
      if (this.inFlight >= this.opts.inFlightMax) {
        throw new RingkvError('ERR_OVERLOADED', 'too many requests in flight');
      }
      switch (op.kind) {
        case 'get':
          this.startRead(requestId, op.key, op.readQuorum ?? 'quorum');
          return;
        case 'put':
          this.startClientWrite(requestId, op.key, op.value, op.expiresAtMs, op.context, op.writeQuorum ?? 'quorum', op.strict ?? this.opts.strict, op.overwrite === true);
          return;
        case 'delete':
          this.startClientWrite(requestId, op.key, null, 0, op.context, op.writeQuorum ?? 'quorum', op.strict ?? this.opts.strict, op.overwrite === true);
          return;
        default: {
          const never: never = op;
          throw new TypeError(`unknown op ${JSON.stringify(never)}`);
        }
      }
    } catch (e) {
      if (!isRingkvError(e)) throw e;
      this.host.reply(requestId, errorResult(e.code, e.message));
    }
  }

  private startClientWrite(
    requestId: RequestId, key: string, value: Buffer | null, expiresAtMs: number,
    context: Buffer | null, level: Consistency, strict: boolean, overwrite: boolean,
  ): void {
    const { replicationFactor, preferenceList } = this.host.placement(key);
    const writeQuorum = resolveQuorum(level, replicationFactor, 'W');
    checkExpiry(expiresAtMs);
    // Validate the client's context at the edge of the cluster, before any forwarding.
    if (context !== null) this.versions.decodeContext(context);
    if (preferenceList.includes(this.opts.self)) {
      this.startReplicaWrite({ kind: 'client', requestId }, key, value, expiresAtMs, context, writeQuorum, strict, overwrite);
      return;
    }
    const target = preferenceList.find((n) => !this.host.isDown(n));
    if (target === undefined) throw new RingkvError('ERR_UNAVAILABLE', 'no replica of the key is reachable');
    const opId = this.nextOpId();
    // Waits longer than the replica does, so the replica's own verdict (UNAVAILABLE vs MAYBE)
    // usually arrives before the forwarder has to guess MAYBE.
    this.ops.set(opId, {
      kind: 'forward', opId, requestId, target, finished: false,
      deadlineMs: this.host.nowMs() + 2 * this.opts.requestTimeoutMs,
    });
    this.host.send(target, { kind: 'forward_write', opId, key, value, expiresAtMs, context, writeQuorum, strict, ...(overwrite ? { overwrite } : {}) });
  }

  /** The coordinating replica's part of a write (from a client here or forwarded by a peer). */
  private startReplicaWrite(
    origin: Origin, key: string, value: Buffer | null, expiresAtMs: number, context: Buffer | null, writeQuorum: number,
    strict: boolean, overwrite: boolean,
  ): void {
    const { preferenceList, replicationFactor } = this.host.placement(key);
    // A forwarded write is checked again: peers are separate processes, possibly of another version.
    checkExpiry(expiresAtMs);
    if (!Number.isSafeInteger(writeQuorum) || writeQuorum < 1 || writeQuorum > replicationFactor) {
      throw new RingkvError('ERR_INVALID_ARGUMENT', `W=${writeQuorum} is outside 1..${replicationFactor}`);
    }
    const reachable = preferenceList.filter((n) => n === this.opts.self || !this.host.isDown(n)).length;
    const pendingList = this.host.pendingPreferenceList?.(key) ?? null;
    const fallbacks = new Map<NodeId, NodeId>();
    if (!strict && reachable < preferenceList.length) {
      // A pending owner gets the record itself (and its ack counts toward the pending quorum),
      // so it never also stands in as a fallback: one ack must not count twice.
      const spare = this.host.fallbacks(key).filter((n) => n !== this.opts.self && !this.host.isDown(n) && !preferenceList.includes(n)
        && !(pendingList?.includes(n) ?? false));
      for (const owner of preferenceList) {
        if (owner === this.opts.self || !this.host.isDown(owner)) continue;
        const stand = spare.shift();
        if (stand === undefined) break;
        fallbacks.set(stand, owner);
      }
    }
    if (reachable + fallbacks.size < writeQuorum) {
      throw new RingkvError('ERR_UNAVAILABLE', strict
        ? `only ${reachable} of ${writeQuorum} required replicas are reachable (strict quorum)`
        : `only ${reachable} replicas and ${fallbacks.size} fallbacks of ${writeQuorum} required are reachable`);
    }
    if (pendingList !== null) {
      const pendingReachable = pendingList.filter((n) => n === this.opts.self || !this.host.isDown(n)).length;
      if (pendingReachable < Math.min(writeQuorum, pendingList.length)) {
        throw new RingkvError('ERR_UNAVAILABLE', `only ${pendingReachable} of ${writeQuorum} required replicas of the pending ring are reachable`);
      }
    }
    const ctx = context === null ? this.versions.emptyContext() : this.versions.decodeContext(context);
    const opId = this.nextOpId();
    const op: WriteOp = {
      kind: 'write', opId, origin, key, preferenceList, fallbacks, pendingList, writeQuorum, acks: new Set(), stored: 'no',
      deadlineMs: this.host.nowMs() + this.opts.requestTimeoutMs, finished: false,
    };
    this.ops.set(opId, op);
    const queued = this.host.withKey(key, (release) => {
      if (op.finished) return release();
      this.host.storageRead(key, (read) => {
        if (op.finished) return release();
        if (!read.ok) {
          release();
          return this.finishWrite(op, errorResult('ERR_UNAVAILABLE', 'local storage read failed'));
        }
        let next: Rec;
        try {
          const current = read.record === null ? this.versions.empty() : this.versions.decode(read.record);
          // Overwrite: the write supersedes every version this replica holds (a plain Redis SET);
          // versions it has not seen yet stay concurrent and surface as siblings.
          next = this.versions.write(current, overwrite ? this.versions.contextOf(current) : ctx, value, expiresAtMs, this.host.nowMs());
        } catch (e) {
          release();
          // Typed errors (too many siblings, an unreadable stored record) answer the client;
          // anything else is a broken invariant and must crash loudly, not become a reply.
          if (!isRingkvError(e)) throw e;
          return this.finishWrite(op, errorResult(e.code, e.message));
        }
        const bytes = this.versions.encode(next);
        op.stored = 'issued';
        this.host.storageWrite(key, bytes, true, (written) => {
          release();
          if (!written.ok) {
            // The engine reports the write did not land: nothing was stored or sent.
            if (!op.finished) this.finishWrite(op, errorResult('ERR_UNAVAILABLE', 'local storage write failed'));
            return;
          }
          op.stored = 'yes';
          op.acks.add(this.opts.self);
          // Replicate even when the op already timed out: the write exists now, so spreading it
          // is what makes a MAYBE write converge instead of lingering on one replica.
          for (const n of preferenceList) {
            if (n !== this.opts.self) this.host.send(n, { kind: 'replicate', opId, key, record: bytes });
          }
          for (const [stand, owner] of fallbacks) this.host.send(stand, { kind: 'replicate_hint', opId, key, owner, record: bytes });
          if (pendingList !== null) {
            for (const n of pendingList) {
              if (n !== this.opts.self && !preferenceList.includes(n)) this.host.send(n, { kind: 'replicate', opId, key, record: bytes });
            }
          }
          this.checkWrite(op);
        });
      });
    });
    if (!queued) {
      this.ops.delete(opId);
      throw new RingkvError('ERR_OVERLOADED', 'too many writes waiting for their key');
    }
  }

  /** W acks among the preference list and its fallbacks, and (during a ring change) W among the pending owners. */
  private quorumReached(op: WriteOp): boolean {
    let current = 0;
    for (const n of op.acks) if (op.preferenceList.includes(n) || op.fallbacks.has(n)) current++;
    if (current < op.writeQuorum) return false;
    if (op.pendingList === null) return true;
    let pending = 0;
    for (const n of op.acks) if (op.pendingList.includes(n)) pending++;
    return pending >= Math.min(op.writeQuorum, op.pendingList.length);
  }

  private checkWrite(op: WriteOp): void {
    if (op.finished || !this.quorumReached(op)) return;
    let hintedAcks = 0;
    for (const n of op.acks) if (op.fallbacks.has(n)) hintedAcks++;
    this.finishWrite(op, hintedAcks > 0 ? { kind: 'written', hintedAcks } : { kind: 'written' });
  }

  private finishWrite(op: WriteOp, result: KvResult): void {
    if (op.finished) throw new Error(`write ${op.opId} finished twice`);
    op.finished = true;
    this.ops.delete(op.opId);
    this.answer(op.origin, result);
  }

  private answer(origin: Origin, result: KvResult): void {
    if (origin.kind === 'client') {
      this.host.reply(origin.requestId, result);
      return;
    }
    const seen = this.forwardsSeen.get(`${origin.from}|${origin.opId}`);
    if (seen !== undefined) seen.result = result;
    this.host.send(origin.from, { kind: 'forward_reply', opId: origin.opId, result });
  }

  private startRead(requestId: RequestId, key: string, level: Consistency): void {
    const { replicationFactor, preferenceList } = this.host.placement(key);
    const readQuorum = resolveQuorum(level, replicationFactor, 'R');
    const asked = new Set(preferenceList.filter((n) => n === this.opts.self || !this.host.isDown(n)));
    if (asked.size < readQuorum) {
      throw new RingkvError('ERR_UNAVAILABLE', `only ${asked.size} of ${readQuorum} required replicas are reachable`);
    }
    const opId = this.nextOpId();
    const op: ReadOp = {
      kind: 'read', opId, requestId, key, preferenceList, asked, readQuorum, replies: new Map(), replied: false,
      deadlineMs: this.host.nowMs() + this.opts.requestTimeoutMs, finished: false,
    };
    this.ops.set(opId, op);
    for (const n of asked) {
      if (n === this.opts.self) {
        this.host.storageRead(key, (r) => {
          if (r.ok) this.readReply(op, n, r.record);
        });
      } else {
        this.host.send(n, { kind: 'read', opId, key });
      }
    }
  }

  private readReply(op: ReadOp, from: NodeId, record: Buffer | null): void {
    if (op.finished || !op.asked.has(from) || op.replies.has(from)) return;
    let rec: Rec;
    try {
      rec = record === null ? this.versions.empty() : this.versions.decode(record);
    } catch {
      this.stats.droppedMessages++;
      return;
    }
    op.replies.set(from, rec);
    if (!op.replied && op.replies.size >= op.readQuorum) {
      op.replied = true;
      this.answeredReads++;
      const merged = this.mergeAll(op.replies.values());
      this.host.reply(op.requestId, {
        kind: 'values',
        values: this.versions.live(merged, this.host.nowMs()),
        context: this.versions.encodeContext(this.versions.contextOf(merged)),
      });
    }
    if (op.replies.size === op.asked.size || (op.replied && this.answeredReads > this.opts.inFlightMax)) this.finishRead(op);
  }

  private mergeAll(records: Iterable<Rec>): Rec {
    let merged: Rec | undefined;
    for (const r of records) merged = merged === undefined ? r : this.versions.merge(merged, r);
    return merged ?? this.versions.empty();
  }

  /** Every asked replica answered, or the deadline passed: reply if not yet, then repair. */
  private finishRead(op: ReadOp): void {
    op.finished = true;
    this.ops.delete(op.opId);
    if (op.replied) this.answeredReads--;
    if (!op.replied) {
      this.host.reply(op.requestId, errorResult('ERR_TIMEOUT', `${op.replies.size} of ${op.readQuorum} replicas answered in time`));
      return;
    }
    const merged = this.mergeAll(op.replies.values());
    let bytes: Buffer | null = null;
    for (const [n, rec] of op.replies) {
      if (this.versions.equal(rec, merged)) continue;
      bytes ??= this.versions.encode(merged);
      this.stats.readRepairsSent++;
      if (n === this.opts.self) this.mergeAndStore(op.key, bytes, this.opts.repairSync, () => {});
      else this.host.send(n, { kind: 'repair', key: op.key, record: bytes });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Peer messages
  // -------------------------------------------------------------------------------------------

  peerMessage(from: NodeId, m: PeerMessage): void {
    switch (m.kind) {
      case 'forward_write':
        this.onForwardWrite(from, m);
        return;
      case 'forward_reply': {
        const op = this.ops.get(m.opId);
        if (op?.kind !== 'forward' || op.target !== from) return;
        op.finished = true;
        this.ops.delete(op.opId);
        this.host.reply(op.requestId, m.result);
        return;
      }
      case 'replicate':
        this.mergeAndStore(m.key, m.record, this.opts.replicaSync, () => {
          this.host.send(from, { kind: 'replicate_ack', opId: m.opId, key: m.key });
        });
        return;
      case 'replicate_ack': {
        const op = this.ops.get(m.opId);
        if (op?.kind !== 'write' || !(op.preferenceList.includes(from) || op.fallbacks.has(from) || (op.pendingList?.includes(from) ?? false))) return;
        op.acks.add(from);
        this.checkWrite(op);
        return;
      }
      case 'read':
        this.host.storageRead(m.key, (r) => {
          if (r.ok) this.host.send(from, { kind: 'read_reply', opId: m.opId, key: m.key, record: r.record });
        });
        return;
      case 'read_reply': {
        const op = this.ops.get(m.opId);
        if (op?.kind !== 'read' || op.key !== m.key) return;
        this.readReply(op, from, m.record);
        return;
      }
      case 'repair':
        this.mergeAndStore(m.key, m.record, this.opts.repairSync, () => {});
        return;
      case 'replicate_hint':
        if (m.owner === this.opts.self || this.host.placement(m.key).preferenceList.includes(this.opts.self)) {
          // Hinting a replica's own key to itself would be a plain replicate; a peer that asks
          // is confused about placement, and an owner stores records, not hints.
          this.stats.droppedMessages++;
          return;
        }
        this.host.acceptHint(m.owner, m.key, m.record, () => {
          this.host.send(from, { kind: 'replicate_ack', opId: m.opId, key: m.key });
        });
        return;
      case 'hint_deliver':
        // The owner's side of a replay: merged and stored with sync before the ack, so the
        // holder deletes its hint only once the owner's copy survives a crash.
        this.mergeAndStore(m.key, m.record, true, () => {
          this.host.send(from, { kind: 'hint_ack', deliveryId: m.deliveryId, key: m.key });
        });
        return;
      case 'hint_ack':
      case 'membership':
      case 'ae':
      case 'ae_push':
      case 'ae_push_ack':
      case 'ae_fetch':
      case 'ae_fetch_reply':
      case 'topology':
        throw new Error(`${m.kind} is the node's to route, not the coordinator's`);
      default: {
        const never: never = m;
        throw new TypeError(`unknown peer message ${JSON.stringify(never)}`);
      }
    }
  }

  private onForwardWrite(from: NodeId, m: Extract<PeerMessage, { kind: 'forward_write' }>): void {
    const dedupKey = `${from}|${m.opId}`;
    const seen = this.forwardsSeen.get(dedupKey);
    if (seen !== undefined) {
      // A duplicate: never write twice. Answer again if we already know the outcome.
      if (seen.result !== null) this.host.send(from, { kind: 'forward_reply', opId: m.opId, result: seen.result });
      return;
    }
    this.forwardsSeen.set(dedupKey, { result: null });
    while (this.forwardsSeen.size > this.opts.forwardDedupMax) {
      const oldest = this.forwardsSeen.keys().next();
      if (oldest.done === true) break;
      this.forwardsSeen.delete(oldest.value);
    }
    const origin: Origin = { kind: 'peer', from, opId: m.opId };
    try {
      if (this.inFlight >= this.opts.inFlightMax) throw new RingkvError('ERR_OVERLOADED', 'too many requests in flight');
      const { preferenceList } = this.host.placement(m.key);
      if (!preferenceList.includes(this.opts.self)) {
        throw new RingkvError('ERR_UNAVAILABLE', 'forwarded write reached a node that is not a replica of the key');
      }
      this.startReplicaWrite(origin, m.key, m.value, m.expiresAtMs, m.context, m.writeQuorum, m.strict, m.overwrite === true);
    } catch (e) {
      if (!isRingkvError(e)) throw e;
      this.answer(origin, errorResult(e.code, e.message));
    }
  }

  /**
   * Merges a record from a peer (anti-entropy) into the local one through the same path as a
   * replicate: under the key's turn, stored (with `sync` when asked) before `then` runs.
   * `then(changed)`: whether the stored record changed; never runs when the store failed or the
   * bytes were garbage.
   */
  mergeRecord(key: string, recordBytes: Buffer, sync: boolean, then: (changed: boolean) => void): void {
    this.mergeAndStore(key, recordBytes, sync, () => then(false), () => then(true));
  }

  /** Merges a peer's record into the local one under the key's turn; `then` after it is stored. */
  private mergeAndStore(key: string, recordBytes: Buffer, sync: boolean, then: () => void, thenChanged: () => void = then): void {
    let incoming: Rec;
    try {
      incoming = this.versions.decode(recordBytes);
    } catch {
      this.stats.droppedMessages++;
      return;
    }
    const queued = this.host.withKey(key, (release) => {
      this.host.storageRead(key, (read) => {
        if (!read.ok) return release();
        let merged: Rec;
        try {
          merged = read.record === null ? incoming : this.versions.merge(this.versions.decode(read.record), incoming);
        } catch {
          this.stats.droppedMessages++;
          return release();
        }
        const bytes = this.versions.encode(merged);
        // Skipping an unchanged write is only safe when no durability is promised: the record
        // read may sit in an unsynced write (a read repair) that a crash can still lose, and a
        // replicate ack means "durably stored" (regression seed 9077).
        if (!sync && read.record !== null && bytes.equals(read.record)) {
          release();
          then();
          return;
        }
        const changed = read.record === null || !bytes.equals(read.record);
        this.host.storageWrite(key, bytes, sync, (w) => {
          release();
          if (w.ok) (changed ? thenChanged : then)();
        });
      });
    });
    if (!queued) this.stats.droppedMessages++;
  }

  // -------------------------------------------------------------------------------------------
  // Time
  // -------------------------------------------------------------------------------------------

  tick(nowMs: number): void {
    for (const op of [...this.ops.values()]) {
      if (op.finished || op.deadlineMs > nowMs) continue;
      switch (op.kind) {
        case 'write':
          this.finishWrite(op, op.stored === 'no'
            ? errorResult('ERR_UNAVAILABLE', 'timed out before the write was stored anywhere')
            : errorResult('ERR_MAYBE_APPLIED', `timed out with ${op.acks.size} of ${op.writeQuorum} acks; the write may have happened`));
          break;
        case 'forward':
          op.finished = true;
          this.ops.delete(op.opId);
          this.host.reply(op.requestId, errorResult('ERR_MAYBE_APPLIED', 'the replica did not answer in time; the write may have happened'));
          break;
        case 'read':
          this.finishRead(op);
          break;
        default: {
          const never: never = op;
          throw new TypeError(`unknown op ${JSON.stringify(never)}`);
        }
      }
    }
  }

  invariants(): void {
    if (this.inFlight > this.opts.inFlightMax) throw new Error(`in-flight ${this.inFlight} > ${this.opts.inFlightMax}`);
    if (this.answeredReads > this.opts.inFlightMax) throw new Error(`answered reads kept for repair ${this.answeredReads} > ${this.opts.inFlightMax}`);
    let answered = 0;
    for (const op of this.ops.values()) if (op.kind === 'read' && op.replied) answered++;
    if (answered !== this.answeredReads) throw new Error(`answered read count ${this.answeredReads} != ${answered}`);
    if (this.forwardsSeen.size > this.opts.forwardDedupMax) throw new Error('forward dedup table above its bound');
    for (const [id, op] of this.ops) {
      if (op.opId !== id || op.finished) throw new Error(`op table holds a finished or misfiled op ${id}`);
      switch (op.kind) {
        case 'write':
          if ((op.stored === 'yes') !== op.acks.has(this.opts.self)) throw new Error(`write ${id}: local ack and stored state disagree`);
          for (const n of op.acks) {
            if (!op.preferenceList.includes(n) && !op.fallbacks.has(n) && !(op.pendingList?.includes(n) ?? false)) throw new Error(`write ${id}: ack from non-replica ${n}`);
          }
          for (const [stand, owner] of op.fallbacks) {
            if (op.preferenceList.includes(stand) || !op.preferenceList.includes(owner)) throw new Error(`write ${id}: bad fallback ${stand} for ${owner}`);
          }
          if (this.quorumReached(op)) throw new Error(`write ${id}: quorum reached but not answered`);
          break;
        case 'forward':
          break;
        case 'read':
          for (const n of op.replies.keys()) if (!op.asked.has(n)) throw new Error(`read ${id}: reply from unasked ${n}`);
          if (op.replied !== (op.replies.size >= op.readQuorum)) throw new Error(`read ${id}: replied flag disagrees with replies`);
          break;
        default: {
          const never: never = op;
          throw new TypeError(`unknown op ${JSON.stringify(never)}`);
        }
      }
    }
  }
}
