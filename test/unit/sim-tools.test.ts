/**
 * The simulator's own parts: the PRNG is deterministic and uniform enough, the event queue runs
 * events in (time, scheduling) order, the digest notices a change, and the simple checkers
 * fail on histories that break their guarantee.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../sim/prng.js';
import { EventQueue } from '../sim/event-queue.js';
import { Digest } from '../sim/digest.js';
import { checkLwwLaterWriteWins } from '../sim/basic-checks.js';
import { checkNoLostWrites, checkNoPhantomReads, checkReadYourWrites, checkSiblingBound } from '../sim/checkers/index.js';
import { completeOp, invokeOp, newHistory, type History, type HistoryOp } from '../sim/history.js';
import { replayCommand } from '../sim/run.js';
import { nodeId } from '../../src/core/types.js';

test('sim prng: the same seed gives the same stream and different seeds differ', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const xs = Array.from({ length: 100 }, () => a.u32());
  assert.deepEqual(Array.from({ length: 100 }, () => b.u32()), xs);
  assert.notDeepEqual(Array.from({ length: 100 }, () => c.u32()), xs);
  const r = new Prng(7);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 40_000; i++) counts[r.int(4)]! += 1;
  for (const n of counts) assert.ok(n > 9_000 && n < 11_000, `bucket ${n}`);
  for (let i = 0; i < 1000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
  }
});

test('sim event queue: pops by time, and by scheduling order at equal times', () => {
  const q = new EventQueue<string>();
  q.push(5, 'c');
  q.push(1, 'a');
  q.push(5, 'd');
  q.push(3, 'b');
  q.push(5, 'e');
  const out: string[] = [];
  for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e.event);
  assert.deepEqual(out, ['a', 'b', 'c', 'd', 'e']);
  const r = new Prng(1);
  const big = new EventQueue<number>();
  for (let i = 0; i < 2000; i++) big.push(r.int(100), i);
  let last = -1;
  let lastSeq = -1;
  for (let e = big.pop(); e !== undefined; e = big.pop()) {
    assert.ok(e.atMs > last || (e.atMs === last && e.seq > lastSeq));
    last = e.atMs;
    lastSeq = e.seq;
  }
});

test('sim digest: differs when any effect byte differs', () => {
  const mk = (v: string) => {
    const d = new Digest();
    d.effect('n1', { kind: 'send', to: nodeId('n2'), message: { kind: 'repair', key: 'k', record: Buffer.from(v) } });
    return d.hex();
  };
  assert.equal(mk('abc'), mk('abc'));
  assert.notEqual(mk('abc'), mk('abd'));
});

function history(): History {
  return newHistory({ seed: 1, nodes: 3, replicationFactor: 3, mode: 'siblings', siblingsMax: 2 });
}
const base = { node: 'n1', key: 'k', replicationFactor: 3, context: null } as const;
function put(h: History, client: number, value: string, at: number, w = 2, contextFromOp: number | null = null): HistoryOp {
  return invokeOp(h, { ...base, client, kind: 'put', value, contextFromOp, readQuorum: 0, writeQuorum: w, invokeMs: at });
}
function get(h: History, client: number, at: number, r = 2): HistoryOp {
  return invokeOp(h, { ...base, client, kind: 'get', value: null, contextFromOp: null, readQuorum: r, writeQuorum: 0, invokeMs: at });
}

test('checkers: an acked put missing from the final read fails unless an accounted context write superseded it (the rule that replaced the basic one)', () => {
  const h = history();
  completeOp(put(h, 0, 'v1', 0), 5, { outcome: 'ok' });
  h.final.push({ key: 'k', values: [], siblingCount: 0 });
  assert.equal(checkNoLostWrites(h).ok, false);
  const g = get(h, 1, 10);
  completeOp(g, 12, { outcome: 'ok', valuesRead: ['v1'] });
  completeOp(put(h, 1, 'v2', 20, 2, g.id), 25, { outcome: 'unknown' });
  // The basic checker excused v1 here; a superseder that may not have happened excuses nothing
  // unless the end state shows it did.
  assert.equal(checkNoLostWrites(h).ok, false, 'an unaccounted superseder');
  (h.final as { values: string[] }[])[0]!.values = ['v2'];
  assert.equal(checkNoLostWrites(h).ok, true, 'the final read shows the superseder happened');
});

test('checkers: reading a value no put wrote, or one whose put failed, fails', () => {
  const h = history();
  completeOp(put(h, 0, 'v1', 0), 5, { outcome: 'fail', errorCode: 'ERR_UNAVAILABLE' });
  completeOp(get(h, 1, 10), 12, { outcome: 'ok', valuesRead: ['v1'] });
  assert.equal(checkNoPhantomReads(h).ok, false);
  const h2 = history();
  completeOp(get(h2, 1, 10), 12, { outcome: 'ok', valuesRead: ['zz'] });
  assert.equal(checkNoPhantomReads(h2).ok, false);
  const h3 = history();
  completeOp(put(h3, 0, 'v1', 0), 5, { outcome: 'unknown' });
  completeOp(get(h3, 1, 10), 12, { outcome: 'ok', valuesRead: ['v1'] });
  assert.equal(checkNoPhantomReads(h3).ok, true);
});

test('checkers: a client missing its own acked write at R + W > N fails read-your-writes; at R + W <= N it may', () => {
  const h = history();
  completeOp(put(h, 0, 'v1', 0, 2), 5, { outcome: 'ok' });
  completeOp(get(h, 0, 10, 2), 12, { outcome: 'ok', valuesRead: [] });
  assert.equal(checkReadYourWrites(h).ok, false);
  const h2 = history();
  completeOp(put(h2, 0, 'v1', 0, 1), 5, { outcome: 'ok' });
  completeOp(get(h2, 0, 10, 1), 12, { outcome: 'ok', valuesRead: [] });
  assert.equal(checkReadYourWrites(h2).ok, true);
});

test('checkers: more siblings than N x siblingsMax fails the bound', () => {
  const h = history();
  const vals = Array.from({ length: 7 }, (_, i) => `v${i}`);
  for (const v of vals) completeOp(put(h, 0, v, 0), 1, { outcome: 'ok' });
  completeOp(get(h, 1, 10), 12, { outcome: 'ok', valuesRead: vals });
  assert.equal(checkSiblingBound(h).ok, false);
  h.ops.pop();
  completeOp(get(h, 1, 10), 12, { outcome: 'ok', valuesRead: vals.slice(0, 6) });
  assert.equal(checkSiblingBound(h).ok, true);
});

test('basic checkers: in lww mode a final value overtaken by a later successful write fails', () => {
  const h = newHistory({ seed: 1, nodes: 3, replicationFactor: 3, mode: 'lww', siblingsMax: 1 });
  completeOp(put(h, 0, 'v1', 0, 3), 5, { outcome: 'ok' });
  completeOp(put(h, 1, 'v2', 10, 1), 15, { outcome: 'ok' });
  h.final.push({ key: 'k', values: ['v1'], siblingCount: 1 });
  assert.equal(checkLwwLaterWriteWins(h).ok, false);
  (h.final as { values: string[] }[])[0]!.values = ['v2'];
  assert.equal(checkLwwLaterWriteWins(h).ok, true);
});

test('sim replay command: every non-default run option, including faults off, appears as a CLI flag', () => {
  assert.equal(replayCommand(7), 'npm run sim -- --seed 7');
  assert.equal(replayCommand(7, { faults: false }), 'npm run sim -- --seed 7 --no-faults');
  assert.equal(
    replayCommand(9, { sloppy: false, antiEntropy: false, faults: false, mode: 'lww' }),
    'npm run sim -- --seed 9 --mode lww --strict --no-anti-entropy --no-faults',
  );
});
