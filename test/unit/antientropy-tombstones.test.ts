/**
 * Tombstone and expiry GC in the sans-IO Node, hand-driven: three replicas (a, b, c) hold every
 * key. A dead record (tombstones, expired values) is purged only after the grace period, once
 * every replica synced past it, after a synced push of it to every replica was acked and a
 * settle time passed (older versions still in flight land first); a replica that missed the
 * delete blocks the purge until anti-entropy brings it the tombstone; a replica that purged a
 * record refuses it when a slower replica brings it back; a new write on a purged key is not
 * taken for an old one by a replica still holding the tombstone (dot counters restart above).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, T0, fixedPlacement, values, type InFlightMessage } from '../sim/harness.js';
import { bindVersions } from '../../src/core/coordinator/versions.js';
import { canPurgeTombstone } from '../../src/core/antientropy/index.js';
import { deadSinceMs } from '../../src/core/node/anti-entropy-driver.js';
import type { KvResult } from '../../src/core/messages.js';
import { nodeId } from '../../src/core/types.js';

const GRACE_MS = 3000;
// The grace must cover the hint window plus two request timeouts (the node refuses less).
const GC = { intervalMs: 100, scanPageMax: 8, bucketsPerSlot: 4, transferTimeoutMs: 1000, sessionTimeoutMs: 1000, tombstoneGraceMs: GRACE_MS, purgeSettleMs: 1000 };
const cluster = () => new Harness(['a', 'b', 'c'], fixedPlacement(['a', 'b', 'c']), { antiEntropy: GC, hintWindowMs: 500 });
const put = (key: string, value: string, w: 'one' | 'all' = 'all', expiresAtMs = 0) =>
  ({ kind: 'put', key, value: Buffer.from(value), expiresAtMs, context: null, writeQuorum: w }) as const;
const isTo = (id: string) => (m: InFlightMessage) => m.to === id || m.from === id;
const purges = (h: Harness) => ['a', 'b', 'c'].reduce((n, id) => n + (h.node(id).antiEntropyStats?.purges ?? 0), 0);

function contextOf(r: KvResult | undefined): Buffer {
  if (r?.kind !== 'values') throw new Error(`expected values, got ${JSON.stringify(r)}`);
  return r.context;
}

/** Writes v1 everywhere, reads it and deletes it with the read's context (W = ALL unless `dropTo`). */
function writeThenDelete(h: Harness, dropTo: string | null = null): void {
  h.request('a', put('k', 'v1'));
  h.settle();
  const g = h.request('a', { kind: 'get', key: 'k', readQuorum: 'all' });
  h.settle();
  assert.deepEqual(values(h.reply(g)), ['v1']);
  const w = dropTo === null ? 'all' : 'two';
  h.request('a', { kind: 'delete', key: 'k', context: contextOf(h.reply(g)), writeQuorum: w });
  h.settle(dropTo === null ? undefined : isTo(dropTo));
}

/** Ticks in 100 ms steps, settling (with `drop`), until `done` or `maxMs` passed. */
function run(h: Harness, maxMs: number, done: () => boolean = () => false, drop?: (m: InFlightMessage) => boolean): void {
  for (let t = 0; t < maxMs && !done(); t += 100) {
    h.tick(100);
    h.settle(drop);
  }
}

test('tombstones: a deleted key is purged on every replica only after the grace period, and reads as absent', () => {
  const h = cluster();
  h.settle();
  writeThenDelete(h);
  for (const id of ['a', 'b', 'c']) assert.ok(h.disk(id).has('k'), `${id} holds the tombstone`);
  run(h, GRACE_MS - 300);
  assert.equal(purges(h), 0, 'nothing purged within the grace');
  for (const id of ['a', 'b', 'c']) assert.ok(h.disk(id).has('k'));
  run(h, 5000, () => ['a', 'b', 'c'].every((id) => !h.disk(id).has('k')));
  for (const id of ['a', 'b', 'c']) assert.equal(h.disk(id).has('k'), false, `${id} purged the tombstone`);
  assert.equal(purges(h), 3);
  assert.ok(h.nowMs - T0 >= GRACE_MS);
  const g = h.request('b', { kind: 'get', key: 'k', readQuorum: 'all' });
  h.settle();
  assert.deepEqual(values(h.reply(g)), []);
  for (const id of ['a', 'b', 'c']) assert.equal(h.node(id).antiEntropy!.tree.size, 0, `${id}: the tree follows storage`);
});

