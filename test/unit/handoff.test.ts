/**
 * Sloppy quorum and hinted handoff, hand-driven: owners a, b, c hold every key; d then e are the
 * fallbacks. Each test controls which messages, storage completions and ticks happen, so "the
 * ack of a delivery is lost" or "the holder restarts" is a line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, T0, fixedPlacement, values, type InFlightMessage } from '../sim/harness.js';
import type { KvResult, PeerMessage } from '../../src/core/messages.js';
import { Node, NODE_DEFAULTS, type NodeOptions } from '../../src/core/node/node.js';
import { nodeId, type Random } from '../../src/core/types.js';
import { decodeHintEntry } from '../../src/core/handoff/index.js';

const OWNERS = ['a', 'b', 'c'];
const newCluster = (overrides: Partial<NodeOptions> = {}) =>
  new Harness(['a', 'b', 'c', 'd', 'e'], fixedPlacement(OWNERS, ['d', 'e']), { hintReplayIntervalMs: 100, ...overrides });
const put = (value: string, w: 'one' | 'quorum' | 'all' | number = 'all', opts: { key?: string; strict?: boolean } = {}) =>
  ({ kind: 'put', key: opts.key ?? 'k', value: Buffer.from(value), expiresAtMs: 0, context: null, writeQuorum: w,
    ...(opts.strict === undefined ? {} : { strict: opts.strict }) }) as const;
const errorCode = (r: KvResult | undefined) => (r?.kind === 'error' ? r.code : r?.kind);
const is = (kind: PeerMessage['kind'], to?: string) => (m: InFlightMessage) => m.message.kind === kind && (to === undefined || m.to === to);
const toC = (m: InFlightMessage) => m.to === 'c';

/** a holds c down; a W=ALL put at a lands on a, b and (as a hint for c) on d. */
function hintedWrite(h: Harness, value = 'v1', key = 'k'): KvResult | undefined {
  h.node('a').setDown(nodeId('c'), true);
  h.node('d').setDown(nodeId('c'), true); // the holder does not replay while it holds c down
  const r = h.request('a', put(value, 'all', { key }));
  h.settle(toC);
  return h.reply(r);
}

test('handoff: a write with an owner down goes to the next fallback with a hint, and the hinted ack counts toward W', () => {
  const h = newCluster();
  const r = hintedWrite(h);
  assert.deepEqual(r, { kind: 'written', hintedAcks: 1 });
  assert.ok(!h.disk('c').has('k'), 'the down owner got nothing');
  assert.ok(!h.disk('d').has('k'), 'the fallback keeps a hint, not a record in the user namespace');
  const stored = h.hintDisk('d').get('c|k');
  assert.ok(stored !== undefined, 'the hint is durable on d, naming c');
  assert.equal(stored.owner, 'c');
  assert.ok(decodeHintEntry(stored.entry).record.length > 0);
  assert.equal(h.hintDisk('e').size, 0, 'one down owner takes one fallback');
  assert.equal(h.node('d').hintStats.written, 1);
});

test('handoff: strict mode (per request or per node) refuses with ERR_UNAVAILABLE and stores nothing', () => {
  const h = newCluster();
  h.node('a').setDown(nodeId('c'), true);
  const r1 = h.request('a', put('v1', 'all', { strict: true }));
  assert.equal(errorCode(h.reply(r1)), 'ERR_UNAVAILABLE');
  assert.equal(h.io.length + h.messages.length, 0, 'refused before any effect: it did not happen');

  const s = newCluster({ strict: true });
  s.node('a').setDown(nodeId('c'), true);
  const r2 = s.request('a', put('v1', 'all'));
  assert.equal(errorCode(s.reply(r2)), 'ERR_UNAVAILABLE');
  const r3 = s.request('a', put('v2', 'all', { strict: false }));
  s.settle(toC);
  assert.deepEqual(s.reply(r3), { kind: 'written', hintedAcks: 1 }, 'a request may ask for sloppy on a strict node');
});

