/**
 * The coordinator's narrow view of versioning: everything it does to records and contexts goes
 * through this interface, bound once to a conflict mode, a sibling bound and the node's clock.
 * Keeping the surface this small is what lets the coordinator ignore the record's shape.
 *
 * Laws it relies on (versioning states and tests them): merge is commutative, associative and
 * idempotent; `equal(a, b)` iff `encode(a)` equals `encode(b)`; `decode`/`decodeContext` throw a
 * RingkvError on garbage and never return an invalid value; `write` throws
 * ERR_TOO_MANY_SIBLINGS instead of growing a record past the bound.
 */
import type { NodeId } from '../types.js';
import type { ValueVersion } from '../messages.js';
import {
  HybridClock, applyWrite, assertRecord, contextOf, counterOf, decodeContext, decodeRecord, emptyRecord, encodeContext, encodeRecord,
  equalRecords, isEmptyRecord, liveValues, merge, stampWrite, withCounter, EMPTY_VV, COUNTER_MAX, type ConflictMode, type Context,
  type VersionedRecord,
} from '../versioning/index.js';

export type Rec = VersionedRecord;
export type Ctx = Context;

export interface Versions {
  empty(): Rec;
  emptyContext(): Ctx;
  decode(bytes: Buffer): Rec;
  encode(r: Rec): Buffer;
  decodeContext(bytes: Buffer): Ctx;
  encodeContext(c: Ctx): Buffer;
  contextOf(r: Rec): Ctx;
  /** Applies a write coordinated by this node, stamping it with the node's clock. */
  write(r: Rec, ctx: Ctx, value: Buffer | null, expiresAtMs: number, nowMs: number): Rec;
  merge(a: Rec, b: Rec): Rec;
  equal(a: Rec, b: Rec): boolean;
  live(r: Rec, nowMs: number): ValueVersion[];
  siblingCount(r: Rec): number;
  assertValid(r: Rec): void;
}

/** Dot counters per ms of wall clock in `counterFloorOnAbsent` (room for 16 writes per ms per key). */
const COUNTERS_PER_MS = 16;

/**
 * `counterFloorOnAbsent` (nodes that purge tombstones): a write coordinated on a key this node
 * holds no record of starts its dot counter at its clock (wall ms x 16) instead of at 1. A purge
 * forgets the key's counters, and a new dot reusing an old counter would be taken as already
 * seen (and dropped) by a replica still holding the old tombstone's context, or by a client
 * context read before the delete. No live sibling of this node's older dots can exist when it
 * holds no record (its own dots are stored here, synced, before anyone else sees them; a purge
 * removes only dead records), so covering them costs nothing. Valid while the key's write rate
 * stays under 16 per ms on average and the clock is not set back by more than the tombstone
 * grace; counters stay below COUNTER_MAX until the year ~2500.
 */
export function bindVersions(opts: { self: NodeId; mode: ConflictMode; siblingsMax: number; counterFloorOnAbsent?: boolean }): Versions {
  const clock = new HybridClock(opts.self);
  const writeOpts = { mode: opts.mode, siblingsMax: opts.siblingsMax };
  return {
    empty: emptyRecord,
    emptyContext: () => EMPTY_VV,
    decode: decodeRecord,
    encode: encodeRecord,
    decodeContext,
    encodeContext,
    contextOf,
    write(r, ctx, value, expiresAtMs, nowMs) {
      // HLC needs a non-negative integer; skewed simulated clocks are integers already.
      const hlc = stampWrite(clock, r, Math.max(0, Math.floor(nowMs)));
      let c = ctx;
      if (opts.counterFloorOnAbsent === true && isEmptyRecord(r)) {
        const floor = Math.min(COUNTER_MAX - 1, hlc.wallMs * COUNTERS_PER_MS);
        if (floor > counterOf(c, opts.self)) c = withCounter(c, opts.self, floor);
      }
      return applyWrite(r, c, { value, expiresAtMs, hlc }, opts.self, writeOpts);
    },
    merge: (a, b) => merge(a, b, opts.mode),
    equal: equalRecords,
    live: (r, nowMs) => liveValues(r, nowMs).map((s) => ({ value: s.value, expiresAtMs: s.expiresAtMs })),
    siblingCount: (r) => r.siblings.length,
    assertValid: (r) => assertRecord(r, opts.mode),
  };
}