test('tombstones: a replica that missed the delete blocks the purge until a session brings it the tombstone; the old value never returns', () => {
  const h = cluster();
  h.settle();
  writeThenDelete(h, 'c'); // c keeps v1
  // c is cut off for twice the grace: a and b must not purge (c never synced past the tombstone).
  run(h, 2 * GRACE_MS, () => false, isTo('c'));
  assert.equal(purges(h), 0, 'no purge while a replica has not synced past the tombstone');
  assert.ok(h.disk('a').has('k') && h.disk('b').has('k'));
  // Reconnected: anti-entropy hands c the tombstone, then everyone purges in time.
  run(h, 4 * GRACE_MS, () => ['a', 'b', 'c'].every((id) => !h.disk(id).has('k')));
  for (const id of ['a', 'b', 'c']) assert.equal(h.disk(id).has('k'), false, `${id} purged`);
  for (const id of ['a', 'b', 'c']) {
    const g = h.request(id, { kind: 'get', key: 'k', readQuorum: 'one' });
    h.settle();
    assert.deepEqual(values(h.reply(g)), [], `a read at ${id} does not resurrect v1`);
  }
});

test('tombstones: before purging, the record is pushed to every replica and stored there with sync; the purge waits for the acks plus the settle time', () => {
  const h = cluster();
  h.settle();
  writeThenDelete(h, 'c');
  // c gets the tombstone a second later (anti-entropy), so a's purge comes first.
  run(h, 1000, () => false, isTo('c'));
  const tomb = h.disk('a').get('k')!;
  const isPrepare = (m: InFlightMessage) => m.message.kind === 'ae' && m.message.message.kind === 'ae_data'
    && m.message.message.missing === undefined && m.message.message.records.some((r) => Buffer.from(r).equals(tomb));
  const fromA = (m: InFlightMessage) => isPrepare(m) && m.from === 'a';
  // c's session push of its old v1 to a, sent before c got the tombstone: held as a slow network would.
  const oldFromC = (m: InFlightMessage) => m.from === 'c' && m.to === 'a' && m.message.kind === 'ae' && m.message.message.kind === 'ae_data'
    && m.message.message.records.some((r) => !Buffer.from(r).equals(tomb));
  const held = (m: InFlightMessage) => isPrepare(m) || oldFromC(m);
  // Run until a sends its prepare, holding every prepare back (b and c prepare too).
  for (let t = 0; t < 3 * GRACE_MS && !h.messages.some(fromA); t += 100) {
    h.tick(100);
    for (let i = 0; i < 200; i++) if (h.completeIo() + h.deliver((m) => !held(m)) === 0) break;
  }
  assert.ok(h.messages.some(oldFromC), 'an old version from c is still in flight');
  const prepares = h.messages.filter(fromA);
  assert.deepEqual(prepares.map((m) => m.to).sort(), [nodeId('b'), nodeId('c')], 'one prepare per other replica');
  const purgeAtA = () => h.io.some((x) => x.node === nodeId('a') && x.op.kind === 'purge');
  assert.ok(!purgeAtA(), 'no purge before the acks');
  h.deliver(fromA);
  h.completeIo((x) => x.op.kind === 'read');
  const stores = h.io.filter((x) => x.op.kind === 'write' && x.op.key === 'k');
  assert.deepEqual(stores.map((x) => x.node).sort(), [nodeId('b'), nodeId('c')], 'each replica stores it again although unchanged');
  for (const s of stores) if (s.op.kind === 'write') assert.equal(s.op.sync, true, 'with sync');
  assert.equal(stores.every((s) => s.op.kind === 'write' && s.op.record.equals(tomb)), true);
  h.completeIo((x) => x.op.kind === 'write');
  h.deliver((m) => m.to === 'a' && m.message.kind === 'ae' && m.message.message.kind === 'ae_data_ack');
  assert.ok(!purgeAtA(), 'acked: the purge still waits for older versions in flight to land');
  h.tick(100);
  h.deliver(oldFromC); // lands within the settle time: merged under the tombstone, changes nothing
  h.drainIo();
  assert.ok(h.disk('a').get('k')!.equals(tomb), 'the old version did not change a\'s tombstone');
  h.tick(GC.purgeSettleMs - 200);
  h.drainIo();
  assert.ok(h.disk('a').get('k')?.equals(tomb) === true, 'still held just before the settle time ends');
  h.tick(100);
  h.drainIo();
  assert.equal(h.disk('a').has('k'), false, 'purged once the settle time passed');
  run(h, 3 * GRACE_MS, () => ['a', 'b', 'c'].every((id) => !h.disk(id).has('k')));
  for (const id of ['a', 'b', 'c']) assert.equal(h.disk(id).has('k'), false, `${id} purged; v1 did not come back`);
});

