/**
 * A key's versions: a dotted version vector set (Preguiça et al., "Dotted Version Vectors:
 * Logical Clocks for Optimistic Replication"; Riak 2.x dvvset). A record is
 *
 *   { context: version vector, siblings: [{ dot, value, expiresAtMs, hlc }] }
 *
 * where `context` is everything this replica has seen for the key and `siblings` are the
 * versions of it that no seen write has superseded. This is the dvvset of Riak written with one
 * explicit dot per sibling instead of per-node value lists: the same information, and it lets
 * LWW and siblings share one shape and one codec.
 *
 * Deletes are siblings whose value is null (tombstones): they supersede what they saw like any
 * write, so a delete cannot be undone by a late replica. Nothing here purges tombstones: that
 * is only safe once every replica holds a record descending from the tombstone. Expiry is an
 * absolute time in each sibling, so every replica agrees on when a version expires (0 = never).
 * A sibling has expired when nowMs > expiresAtMs (Redis's rule).
 *
 * Laws (property-tested in test/unit/versioning-dvvset.test.ts):
 *  - merge is commutative, associative and idempotent, in both modes;
 *  - merge never drops a sibling whose dot the other side has not seen (not covered by its
 *    context), and the merged context is the join of both contexts;
 *  - applyWrite with the context of a read replaces exactly the siblings that read returned;
 *    with an empty context it adds a sibling; with a stale context it keeps the siblings
 *    written concurrently with it;
 *  - every sibling's dot is covered by the record's context; siblings are sorted by dot and
 *    their dots are unique (so equal records are equal arrays and encode to equal bytes).
 *
 * Modes. `siblings`: concurrent writes are all kept and returned. `lww`: the record keeps one
 * sibling, the greatest by (hlc, dot); the coordinating replica must stamp a write past the
 * record's timestamps first (`stampWrite`), so a lagging wall clock cannot make a new write on
 * the same node lose to an old one. Across nodes the order is the HLC order: a write
 * coordinated on a node that has neither stored nor observed an earlier write from a node with
 * a faster clock can lose to it — unless the client's context token carried the read's
 * timestamp (`contextHlc`, token format 0x42) and the coordinator passed it to `stampWrite`:
 * then a write made after reading a value orders after it on any node. (The versioning layer
 * provides both; the coordinator does not carry read timestamps in tokens yet, so today only the
 * same-node guarantee holds end to end.) The mode is cluster configuration, not stored per record.
 *
 * Sibling bound (`siblingsMax`): on the coordinating replica, `applyWrite` refuses with
 * ERR_TOO_MANY_SIBLINGS any write that would leave more than `siblingsMax` siblings in that
 * replica's record (a context-less write to a full key, or a stale context that supersedes too
 * little). A write carrying the context of a read of the whole record leaves one sibling (plus
 * whatever arrived after the read), so read-modify-write is always the way out. Merges from
 * replication are never refused and never drop versions to meet the bound: losing an
 * acknowledged write is worse than a long sibling list, so a merged record may hold more than
 * `siblingsMax`. What does hold everywhere: siblings whose dots come from one node number at
 * most `siblingsMax` in any record (each record holding node X's latest dot has seen X's
 * record as of that write, which had at most `siblingsMax` siblings, and older X dots absent
 * from it stay superseded). Hence any record holds at most siblingsMax x (distinct nodes that
 * coordinated writes for the key) siblings: siblingsMax x replicationFactor with a stable ring.
 *
 * Dots are unique by construction: a node makes the next dot from max(own counter in the
 * record, counter in the client context) + 1, and its record for the key only grows. A record
 * lost from storage on one node breaks that assumption (as in Riak); anti-entropy from the
 * other replicas restores the counters before they are reused only if it runs first.
 * Contexts come from clients and are trusted to be ones this cluster issued: a forged context
 * that claims future dots would hide those writes when they arrive.
 *
 * Pure: no clocks, no randomness, no IO. Records are immutable values.
 */
