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
  HybridClock, applyWrite, assertRecord, contextOf, decodeContext, decodeRecord, emptyRecord, encodeContext, encodeRecord,
  equalRecords, liveValues, merge, stampWrite, EMPTY_VV, type ConflictMode, type Context, type VersionedRecord,
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

export function bindVersions(opts: { self: NodeId; mode: ConflictMode; siblingsMax: number }): Versions {
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
      return applyWrite(r, ctx, { value, expiresAtMs, hlc }, opts.self, writeOpts);
    },
    merge: (a, b) => merge(a, b, opts.mode),
    equal: equalRecords,
    live: (r, nowMs) => liveValues(r, nowMs).map((s) => ({ value: s.value, expiresAtMs: s.expiresAtMs })),
    siblingCount: (r) => r.siblings.length,
    assertValid: (r) => assertRecord(r, opts.mode),
  };
}
