import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CheckResult } from '../history.js';
import { HistoryBuilder } from './history-builder.js';
import {
  checkNoLostWrites,
  checkNoPhantomReads,
  checkReadYourWrites,
  checkSiblingBound,
  checkSupersededStayGone,
  runCheckers,
} from './index.js';

function passes(r: CheckResult): void {
  assert.equal(r.applicable, true, `${r.name}: expected applicable`);
  assert.deepEqual(r.violations, [], r.name);
  assert.equal(r.ok, true);
}
function fails(r: CheckResult, pattern: RegExp): void {
  assert.equal(r.ok, false, `${r.name}: expected a violation`);
  assert.ok(r.violations.some((v) => pattern.test(v)), `${r.name}: no violation matches ${pattern}: ${JSON.stringify(r.violations)}`);
}
function notApplicable(r: CheckResult): void {
  assert.equal(r.applicable, false);
  assert.equal(r.ok, true);
}

// ---- no lost writes ----------------------------------------------------------------------

test('no-lost-writes: passes when every acked put is in the final read or superseded by a write that may have happened', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  const g = b.get(['a'], { at: [20, 30] });
  b.put('b', { at: [40, 50], ctx: g, outcome: 'unknown' }); // supersedes a, may have happened
  b.put('c', { at: [60, 70] });
  b.put('d', { at: [80, 90], outcome: 'unknown' }); // not acked: may be missing
  b.final('k', ['b', 'c']);
  passes(checkNoLostWrites(b.h));
});

test('no-lost-writes: fails when an acked put is missing from the final read and nothing superseded it', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  b.put('b', { at: [20, 30] });
  b.final('k', ['b']);
  fails(checkNoLostWrites(b.h), /op 0 .*missing from the final read/);
});

test('no-lost-writes: a write that failed (did not happen) does not excuse a missing value', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  const g = b.get(['a'], { at: [20, 30] });
  b.del({ at: [40, 50], ctx: g, outcome: 'fail' });
  b.final('k', []);
  fails(checkNoLostWrites(b.h), /value a is missing/);
});

test('no-lost-writes: a superseding write of unknown outcome that the final state does not show excuses nothing', () => {
  // Either b happened (then b must be visible) or it did not (then a must be): [] is a loss.
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], q: 3 });
  const g = b.get(['a'], { at: [20, 30] });
  b.put('b', { at: [40, 50], ctx: g, outcome: 'unknown' });
  b.final('k', []);
  fails(checkNoLostWrites(b.h), /value a is missing .*superseders \(ops 2\) are not accounted for/);

  const shown = new HistoryBuilder();
  shown.put('a', { at: [0, 10], q: 3 });
  const g2 = shown.get(['a'], { at: [20, 30] });
  shown.put('b', { at: [40, 50], ctx: g2, outcome: 'unknown' });
  shown.final('k', ['b']);
  passes(checkNoLostWrites(shown.h));
});

test('no-lost-writes: an unknown superseder is accounted for through a later accounted superseder', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  const g = b.get(['a'], { at: [20, 30] });
  b.put('b', { at: [40, 50], ctx: g, outcome: 'unknown' });
  const g2 = b.get(['b'], { at: [60, 70] });
  b.put('c', { at: [80, 90], ctx: g2, outcome: 'unknown' });
  b.final('k', ['c']);
  passes(checkNoLostWrites(b.h));

  const lost = new HistoryBuilder();
  lost.put('a', { at: [0, 10] });
  const h1 = lost.get(['a'], { at: [20, 30] });
  lost.put('b', { at: [40, 50], ctx: h1, outcome: 'unknown' });
  const h2 = lost.get(['b'], { at: [60, 70] });
  lost.put('c', { at: [80, 90], ctx: h2, outcome: 'unknown' });
  lost.final('k', []);
  fails(checkNoLostWrites(lost.h), /value a is missing/);
});

test('no-lost-writes: a delete accounts for what it superseded unless the final read contradicts it', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  const g = b.get(['a'], { at: [20, 30] });
  b.del({ at: [40, 50], ctx: g, outcome: 'unknown' }); // a tombstone is invisible: [] is consistent
  b.final('k', []);
  passes(checkNoLostWrites(b.h));

  const contradicted = new HistoryBuilder();
  contradicted.put('a', { at: [0, 10] });
  contradicted.put('x', { at: [0, 10], client: 1 });
  const g2 = contradicted.get(['a', 'x'], { at: [20, 30] });
  contradicted.del({ at: [40, 50], ctx: g2, outcome: 'unknown' });
  contradicted.final('k', ['x']); // x survived, so the delete did not happen and a is lost
  fails(checkNoLostWrites(contradicted.h), /value a is missing/);
});