test('handoff: sloppy writes still refuse when owners plus fallbacks cannot reach W', () => {
  const h = newCluster();
  for (const n of ['b', 'c', 'd', 'e']) h.node('a').setDown(nodeId(n), true);
  const r = h.request('a', put('v1', 'quorum'));
  assert.equal(errorCode(h.reply(r)), 'ERR_UNAVAILABLE');
});

test('handoff: hints are replayed when the owner is reported alive, and the owner ends with the record', () => {
  const h = newCluster();
  hintedWrite(h);
  h.tick(500);
  h.settle(toC);
  assert.equal(h.messages.filter(is('hint_deliver')).length, 0, 'no replay while the owner is held down');
  h.node('d').setDown(nodeId('c'), false);
  h.tick(1);
  assert.equal(h.messages.filter(is('hint_deliver', 'c')).length, 1, 'replayed at once when the owner is back');
  h.settle();
  assert.ok(h.disk('c').has('k'), 'the owner stored the hinted record');
  assert.equal(h.hintDisk('d').size, 0);
  assert.equal(h.node('d').hintStats.delivered, 1);
  const g = h.request('c', { kind: 'get', key: 'k', readQuorum: 'one' });
  h.settle();
  assert.deepEqual(values(h.reply(g)), ['v1']);
});

test('handoff: a hint is removed only after the owner acked it; a lost ack means a redelivery, which changes nothing', () => {
  const h = newCluster({ requestTimeoutMs: 300 });
  hintedWrite(h);
  h.node('d').setDown(nodeId('c'), false);
  h.tick(1);
  h.settle(is('hint_ack')); // c merges and stores, but its ack is lost
  assert.ok(h.disk('c').has('k'));
  assert.ok(h.hintDisk('d').has('c|k'), 'no ack, no removal');
  assert.equal(h.node('d').hintStats.held, 1);
  const before = h.disk('c').get('k');
  h.tick(300); // the delivery times out, the next sweep sends it again
  assert.equal(h.messages.filter(is('hint_deliver', 'c')).length, 1);
  h.settle();
  assert.ok(h.disk('c').get('k')?.equals(before as Buffer), 'the redelivered hint merged to the same record');
  assert.equal(h.hintDisk('d').size, 0);
  assert.equal(h.node('d').hintStats.delivered, 1);
});

test('handoff: a hint merged while its delivery is in flight is not removed by the older ack', () => {
  const h = newCluster();
  hintedWrite(h, 'v1');
  h.node('d').setDown(nodeId('c'), false);
  h.tick(1);
  assert.equal(h.messages.filter(is('hint_deliver', 'c')).length, 1);
  const delivery = h.messages.filter(is('hint_deliver', 'c'));
  h.messages = h.messages.filter((m) => !is('hint_deliver', 'c')(m));
  const r = h.request('a', put('v2', 'all'));
  h.settle(toC);
  assert.deepEqual(h.reply(r), { kind: 'written', hintedAcks: 1 });
  h.messages.push(...delivery); // the old delivery (v1 only) lands now
  h.settle();
  assert.equal(h.node('d').hintStats.held, 1, 'the ack covered an older version: the hint stays');
  h.tick(100);
  h.settle();
  assert.equal(h.node('d').hintStats.held, 0);
  const g = h.request('c', { kind: 'get', key: 'k', readQuorum: 'one' });
  h.settle();
  assert.deepEqual(values(h.reply(g)), ['v1', 'v2'], 'the owner has both hinted writes');
});

test('handoff: hints older than the hint window are dropped and counted as expired', () => {
  const h = newCluster({ hintWindowMs: 2000 });
  hintedWrite(h);
  h.tick(1000);
  h.settle(toC);
  assert.equal(h.node('d').hintStats.held, 1);
  h.tick(1100);
  h.settle(toC);
  assert.equal(h.node('d').hintStats.held, 0);
  assert.equal(h.node('d').hintStats.expired, 1);
  assert.equal(h.hintDisk('d').size, 0, 'the expired hint is deleted from storage too');
  h.node('d').setDown(nodeId('c'), false);
  h.tick(100);
  assert.equal(h.messages.filter(is('hint_deliver')).length, 0, 'an expired hint is never delivered');
});

