import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isRingkvError } from '../../src/errors/index.js';
import { nodeId, type NodeId } from '../../src/core/types.js';
import {
  applyWrite,
  assertRecord,
  compareSiblings,
  contextHlc,
  contextOf,
  emptyRecord,
  equalRecords,
  latestSibling,
  liveValues,
  merge,
  stampWrite,
  type ConflictMode,
  type Sibling,
  type VersionedRecord,
  type Write,
} from '../../src/core/versioning/dvvset.js';
import { HybridClock } from '../../src/core/versioning/hlc.js';
import { compareDots, covers, descends, EMPTY_VV, equalVv, joinVv, type Dot, type VersionVector } from '../../src/core/versioning/version-vector.js';
import { arbInconsistentRecord, arbLwwRecord, arbRecord, NODES } from './versioning-arbitraries.js';

const A = nodeId('a');
const B = nodeId('b');
const C = nodeId('c');
const SIB = { mode: 'siblings', siblingsMax: 100 } as const;
const LWW = { mode: 'lww', siblingsMax: 100 } as const;

function w(value: string | null, wallMs: number, node: NodeId, expiresAtMs = 0): Write {
  return { value: value === null ? null : Buffer.from(value), expiresAtMs, hlc: { wallMs, logical: 0, node } };
}
const values = (r: VersionedRecord, nowMs = 0): string[] => liveValues(r, nowMs).map((s) => s.value.toString());
const eq = (x: VersionedRecord, y: VersionedRecord): void => assert.ok(equalRecords(x, y), `${JSON.stringify(x)}\n!=\n${JSON.stringify(y)}`);

for (const [label, arb] of [
  ['siblings', arbRecord],
  ['siblings (inconsistent dot contents)', arbInconsistentRecord],
] as const) {
  test(`merge laws (${label}): commutative, associative, idempotent`, () => {
    fc.assert(
      fc.property(arb, arb, arb, (x, y, z) => {
        eq(merge(x, y, 'siblings'), merge(y, x, 'siblings'));
        eq(merge(merge(x, y, 'siblings'), z, 'siblings'), merge(x, merge(y, z, 'siblings'), 'siblings'));
        eq(merge(x, x, 'siblings'), x);
        assertRecord(merge(x, y, 'siblings'));
      }),
      { numRuns: 400 },
    );
  });
}

test('merge laws (lww): commutative, associative, idempotent, at most one sibling', () => {
  fc.assert(
    fc.property(fc.oneof(arbLwwRecord, arbRecord), fc.oneof(arbLwwRecord, arbRecord), arbLwwRecord, (x, y, z) => {
      eq(merge(x, y, 'lww'), merge(y, x, 'lww'));
      eq(merge(merge(x, y, 'lww'), z, 'lww'), merge(x, merge(y, z, 'lww'), 'lww'));
      const xx = merge(x, x, 'lww');
      eq(merge(xx, xx, 'lww'), xx);
      assertRecord(merge(x, y, 'lww'), 'lww');
    }),
    { numRuns: 400 },
  );
});

test('merge never loses a sibling whose dot the other side has not seen, and joins the contexts', () => {
  fc.assert(
    fc.property(arbRecord, arbRecord, (x, y) => {
      const m = merge(x, y, 'siblings');
      assert.ok(equalVv(m.context, joinVv(x.context, y.context)));
      for (const [self, other] of [[x, y], [y, x]] as const) {
        for (const s of self.siblings) {
          const kept = m.siblings.some((t) => compareDots(t.dot, s.dot) === 0);
          const seenElsewhere = covers(other.context, s.dot) && !other.siblings.some((t) => compareDots(t.dot, s.dot) === 0);
          assert.equal(kept, !seenElsewhere, `dot ${s.dot.node}${s.dot.counter}`);
        }
      }
    }),
    { numRuns: 400 },
  );
});

test('update with the full context of a read replaces every sibling that read returned', () => {
  fc.assert(
    fc.property(arbRecord, fc.constantFrom(...NODES), (r, replica) => {
      const out = applyWrite(r, contextOf(r), w('new', 10_000, replica), replica, SIB);
      assert.equal(out.siblings.length, 1);
      assert.deepEqual(values(out), ['new']);
      assert.ok(descends(out.context, r.context));
      assertRecord(out);
    }),
  );
});