test('no-lost-writes: fails when the final phase did not read a key an acked put wrote', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], key: 'x' });
  b.put('b', { at: [0, 10], key: 'y' });
  b.final('y', ['b']);
  fails(checkNoLostWrites(b.h), /did not read key x/);
});

test('no-lost-writes: not applicable in lww mode or before the final phase ran', () => {
  const lww = new HistoryBuilder({ mode: 'lww' });
  lww.put('a', { at: [0, 10] });
  lww.final('k', []);
  notApplicable(checkNoLostWrites(lww.h));
  const unfinished = new HistoryBuilder();
  unfinished.put('a', { at: [0, 10] });
  notApplicable(checkNoLostWrites(unfinished.h));
});

// ---- no phantom reads --------------------------------------------------------------------

test('no-phantom-reads: passes for values written by puts that may have happened, including one still in flight', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  b.put('b', { at: [25, 60], outcome: 'unknown' });
  b.get(['a', 'b'], { at: [20, 30] }); // b was invoked before this read completed
  b.final('k', ['a', 'b']);
  passes(checkNoPhantomReads(b.h));
});

test('no-phantom-reads: fails on a value no put wrote, even in the final read', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  b.get(['a', 'zz'], { at: [20, 30] });
  b.final('k', ['a', 'yy']);
  const r = checkNoPhantomReads(b.h);
  fails(r, /k=zz, a value no put wrote/);
  fails(r, /final read of k: .*k=yy/);
});

test('no-phantom-reads: fails on a value written to another key, by a failed put, or before its put was invoked', () => {
  const b = new HistoryBuilder();
  b.put('x1', { at: [0, 10], key: 'x' });
  b.put('f', { at: [0, 10], outcome: 'fail' });
  b.get(['x1'], { at: [20, 30] });
  b.get(['f'], { at: [20, 30] });
  b.get(['late'], { at: [40, 50] });
  b.put('late', { at: [60, 70] });
  const r = checkNoPhantomReads(b.h);
  fails(r, /which .* wrote to another key/);
  fails(r, /which failed/);
  fails(r, /before op 5 .* was invoked/);
});

test('no-phantom-reads: fails when one read returns the same value twice', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  b.get(['a', 'a'], { at: [20, 30] });
  fails(checkNoPhantomReads(b.h), /returned a twice/);
});

// ---- read your writes --------------------------------------------------------------------

test('read-your-writes: passes when the client reads its own acked value at R + W > N', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], client: 1 });
  b.put('o', { at: [5, 15], client: 2 });
  b.get(['a', 'o'], { at: [20, 30], client: 1 });
  passes(checkReadYourWrites(b.h));
});

test('read-your-writes: fails when a quorum read after the ack misses the client own value', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], client: 1, q: 2 });
  b.get([], { at: [20, 30], client: 1, q: 2 });
  fails(checkReadYourWrites(b.h), /without the client's own acknowledged op 0/);
});

test('read-your-writes: every acked put counts, not only the latest (siblings mode)', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], client: 1 });
  b.put('b', { at: [20, 30], client: 1 });
  b.get(['b'], { at: [40, 50], client: 1 });
  fails(checkReadYourWrites(b.h), /own acknowledged op 0 .*put k=a/);
});

test('read-your-writes: a supersession counts only if the superseding write was invoked before the read completed', () => {
  const ok = new HistoryBuilder();
  ok.put('a', { at: [0, 10], client: 1 });
  const g = ok.get(['a'], { at: [12, 14], client: 2 });
  ok.put('b', { at: [15, 40], client: 2, ctx: g });
  ok.get(['b'], { at: [20, 30], client: 1 });
  passes(checkReadYourWrites(ok.h));

  const bad = new HistoryBuilder();
  bad.put('a', { at: [0, 10], client: 1 });
  const g2 = bad.get(['a'], { at: [12, 14], client: 2 });
  bad.get([], { at: [20, 30], client: 1 });
  bad.put('b', { at: [35, 40], client: 2, ctx: g2 });
  fails(checkReadYourWrites(bad.h), /own acknowledged op 0/);
});