test('handoff: the hint count and byte bounds refuse new hints, and a refused hint is not acked', () => {
  const h = newCluster({ hintCountMax: 1, requestTimeoutMs: 500 });
  assert.deepEqual(hintedWrite(h, 'v1', 'k1'), { kind: 'written', hintedAcks: 1 });
  const r = h.request('a', put('v2', 'all', { key: 'k2' }));
  h.settle(toC);
  assert.equal(h.reply(r), undefined, 'd refused the second hint: two acks of three');
  h.tick(500);
  assert.equal(errorCode(h.reply(r)), 'ERR_MAYBE_APPLIED');
  assert.equal(h.node('d').hintStats.refused, 1);
  assert.equal(h.hintDisk('d').size, 1);
  // A merge into a held hint needs no new slot.
  const r2 = h.request('a', put('v3', 'all', { key: 'k1' }));
  h.settle(toC);
  assert.deepEqual(h.reply(r2), { kind: 'written', hintedAcks: 1 });

  const b = newCluster({ hintBytesMax: 8, requestTimeoutMs: 500 });
  b.node('a').setDown(nodeId('c'), true);
  const r3 = b.request('a', put('a value bigger than eight bytes', 'all'));
  b.settle(toC);
  b.tick(500);
  assert.equal(errorCode(b.reply(r3)), 'ERR_MAYBE_APPLIED');
  assert.equal(b.node('d').hintStats.refused, 1);
  assert.equal(b.hintDisk('d').size, 0);
});

test('handoff: a restarted holder reloads its hints from storage and delivers them', () => {
  const h = newCluster();
  hintedWrite(h);
  h.restart('d');
  const s = h.node('d').hintStats;
  assert.equal(s.loaded, true);
  assert.equal(s.held, 1);
  assert.equal(s.reloaded, 1);
  h.tick(100); // a fresh incarnation holds nobody down: it replays
  h.settle();
  assert.ok(h.disk('c').has('k'));
  assert.equal(h.hintDisk('d').size, 0);
});

test('handoff: until its hints are reloaded a holder refuses new ones (it would overwrite the stored hint)', () => {
  const d = new Node({ ...NODE_DEFAULTS, id: nodeId('d'), incarnation: 2, placement: fixedPlacement(OWNERS, ['d', 'e']), startMs: T0 });
  const boot = d.takeEffects();
  assert.ok(boot.some((e) => e.kind === 'storage' && e.op.kind === 'hint_scan'), 'a start issues the reload scan');
  const a = newCluster();
  a.node('a').setDown(nodeId('c'), true);
  a.request('a', put('v1', 'all'));
  a.drainIo();
  const hint = a.messages.find(is('replicate_hint', 'd'));
  assert.ok(hint !== undefined);
  d.step({ kind: 'peer_message', from: nodeId('a'), message: hint.message });
  assert.deepEqual(d.takeEffects(), [], 'no hint_put and no ack while the scan is outstanding');
  assert.equal(d.hintStats.refused, 1);
});

test('handoff: membership in the node detects a silent owner, writes go to a fallback, and hints drain when it returns', () => {
  let x = 12345;
  const random: Random = {
    next: () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 2 ** 32; },
    int(n) { return Math.floor(this.next() * n); },
  };
  const ids = ['a', 'b', 'c', 'd', 'e'].map(nodeId);
  const h = newCluster({
    random, membership: { members: ids, seeds: ids, probeIntervalMs: 100, probeTimeoutMs: 40, suspicionMult: 2, suspicionMaxMult: 3 },
  });
  const silentC = (m: InFlightMessage) => m.to === 'c' || m.from === 'c';
  for (let i = 0; i < 60 && !h.node('a').downMembers.includes(nodeId('c')); i++) {
    h.tick(20);
    h.settle(silentC);
  }
  assert.deepEqual(h.node('a').downMembers, [nodeId('c')], 'a routes around c');
  const r = h.request('a', put('v1', 'all'));
  h.settle(silentC);
  assert.deepEqual(h.reply(r), { kind: 'written', hintedAcks: 1 });
  for (let i = 0; i < 200 && (h.node('d').hintStats.held > 0 || h.node('a').downMembers.length > 0); i++) {
    h.tick(20);
    h.settle();
  }
  assert.deepEqual(h.node('a').downMembers, [], 'c refuted the suspicion');
  assert.equal(h.node('d').hintStats.held, 0, 'the hint was replayed once c was alive');
  assert.ok(h.disk('c').has('k'));
});