test('update with an empty context adds a sibling next to every existing one', () => {
  fc.assert(
    fc.property(arbRecord, fc.constantFrom(...NODES), (r, replica) => {
      const out = applyWrite(r, EMPTY_VV, w('new', 10_000, replica), replica, SIB);
      assert.equal(out.siblings.length, r.siblings.length + 1);
      for (const s of r.siblings) assert.ok(out.siblings.includes(s));
      assertRecord(out);
    }),
  );
});

test('a stale-context write supersedes what its read saw and keeps the writes concurrent with it', () => {
  // Client 1 reads v1 on a; meanwhile client 2 writes v2 through b; both reach a; then client 1
  // writes v3 with the context of its (stale) read.
  const r1 = applyWrite(emptyRecord(), EMPTY_VV, w('v1', 1, A), A, SIB);
  const readCtx = contextOf(r1);
  const onB = applyWrite(merge(emptyRecord(), r1, 'siblings'), EMPTY_VV, w('v2', 2, B), B, SIB);
  const onA = merge(r1, onB, 'siblings');
  assert.deepEqual(values(onA).sort(), ['v1', 'v2']);
  const after = applyWrite(onA, readCtx, w('v3', 3, A), A, SIB);
  assert.deepEqual(values(after).sort(), ['v2', 'v3']);
  // And the replica that missed v3's write converges on merge without resurrecting v1.
  assert.deepEqual(values(merge(onB, after, 'siblings')).sort(), ['v2', 'v3']);
});

test('concurrent writes on different replicas become siblings; a read-modify-write collapses them to one', () => {
  const onA = applyWrite(emptyRecord(), EMPTY_VV, w('x', 1, A), A, SIB);
  const onB = applyWrite(emptyRecord(), EMPTY_VV, w('y', 1, B), B, SIB);
  const onC = applyWrite(emptyRecord(), EMPTY_VV, w('z', 1, C), C, SIB);
  const read = merge(merge(onA, onB, 'siblings'), onC, 'siblings');
  assert.deepEqual(values(read), ['x', 'y', 'z']);
  const resolved = applyWrite(onB, contextOf(read), w('xyz', 2, B), B, SIB);
  for (const replica of [onA, onB, onC, read]) {
    assert.deepEqual(values(merge(replica, resolved, 'siblings')), ['xyz']);
  }
});

test('a delete with context leaves one tombstone that hides the value on every replica it reaches', () => {
  const r = applyWrite(emptyRecord(), EMPTY_VV, w('v', 1, A), A, SIB);
  const del = applyWrite(r, contextOf(r), w(null, 2, B), B, SIB);
  assert.equal(del.siblings.length, 1);
  assert.equal(del.siblings[0]?.value, null);
  assert.deepEqual(values(del), []);
  assert.deepEqual(values(merge(r, del, 'siblings')), [], 'a replica still holding v does not resurrect it');
  // A write concurrent with the delete (it did not see it) survives it.
  const concurrent = applyWrite(r, EMPTY_VV, w('w', 3, C), C, SIB);
  assert.deepEqual(values(merge(del, concurrent, 'siblings')), ['w']);
});

test('expiry: a sibling is live up to and including expiresAtMs and gone after it, on every replica', () => {
  const r = applyWrite(emptyRecord(), EMPTY_VV, w('v', 1, A, 5000), A, SIB);
  assert.deepEqual(values(r, 4999), ['v']);
  assert.deepEqual(values(r, 5000), ['v']);
  assert.deepEqual(values(r, 5001), []);
  const replica = merge(emptyRecord(), r, 'siblings');
  assert.equal(replica.siblings[0]?.expiresAtMs, 5000);
  assert.throws(() => applyWrite(r, EMPTY_VV, w('v', 1, A, -1), A, SIB), RangeError);
});