test('read-your-writes: a displacing write of unknown outcome counts only if the final state accounts for it', () => {
  const bad = new HistoryBuilder();
  bad.put('a', { at: [0, 10], client: 1, q: 3 });
  const g = bad.get(['a'], { at: [12, 14], client: 2 });
  bad.put('b', { at: [15, 40], client: 2, ctx: g, outcome: 'unknown' });
  bad.get([], { at: [20, 30], client: 1 });
  bad.final('k', []);
  fails(checkReadYourWrites(bad.h), /own acknowledged op 0/);

  const ok = new HistoryBuilder();
  ok.put('a', { at: [0, 10], client: 1, q: 3 });
  const g2 = ok.get(['a'], { at: [12, 14], client: 2 });
  ok.put('b', { at: [15, 40], client: 2, ctx: g2, outcome: 'unknown' });
  ok.get([], { at: [20, 30], client: 1 });
  ok.final('k', ['b']);
  passes(checkReadYourWrites(ok.h));
});

test('read-your-writes: pairs with R + W <= N are not checked; a history of only those is not applicable', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], client: 1, q: 1 });
  b.get([], { at: [20, 30], client: 1, q: 1 });
  notApplicable(checkReadYourWrites(b.h));
});

test('read-your-writes (lww): another write shown by the read excuses; an empty read needs a delete', () => {
  const ok = new HistoryBuilder({ mode: 'lww' });
  ok.put('a', { at: [0, 10], client: 1 });
  ok.put('o', { at: [12, 18], client: 2 });
  ok.get(['o'], { at: [20, 30], client: 1 });
  ok.del({ at: [25, 35], client: 3 });
  ok.get([], { at: [40, 50], client: 1 });
  passes(checkReadYourWrites(ok.h));

  const bad = new HistoryBuilder({ mode: 'lww' });
  bad.put('a', { at: [0, 10], client: 1 });
  bad.put('o', { at: [12, 18], client: 2 });
  bad.get([], { at: [20, 30], client: 1 });
  fails(checkReadYourWrites(bad.h), /returned \[\] without the client's own/);
});

// ---- sibling bound -----------------------------------------------------------------------

test('sibling-bound: passes up to siblingsMax x N values (merges may exceed siblingsMax)', () => {
  const b = new HistoryBuilder({ siblingsMax: 2, replicationFactor: 3 });
  const vals = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const v of vals) b.put(v, { at: [0, 10] });
  b.get(vals, { at: [20, 30] });
  b.final('k', vals, 6);
  passes(checkSiblingBound(b.h));
});

test('sibling-bound: fails past siblingsMax x N values, or past it in the final record with tombstones', () => {
  const b = new HistoryBuilder({ siblingsMax: 2, replicationFactor: 3 });
  const vals = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  for (const v of vals) b.put(v, { at: [0, 10] });
  b.get(vals, { at: [20, 30] });
  b.final('k', vals.slice(0, 5), 9);
  const r = checkSiblingBound(b.h);
  fails(r, /returned 7 values > bound 6/);
  fails(r, /holds 9 siblings > bound 6/);
});

test('sibling-bound: lww never shows more than one value, and a record never holds fewer siblings than values read', () => {
  const b = new HistoryBuilder({ mode: 'lww' });
  b.put('a', { at: [0, 10] });
  b.put('b', { at: [0, 10] });
  b.get(['a', 'b'], { at: [20, 30] });
  b.final('k', ['a'], 0);
  const r = checkSiblingBound(b.h);
  fails(r, /returned 2 values > bound 1/);
  fails(r, /holds 0 siblings but the read returned 1/);
});

// ---- superseded values stay gone / collapse ----------------------------------------------

test('stay-gone: a quiet read-modify-write collapses siblings to exactly the new value', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], client: 1 });
  b.put('b', { at: [0, 10], client: 2 });
  const g0 = b.get(['a', 'b'], { at: [20, 30], client: 3 });
  b.put('c', { at: [40, 50], client: 3, ctx: g0 });
  b.get(['c'], { at: [60, 70], client: 4 });
  b.final('k', ['c']);
  passes(checkSupersededStayGone(b.h));
});

test('stay-gone: fails when a quorum read after the ack returns a value the write superseded', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], client: 1 });
  b.put('b', { at: [0, 10], client: 2 });
  const g0 = b.get(['a', 'b'], { at: [20, 30], client: 3 });
  b.put('c', { at: [40, 50], client: 3, ctx: g0 });
  b.put('d', { at: [55, 65], client: 5 }); // concurrent: the window is not quiet
  b.get(['a', 'c', 'd'], { at: [60, 70], client: 4 });
  fails(checkSupersededStayGone(b.h), /returned \[a\], superseded by acknowledged op 3/);
});