import { RingkvError } from '../../errors/index.js';
import type { NodeId } from '../types.js';
import { compareHlc, type Hlc, type HybridClock } from './hlc.js';
import {
  assertVersionVector,
  compareDots,
  counterOf,
  covers,
  EMPTY_VV,
  joinVv,
  withCounter,
  type Dot,
  type VersionVector,
} from './version-vector.js';

export type ConflictMode = 'siblings' | 'lww';

/** Expiry value meaning "never expires". */
export const NO_EXPIRY = 0;

export interface Sibling {
  readonly dot: Dot;
  /** null marks a delete (tombstone). */
  readonly value: Buffer | null;
  /** Absolute ms since the epoch; NO_EXPIRY (0) for none. */
  readonly expiresAtMs: number;
  readonly hlc: Hlc;
}

/** A sibling known to hold a value (returned by `liveValues`). */
export interface LiveSibling extends Sibling {
  readonly value: Buffer;
}

export interface VersionedRecord {
  /** Everything this replica has seen for the key; what a read hands the client. */
  readonly context: VersionVector;
  /** Versions not superseded by anything seen; sorted by dot, dots unique. */
  readonly siblings: readonly Sibling[];
}

/** The causal context a client reads and returns with its next write. */
export type Context = VersionVector;

export interface Write {
  readonly value: Buffer | null;
  readonly expiresAtMs: number;
  readonly hlc: Hlc;
}

export interface WriteOptions {
  readonly mode: ConflictMode;
  /** Most siblings a coordinated write may leave (>= 1). */
  readonly siblingsMax: number;
}

const EMPTY_RECORD: VersionedRecord = Object.freeze({ context: EMPTY_VV, siblings: Object.freeze([]) as readonly Sibling[] });

export function emptyRecord(): VersionedRecord {
  return EMPTY_RECORD;
}

export function isEmptyRecord(r: VersionedRecord): boolean {
  return r.context.length === 0 && r.siblings.length === 0;
}

export function contextOf(r: VersionedRecord): Context {
  return r.context;
}

export function isExpired(s: Sibling, nowMs: number): boolean {
  return s.expiresAtMs !== NO_EXPIRY && nowMs > s.expiresAtMs;
}

/** Siblings holding a value that has not expired at `nowMs`, in dot order. */
export function liveValues(r: VersionedRecord, nowMs: number): LiveSibling[] {
  const out: LiveSibling[] = [];
  for (const s of r.siblings) {
    if (s.value !== null && !isExpired(s, nowMs)) out.push(s as LiveSibling);
  }
  return out;
}

/**
 * Total order on siblings used by LWW and for the (impossible in correct use) case of two
 * siblings with the same dot and different contents: hlc, then dot, then contents. Any total
 * order works for the merge laws; this one makes the newest timestamp win.
 */
export function compareSiblings(a: Sibling, b: Sibling): number {
  const byHlc = compareHlc(a.hlc, b.hlc);
  if (byHlc !== 0) return byHlc;
  const byDot = compareDots(a.dot, b.dot);
  if (byDot !== 0) return byDot;
  if (a.expiresAtMs !== b.expiresAtMs) return a.expiresAtMs < b.expiresAtMs ? -1 : 1;
  if (a.value === null || b.value === null) {
    return a.value === b.value ? 0 : a.value === null ? -1 : 1;
  }
  return Buffer.compare(a.value, b.value);
}

/** The greatest sibling by (hlc, dot), tombstones and expired ones included; LWW's answer. */
export function latestSibling(r: VersionedRecord): Sibling | undefined {
  let best: Sibling | undefined;
  for (const s of r.siblings) {
    if (best === undefined || compareSiblings(s, best) > 0) best = s;
  }
  return best;
}