test('sibling bound: a context-less write past siblingsMax is refused with ERR_TOO_MANY_SIBLINGS', () => {
  const opts = { mode: 'siblings', siblingsMax: 3 } as const;
  let r = emptyRecord();
  for (let i = 0; i < 3; i++) r = applyWrite(r, EMPTY_VV, w(`v${i}`, i, A), A, opts);
  assert.equal(r.siblings.length, 3);
  assert.throws(
    () => applyWrite(r, EMPTY_VV, w('v3', 9, A), A, opts),
    (e: unknown) => isRingkvError(e) && e.code === 'ERR_TOO_MANY_SIBLINGS' && e.toRespLine().startsWith('SIBLINGS '),
  );
  // A stale context that supersedes nothing present also grows the list: refused.
  assert.throws(() => applyWrite(r, [{ node: B, counter: 1 }], w('v3', 9, A), A, opts), (e: unknown) => isRingkvError(e) && e.code === 'ERR_TOO_MANY_SIBLINGS');
  // A write with a context that supersedes one sibling keeps the count at the bound: allowed.
  const partial = applyWrite(r, [{ node: A, counter: 1 }], w('p', 9, A), A, opts);
  assert.equal(partial.siblings.length, 3);
  assert.equal(r.siblings.length, 3, 'the refused writes left the record unchanged');
  // Full context collapses to one.
  assert.equal(applyWrite(r, contextOf(r), w('all', 9, A), A, opts).siblings.length, 1);
});

test('sibling bound: merges from replication are never refused and keep every version past the bound', () => {
  const opts = { mode: 'siblings', siblingsMax: 2 } as const;
  const parts = NODES.map((n, i) => applyWrite(emptyRecord(), EMPTY_VV, w(`v${i}`, i, n), n, opts));
  const merged = parts.reduce((acc, p) => merge(acc, p, 'siblings'), emptyRecord());
  assert.equal(merged.siblings.length, 4, 'past the bound of 2, nothing was dropped');
  // Over the bound, a write that would still leave more than siblingsMax is refused (even if it
  // supersedes some); one with the context of a full read resolves.
  assert.throws(() => applyWrite(merged, EMPTY_VV, w('x', 9, A), A, opts), (e: unknown) => isRingkvError(e) && e.code === 'ERR_TOO_MANY_SIBLINGS');
  assert.throws(() => applyWrite(merged, [{ node: A, counter: 1 }], w('x', 9, A), A, opts), (e: unknown) => isRingkvError(e) && e.code === 'ERR_TOO_MANY_SIBLINGS');
  const resolved = applyWrite(merged, contextOf(merged), w('x', 9, A), A, opts);
  assert.deepEqual(values(resolved), ['x']);
});

test('lww: the write with the greatest timestamp wins on every replica regardless of merge order', () => {
  const onA = applyWrite(emptyRecord(), EMPTY_VV, w('old', 100, A), A, LWW);
  const onB = applyWrite(emptyRecord(), EMPTY_VV, w('new', 200, B), B, LWW);
  assert.deepEqual(values(merge(onA, onB, 'lww')), ['new']);
  assert.deepEqual(values(merge(onB, onA, 'lww')), ['new']);
  // Equal (wallMs, logical) on two nodes: the greater node id wins, in both orders.
  const tieA = applyWrite(emptyRecord(), EMPTY_VV, w('from-a', 300, A), A, LWW);
  const tieB = applyWrite(emptyRecord(), EMPTY_VV, w('from-b', 300, B), B, LWW);
  assert.deepEqual(values(merge(tieA, tieB, 'lww')), ['from-b']);
  assert.deepEqual(values(merge(tieB, tieA, 'lww')), ['from-b']);
});

test('lww: a node whose wall clock lags still orders its new write after the stored one (stampWrite)', () => {
  // The stored version came from a node whose clock ran an hour ahead.
  const fast = applyWrite(emptyRecord(), EMPTY_VV, w('from-the-future', 3_600_000 + 1000, B), B, LWW);
  const stored = merge(emptyRecord(), fast, 'lww');
  const lagging = new HybridClock(A);
  const hlc = stampWrite(lagging, stored, 1000);
  const next = applyWrite(stored, contextOf(stored), { value: Buffer.from('newer'), expiresAtMs: 0, hlc }, A, LWW);
  assert.deepEqual(values(next), ['newer']);
  assert.deepEqual(values(merge(fast, next, 'lww')), ['newer']);
  // Stamping without observing the record is caught as misuse instead of silently losing.
  assert.throws(() => applyWrite(stored, EMPTY_VV, w('unstamped', 1000, A), A, LWW), RangeError);
});