test('tombstones: a replica that purged a record does not store it again when a slower replica brings it back; one that never held it does', () => {
  const h = cluster();
  h.settle();
  writeThenDelete(h);
  const tomb = h.disk('a').get('k')!;
  run(h, 5000, () => ['a', 'b', 'c'].every((id) => !h.disk(id).has('k')));
  assert.equal(purges(h), 3);
  const push = (key: string, record: Buffer, xfer: number) =>
    h.messages.push({ from: nodeId('c'), to: nodeId('b'), message: { kind: 'ae', message: { kind: 'ae_data', xfer, keys: [key], records: [record] } } });
  push('k', tomb, 1);
  h.deliver();
  assert.ok(h.messages.some((m) => m.from === 'b' && m.message.kind === 'ae' && m.message.message.kind === 'ae_data_ack'), 'acked at once');
  h.settle();
  assert.equal(h.disk('b').has('k'), false, 'the purged record was not stored again');
  assert.equal(h.node('b').antiEntropyStats!.deadRefused, 1);
  // The same dead record for a key b never held is stored: an older version may still reach b.
  push('other', tomb, 2);
  h.settle();
  assert.ok(h.disk('b').get('other')?.equals(tomb) === true);
  assert.equal(deadSinceMs(h.disk('b').get('other')!), deadSinceMs(tomb));
});

test('tombstones: an expired value is purged like a tombstone once its expiry plus the grace passed', () => {
  const h = cluster();
  h.settle();
  h.request('a', put('t', 'short', 'all', T0 + 500));
  h.settle();
  run(h, 500 + GRACE_MS - 300);
  assert.equal(purges(h), 0, 'kept through expiry + grace');
  for (const id of ['a', 'b', 'c']) assert.ok(h.disk(id).has('t'));
  run(h, 5000, () => ['a', 'b', 'c'].every((id) => !h.disk(id).has('t')));
  for (const id of ['a', 'b', 'c']) assert.equal(h.disk(id).has('t'), false, `${id} purged the expired record`);
  assert.equal(purges(h), 3);
});

test('tombstones: a write on a purged key gets dot counters above the old ones, so a replica still holding the tombstone keeps it', () => {
  const a = nodeId('a');
  for (const floor of [true, false]) {
    const v = bindVersions({ self: a, mode: 'siblings', siblingsMax: 4, counterFloorOnAbsent: floor });
    const r1 = v.write(v.empty(), v.emptyContext(), Buffer.from('old'), 0, T0);
    const tomb = v.write(r1, v.contextOf(r1), null, 0, T0 + 10); // what b still holds
    // a purged the key: its record is gone, and a client writes it again (blind).
    const fresh = v.write(v.empty(), v.emptyContext(), Buffer.from('new'), 0, T0 + 10_000);
    const atB = v.merge(tomb, fresh);
    const live = v.live(atB, T0 + 10_000).map((x) => x.value.toString());
    if (floor) assert.deepEqual(live, ['new'], 'kept: its dot is above every dot of the old tombstone');
    else assert.deepEqual(live, [], 'without the floor the dot is reused and the new write is lost (why the floor exists)');
  }
});

test('tombstones: canPurgeTombstone needs the grace from both death and local store, and a sync that started after the store', () => {
  const q = { storedAtMs: 1000, deadSinceMs: 800, graceMs: 500 };
  assert.equal(canPurgeTombstone({ ...q, nowMs: 1499, syncedPastMs: 1200 }), false);
  assert.equal(canPurgeTombstone({ ...q, nowMs: 1500, syncedPastMs: 1200 }), true);
  assert.equal(canPurgeTombstone({ ...q, deadSinceMs: 1400, nowMs: 1500, syncedPastMs: 1200 }), false, 'an expiry later than the store counts');
  assert.equal(canPurgeTombstone({ ...q, nowMs: 9000, syncedPastMs: 1000 }), false);
  assert.equal(canPurgeTombstone({ ...q, nowMs: 9000, syncedPastMs: null }), false);
});

test('tombstones sim: seeded runs with faults purge dead records and TTL values, and the resurrection and expiry checkers apply and pass', async () => {
  const { runSeed } = await import('../sim/run.js');
  const { NO_RESURRECTION } = await import('../sim/checkers/no-resurrection.js');
  const { EXPIRED_NEVER_READ } = await import('../sim/checkers/ttl.js');
  let purged = 0;
  let ttlPuts = 0;
  for (let seed = 1; seed <= 4; seed++) {
    const o = runSeed(seed);
    assert.equal(o.result.error, null, `seed ${seed}`);
    for (const c of o.checks) assert.deepEqual(c.violations, [], `seed ${seed}: ${c.name}`);
    for (const name of [NO_RESURRECTION, EXPIRED_NEVER_READ]) assert.ok(o.checks.some((c) => c.name === name && c.applicable), `seed ${seed}: ${name} applies`);
    purged += o.result.history.antiEntropy?.purges?.length ?? 0;
    ttlPuts += o.result.history.ops.filter((x) => x.expiresAtMs !== undefined).length;
  }
  assert.ok(purged > 0, 'purges happen in the simulator (the checker is not vacuous)');
  assert.ok(ttlPuts > 0, 'the workload writes with TTLs');
});