/**
 * The timestamp for a new write coordinated on this node: the clock first observes every
 * sibling's timestamp, so the write orders after all of them even if this node's wall clock
 * lags the node that wrote them (or itself before a restart). `seen` is the timestamp carried
 * by the client's context token (`contextHlc` of the read, format 0x42): observing it too orders
 * the write after what the client read even when this node has not stored that yet.
 */
export function stampWrite(clock: HybridClock, r: VersionedRecord, physicalMs: number, seen: Hlc | null = null): Hlc {
  for (const s of r.siblings) clock.observe(s.hlc, physicalMs);
  if (seen !== null) clock.observe(seen, physicalMs);
  return clock.now(physicalMs);
}

/** The greatest timestamp among a record's siblings (null when it has none): what a read's token carries. */
export function contextHlc(r: VersionedRecord): Hlc | null {
  return latestSibling(r)?.hlc ?? null;
}

/**
 * Applies a write coordinated by `replica` to that replica's current record `r`, given the
 * causal context `ctx` the client supplied (empty when it supplied none). Returns the new
 * record; `r` is unchanged. The new sibling's dot is the return value's
 * `siblings` entry with node `replica` and counter `counterOf(result.context, replica)`.
 *
 * Throws RingkvError('ERR_TOO_MANY_SIBLINGS') in siblings mode when the write would leave more
 * than `siblingsMax` siblings; RangeError on misuse (bad options, or in lww mode a write
 * not stamped past the record's timestamps).
 */
export function applyWrite(
  r: VersionedRecord,
  ctx: Context,
  write: Write,
  replica: NodeId,
  opts: WriteOptions,
): VersionedRecord {
  if (!Number.isSafeInteger(opts.siblingsMax) || opts.siblingsMax < 1) {
    throw new RangeError(`siblingsMax must be a positive integer, got ${opts.siblingsMax}`);
  }
  if (!Number.isSafeInteger(write.expiresAtMs) || write.expiresAtMs < 0) {
    throw new RangeError(`expiresAtMs must be a non-negative safe integer, got ${write.expiresAtMs}`);
  }
  const counter = Math.max(counterOf(r.context, replica), counterOf(ctx, replica)) + 1;
  if (!Number.isSafeInteger(counter)) throw new RangeError('dot counter overflow');
  const dot: Dot = { node: replica, counter };
  const fresh: Sibling = { dot, value: write.value, expiresAtMs: write.expiresAtMs, hlc: write.hlc };
  const context = withCounter(joinVv(r.context, ctx), replica, counter);

  switch (opts.mode) {
    case 'lww': {
      for (const s of r.siblings) {
        if (compareHlc(write.hlc, s.hlc) <= 0) {
          throw new RangeError('lww write must be stamped after the record it replaces (use stampWrite)');
        }
      }
      return { context, siblings: [fresh] };
    }
    case 'siblings': {
      const siblings: Sibling[] = [];
      let inserted = false;
      for (const s of r.siblings) {
        if (covers(ctx, s.dot)) continue; // the client saw it: superseded
        if (!inserted && compareDots(fresh.dot, s.dot) < 0) {
          siblings.push(fresh);
          inserted = true;
        }
        siblings.push(s);
      }
      if (!inserted) siblings.push(fresh);
      if (siblings.length > opts.siblingsMax) {
        throw new RingkvError(
          'ERR_TOO_MANY_SIBLINGS',
          `key would hold ${siblings.length} concurrent versions (max ${opts.siblingsMax}); read it and write back with its context`,
        );
      }
      return { context, siblings };
    }
    default: {
      const never: never = opts.mode;
      throw new RangeError(`unknown conflict mode ${String(never)}`);
    }
  }
}

/**
 * Joins two replicas' records of the same key (replication, read repair, anti-entropy).
 * Commutative, associative, idempotent. Never refused and never bounded (see header).
 */