test('lww: a write made after reading a value orders after it on a lagging node that has not stored it, when the token carries the read timestamp', () => {
  // v1 is written on B, whose clock runs an hour ahead; a client reads it from B and writes v2
  // through A, which is behind and has not received v1 yet (say, partitioned from B).
  const onB = applyWrite(emptyRecord(), EMPTY_VV, w('v1', 3_600_000 + 1000, B), B, LWW);
  const read = onB;
  const onA = emptyRecord();
  const withToken = stampWrite(new HybridClock(A), onA, 2000, contextHlc(read));
  const v2 = applyWrite(onA, contextOf(read), { value: Buffer.from('v2'), expiresAtMs: 0, hlc: withToken }, A, LWW);
  assert.deepEqual(values(merge(onB, v2, 'lww')), ['v2']);
  // Without the timestamp the causally later write loses: the limit documented in dvvset.ts.
  const blind = stampWrite(new HybridClock(A), onA, 2000);
  const v2b = applyWrite(onA, contextOf(read), { value: Buffer.from('v2'), expiresAtMs: 0, hlc: blind }, A, LWW);
  assert.deepEqual(values(merge(onB, v2b, 'lww')), ['v1']);
  assert.equal(contextHlc(emptyRecord()), null);
});

test('lww: a delete is a tombstone that wins by timestamp like any write', () => {
  const v = applyWrite(emptyRecord(), EMPTY_VV, w('v', 100, A), A, LWW);
  const del = applyWrite(v, EMPTY_VV, w(null, 200, B), B, LWW);
  assert.deepEqual(values(merge(v, del, 'lww')), []);
  assert.equal(latestSibling(merge(del, v, 'lww'))?.value, null);
});

test('applyWrite rejects a non-positive siblingsMax as misuse', () => {
  assert.throws(() => applyWrite(emptyRecord(), EMPTY_VV, w('v', 1, A), A, { mode: 'siblings', siblingsMax: 0 }), RangeError);
});

// ---- model-based: random replicas, clients and syncs against an oracle ---------------------

type Step =
  | { kind: 'write'; at: number; ctxFrom: number; tomb: boolean }
  | { kind: 'sync'; from: number; to: number }
  | { kind: 'read'; nodes: number[] };

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), at: fc.nat(3), ctxFrom: fc.integer({ min: -1, max: 20 }), tomb: fc.boolean() }),
  fc.record({ kind: fc.constant('sync' as const), from: fc.nat(3), to: fc.nat(3) }),
  fc.record({ kind: fc.constant('read' as const), nodes: fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 4 }) }),
);

interface Known {
  sibling: Sibling;
  ctx: VersionVector;
}

function dotKey(d: Dot): string {
  return `${d.node}:${d.counter}`;
}