test('handoff: a duplicated hinted write is acked again but is not a new hint version (an in-flight delivery still removes it)', () => {
  const h = newCluster();
  h.node('a').setDown(nodeId('c'), true);
  h.node('d').setDown(nodeId('c'), true);
  const r = h.request('a', put('v1'));
  h.drainIo();
  const hint = h.messages.find(is('replicate_hint', 'd'));
  assert.ok(hint !== undefined);
  h.messages.push({ ...hint });
  h.settle(toC);
  assert.deepEqual(h.reply(r), { kind: 'written', hintedAcks: 1 });
  assert.equal(h.node('d').hintStats.written, 1, 'the duplicate merged nothing new');
  h.node('d').setDown(nodeId('c'), false);
  h.tick(1);
  const delivery = h.messages.filter(is('hint_deliver', 'c'));
  h.messages = h.messages.filter((m) => !is('hint_deliver', 'c')(m));
  h.messages.push({ ...hint }); // yet another copy arrives while the delivery is in flight
  h.settle(toC);
  h.messages.push(...delivery);
  h.settle();
  assert.equal(h.node('d').hintStats.held, 0, 'the delivery of the same content removed the hint');
  assert.equal(h.node('d').hintStats.delivered, 1);
});

test('handoff: the incarnation to persist follows membership when it refuted past the configured one', () => {
  const random: Random = { next: () => 0.5, int: (n) => Math.floor(n / 2) };
  const ids = ['a', 'b', 'c'].map(nodeId);
  const n = new Node({ ...NODE_DEFAULTS, id: nodeId('a'), incarnation: 3, placement: fixedPlacement(['a', 'b', 'c']), startMs: T0,
    random, membership: { members: ids, seeds: ids } });
  assert.equal(n.incarnationToPersist, 3);
  // b tells a that a is suspected at incarnation 3: a refutes with 4.
  n.step({ kind: 'peer_message', from: nodeId('b'), message: { kind: 'membership', message: {
    kind: 'gossip', incarnation: 0, ringEpoch: 0, updates: [{ kind: 'suspect', member: nodeId('a'), incarnation: 3, sources: [nodeId('b')] }],
  } } });
  assert.ok(n.incarnationToPersist > 3, `got ${n.incarnationToPersist}`);
  assert.ok(n.takeEffects().some((e) => e.kind === 'send' && e.message.kind === 'membership'), 'the refutation goes out as a peer message');
});

test('handoff: the owner acks a delivered hint only after a synced store, and an owner never keeps hints for its own keys', () => {
  const h = newCluster();
  hintedWrite(h);
  h.node('d').setDown(nodeId('c'), false);
  h.tick(1);
  h.deliver(is('hint_deliver', 'c'));
  h.completeIo((x) => x.node === 'c' && x.op.kind === 'read');
  const store = h.io.find((x) => x.node === 'c' && x.op.kind === 'write');
  assert.ok(store?.op.kind === 'write' && store.op.sync, 'the owner stores the hinted record with sync');
  assert.equal(h.messages.filter(is('hint_ack')).length, 0, 'no ack before the store completes');
  h.drainIo();
  assert.equal(h.messages.filter(is('hint_ack', 'd')).length, 1);

  const record = h.disk('c').get('k');
  assert.ok(record !== undefined);
  h.node('b').step({ kind: 'peer_message', from: nodeId('a'), message: { kind: 'replicate_hint', opId: 'a/1/99', key: 'k', owner: nodeId('c'), record } });
  assert.deepEqual(h.node('b').takeEffects(), [], 'b owns k: a hint for it is dropped, not acked');
  assert.equal(h.node('b').stats.droppedMessages, 1);
});