export function merge(a: VersionedRecord, b: VersionedRecord, mode: ConflictMode): VersionedRecord {
  if (a === b) return a;
  const context = joinVv(a.context, b.context);
  switch (mode) {
    case 'lww': {
      let best: Sibling | undefined;
      for (const s of a.siblings) if (best === undefined || compareSiblings(s, best) > 0) best = s;
      for (const s of b.siblings) if (best === undefined || compareSiblings(s, best) > 0) best = s;
      return { context, siblings: best === undefined ? [] : [best] };
    }
    case 'siblings': {
      // Keep a sibling if both sides have it, or if the other side has not seen its dot.
      // A dot seen by the other side but absent there was superseded there.
      const siblings: Sibling[] = [];
      const as = a.siblings;
      const bs = b.siblings;
      let i = 0;
      let j = 0;
      while (i < as.length || j < bs.length) {
        const x = as[i];
        const y = bs[j];
        const c = x === undefined ? 1 : y === undefined ? -1 : compareDots(x.dot, y.dot);
        if (c === 0) {
          const xs = x as Sibling;
          const ys = y as Sibling;
          siblings.push(compareSiblings(xs, ys) >= 0 ? xs : ys);
          i++;
          j++;
        } else if (c < 0) {
          const xs = x as Sibling;
          if (!covers(b.context, xs.dot)) siblings.push(xs);
          i++;
        } else {
          const ys = y as Sibling;
          if (!covers(a.context, ys.dot)) siblings.push(ys);
          j++;
        }
      }
      return { context, siblings };
    }
    default: {
      const never: never = mode;
      throw new RangeError(`unknown conflict mode ${String(never)}`);
    }
  }
}

function equalSibling(a: Sibling, b: Sibling): boolean {
  return compareSiblings(a, b) === 0 && a.hlc.node === b.hlc.node;
}

/** Structural equality (equal records also encode to equal bytes). */
export function equalRecords(a: VersionedRecord, b: VersionedRecord): boolean {
  if (a === b) return true;
  if (a.siblings.length !== b.siblings.length || a.context.length !== b.context.length) return false;
  for (let i = 0; i < a.context.length; i++) {
    const x = a.context[i];
    const y = b.context[i];
    if (x === undefined || y === undefined || x.node !== y.node || x.counter !== y.counter) return false;
  }
  for (let i = 0; i < a.siblings.length; i++) {
    const x = a.siblings[i];
    const y = b.siblings[i];
    if (x === undefined || y === undefined || !equalSibling(x, y)) return false;
  }
  return true;
}

/** Record invariants (see header). For `invariants()` in the node and for tests. */
export function assertRecord(r: VersionedRecord, mode?: ConflictMode): void {
  assertVersionVector(r.context);
  if (mode === 'lww' && r.siblings.length > 1) throw new Error('lww record holds more than one sibling');
  for (let i = 0; i < r.siblings.length; i++) {
    const s = r.siblings[i] as Sibling;
    if (!Number.isSafeInteger(s.dot.counter) || s.dot.counter < 1) throw new Error(`sibling ${i} has a bad dot`);
    if (!covers(r.context, s.dot)) throw new Error(`sibling ${i} dot is not covered by the record context`);
    const prev = r.siblings[i - 1];
    if (prev !== undefined && compareDots(prev.dot, s.dot) >= 0) throw new Error('siblings are not strictly sorted by dot');
    if (s.value !== null && !(s.value instanceof Uint8Array)) throw new Error(`sibling ${i} value is not bytes`);
    if (!Number.isSafeInteger(s.expiresAtMs) || s.expiresAtMs < 0) throw new Error(`sibling ${i} has a bad expiry`);
    if (!Number.isSafeInteger(s.hlc.wallMs) || s.hlc.wallMs < 0 || !Number.isSafeInteger(s.hlc.logical) || s.hlc.logical < 0) {
      throw new Error(`sibling ${i} has a bad hlc`);
    }
  }
}