function runModel(mode: ConflictMode, steps: readonly Step[], skewMs: readonly number[], siblingsMax = 1000): void {
  const replicas = NODES.map((n) => ({ node: n, record: emptyRecord(), received: new Set<string>(), clock: new HybridClock(n) }));
  const writes = new Map<string, Known>();
  const contexts: VersionVector[] = [];
  let now = 1_000_000;
  for (const step of steps) {
    now += 7;
    if (step.kind === 'write') {
      const rep = replicas[step.at]!;
      const ctx = step.ctxFrom < 0 || contexts.length === 0 ? EMPTY_VV : contexts[step.ctxFrom % contexts.length]!;
      const hlc = stampWrite(rep.clock, rep.record, now + skewMs[step.at]!);
      const write: Write = { value: step.tomb ? null : Buffer.from(`w${writes.size}`), expiresAtMs: 0, hlc };
      try {
        rep.record = applyWrite(rep.record, ctx, write, rep.node, { mode, siblingsMax });
      } catch (e) {
        assert.ok(isRingkvError(e) && e.code === 'ERR_TOO_MANY_SIBLINGS' && mode === 'siblings', String(e));
        continue; // refused: did not happen
      }
      assert.ok(rep.record.siblings.length <= siblingsMax, 'a coordinated write never leaves more than siblingsMax');
      const fresh = rep.record.siblings.find((s) => s.hlc === hlc)!;
      writes.set(dotKey(fresh.dot), { sibling: fresh, ctx });
      rep.received.add(dotKey(fresh.dot));
    } else if (step.kind === 'sync') {
      const from = replicas[step.from]!;
      const to = replicas[step.to]!;
      to.record = merge(to.record, from.record, mode);
      for (const k of from.received) to.received.add(k);
      for (const s of from.record.siblings) to.clock.observe(s.hlc, now + skewMs[step.to]!);
    } else {
      const read = step.nodes.reduce((acc, i) => merge(acc, replicas[i]!.record, mode), emptyRecord());
      contexts.push(contextOf(read));
    }
    for (const rep of replicas) {
      assertRecord(rep.record, mode);
      // Per-coordinator bound (dvvset.ts header): at most siblingsMax siblings per dot node.
      for (const n of NODES) {
        assert.ok(rep.record.siblings.filter((s) => s.dot.node === n).length <= siblingsMax, `siblings from ${n} on ${rep.node}`);
      }
      const expected = oracle(mode, rep.record.context, rep.received, writes);
      assert.deepEqual(
        rep.record.siblings.map((s) => dotKey(s.dot)),
        expected.map((s) => dotKey(s.dot)),
        `replica ${rep.node} after ${JSON.stringify(step)}`,
      );
    }
  }
}

/**
 * siblings: the dots the record has seen that no write it has seen superseded.
 * lww: the greatest write (by hlc, dot) among those the record received.
 */
function oracle(mode: ConflictMode, context: VersionVector, received: Set<string>, writes: Map<string, Known>): Sibling[] {
  if (mode === 'lww') {
    let best: Sibling | undefined;
    for (const k of received) {
      const s = writes.get(k)!.sibling;
      if (best === undefined || compareSiblings(s, best) > 0) best = s;
    }
    return best === undefined ? [] : [best];
  }
  const seen = [...writes.values()].filter((k) => covers(context, k.sibling.dot));
  return seen
    .filter((k) => !seen.some((o) => covers(o.ctx, k.sibling.dot)))
    .map((k) => k.sibling)
    .sort((x, y) => compareDots(x.dot, y.dot));
}

for (const mode of ['siblings', 'lww'] as const) {
  test(`model (${mode}): random writes with read contexts and random syncs match the causal oracle on every replica`, () => {
    fc.assert(
      fc.property(
        fc.array(arbStep, { minLength: 1, maxLength: 40 }),
        fc.tuple(...NODES.map(() => fc.integer({ min: -5000, max: 5000 }))),
        (steps, skew) => runModel(mode, steps, skew),
      ),
      { numRuns: 300 },
    );
  });
}

test('model (siblings, tight bound): refusals keep siblings per coordinating node within siblingsMax in every record, merges included', () => {
  fc.assert(
    fc.property(
      fc.array(arbStep, { minLength: 1, maxLength: 60 }),
      fc.tuple(...NODES.map(() => fc.integer({ min: -50, max: 50 }))),
      fc.integer({ min: 1, max: 3 }),
      (steps, skew, max) => runModel('siblings', steps, skew, max),
    ),
    { numRuns: 300 },
  );
});

test('sibling bound regression: a write that supersedes a merged-in sibling cannot stack a second sibling from the same node past siblingsMax', () => {
  // Found by the tight-bound model against a looser rule (refuse only writes that grow the list).
  const steps: Step[] = [
    { kind: 'write', at: 0, ctxFrom: 0, tomb: false },
    { kind: 'write', at: 2, ctxFrom: 0, tomb: false },
    { kind: 'sync', from: 2, to: 0 },
    { kind: 'read', nodes: [2] },
    { kind: 'write', at: 0, ctxFrom: 0, tomb: false },
    { kind: 'sync', from: 0, to: 0 },
  ];
  runModel('siblings', steps, [0, 0, 0, 0], 1);
});