test('stay-gone: a put acknowledged before the context read (quorums intersecting) is superseded even if that read did not return it', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], client: 1 });
  const g0 = b.get([], { at: [20, 30], client: 3 }); // a bug already, but the point is the next read
  b.del({ at: [40, 50], client: 3, ctx: g0 });
  b.get(['a'], { at: [60, 70], client: 4 });
  fails(checkSupersededStayGone(b.h), /returned \[a\], superseded by acknowledged op 2/);
});

test('stay-gone: supersession is transitive: what a superseded write had superseded stays gone too', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10], q: 1 });
  const ga = b.get(['a'], { at: [20, 30], q: 1 });
  b.put('b', { at: [40, 50], ctx: ga, q: 1 });
  const g0 = b.get(['b'], { at: [60, 70], q: 1 });
  b.put('c', { at: [80, 90], ctx: g0, q: 3 });
  b.get(['a', 'c'], { at: [100, 110], client: 4, q: 1 });
  const r = checkSupersededStayGone(b.h);
  fails(r, /returned \[a\], superseded by acknowledged op 4/);
  // a and b were superseded, so the window is quiet: exactly [c] was expected.
  fails(r, /expected exactly \[c\]/);
});

test('stay-gone: fails when a quiet read after a read-modify-write returns nothing or extra siblings', () => {
  const lost = new HistoryBuilder();
  lost.put('a', { at: [0, 10] });
  const g0 = lost.get(['a'], { at: [20, 30] });
  lost.put('c', { at: [40, 50], ctx: g0 });
  lost.get([], { at: [60, 70], client: 4 });
  fails(checkSupersededStayGone(lost.h), /expected exactly \[c\]/);

  const extra = new HistoryBuilder();
  extra.put('a', { at: [0, 10] });
  const g1 = extra.get(['a'], { at: [20, 30] });
  extra.put('x', { at: [5, 8], outcome: 'fail' }); // did not happen: window stays quiet
  extra.put('c', { at: [40, 50], ctx: g1 });
  extra.get(['c', 'x'], { at: [60, 70], client: 4 });
  fails(checkSupersededStayGone(extra.h), /expected exactly \[c\]/);
});

test('stay-gone: reads whose quorum does not intersect the write are not judged; concurrent writes may show', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  const g0 = b.get(['a'], { at: [20, 30] });
  b.put('c', { at: [40, 50], ctx: g0, q: 1 });
  b.get(['a'], { at: [60, 70], client: 4, q: 1 }); // W=1 + R=1 <= 3: stale is allowed
  b.put('d', { at: [55, 58], client: 5 });
  b.get(['c', 'd'], { at: [60, 70], client: 4, q: 3 });
  passes(checkSupersededStayGone(b.h));
});

test('stay-gone: the final read must not resurrect what a write known to have happened superseded', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  const g0 = b.get(['a'], { at: [20, 30] });
  b.put('c', { at: [40, 50], ctx: g0, outcome: 'unknown' }); // happened: its value was seen
  b.get(['c'], { at: [60, 70] });
  b.final('k', ['a', 'c']);
  fails(checkSupersededStayGone(b.h), /final read of k returned \[a\], superseded by op 2/);

  const failed = new HistoryBuilder();
  failed.put('a', { at: [0, 10] });
  const g1 = failed.get(['a'], { at: [20, 30] });
  failed.del({ at: [40, 50], ctx: g1, outcome: 'fail' });
  failed.final('k', ['a']);
  assert.deepEqual(checkSupersededStayGone(failed.h).violations, [], 'a failed delete supersedes nothing');
});

test('stay-gone: not applicable in lww mode', () => {
  const b = new HistoryBuilder({ mode: 'lww' });
  b.put('a', { at: [0, 10] });
  notApplicable(checkSupersededStayGone(b.h));
});

test('runCheckers: runs every checker and names each result', () => {
  const b = new HistoryBuilder();
  b.put('a', { at: [0, 10] });
  b.get(['a'], { at: [20, 30] });
  b.final('k', ['a']);
  const results = runCheckers(b.h);
  assert.equal(results.length, 5);
  assert.equal(new Set(results.map((r) => r.name)).size, 5);
  assert.ok(results.every((r) => r.ok));
});
