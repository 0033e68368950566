/**
 * Quorum coordinator scenarios, hand-driven: replicas a, b, c hold every key; d is a coordinator
 * outside the preference list. Each test controls exactly which messages and storage
 * completions happen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack, unpack } from 'msgpackr';
import { Harness, fixedPlacement, values, type InFlightMessage } from '../sim/harness.js';
import { resolveQuorum } from '../../src/core/coordinator/quorum.js';
import { isRingkvError } from '../../src/errors/ringkv-error.js';
import type { KvResult, PeerMessage } from '../../src/core/messages.js';
import { nodeId } from '../../src/core/types.js';

const REPLICAS = ['a', 'b', 'c'];
const newCluster = (overrides = {}) => new Harness(['a', 'b', 'c', 'd'], fixedPlacement(REPLICAS), overrides);
const put = (value: string, w: 'one' | 'two' | 'quorum' | 'all' | number = 'quorum', context: Buffer | null = null) =>
  ({ kind: 'put', key: 'k', value: Buffer.from(value), expiresAtMs: 0, context, writeQuorum: w }) as const;
const get = (r: 'one' | 'two' | 'quorum' | 'all' | number = 'quorum') => ({ kind: 'get', key: 'k', readQuorum: r }) as const;
const errorCode = (r: KvResult | undefined) => (r?.kind === 'error' ? r.code : r?.kind);
const is = (kind: PeerMessage['kind'], to?: string) => (m: InFlightMessage) => m.message.kind === kind && (to === undefined || m.to === to);

test('coordinator: a non-replica forwards a put to a replica, which stores and replicates it', () => {
  const h = newCluster();
  const r = h.request('d', put('v1'));
  assert.equal(h.messages.length, 1);
  assert.equal(h.messages[0]?.message.kind, 'forward_write');
  assert.equal(h.messages[0]?.to, 'a');
  assert.equal(h.io.length, 0, 'the non-replica touches no storage');
  h.settle();
  assert.equal(errorCode(h.reply(r)), 'written');
  for (const n of REPLICAS) assert.ok(h.disk(n).has('k'), `replica ${n} stored the record`);
  assert.equal(h.disk('d').size, 0);
  const g = h.request('d', get('all'));
  h.settle();
  assert.deepEqual(values(h.reply(g)), ['v1']);
});

test('coordinator: a put succeeds after W acks and not before', () => {
  const h = newCluster();
  const r = h.request('a', put('v1', 'all'));
  h.completeIo(); // read
  h.completeIo(); // local store
  assert.equal(h.reply(r), undefined, 'one ack of three');
  h.deliver(is('replicate', 'b'));
  h.drainIo();
  assert.equal(h.deliver(is('replicate_ack')), 1);
  assert.equal(h.reply(r), undefined, 'two acks of three');
  h.deliver(is('replicate', 'c'));
  h.drainIo();
  assert.equal(h.deliver(is('replicate_ack')), 1);
  assert.equal(errorCode(h.reply(r)), 'written');
});

test('coordinator: W=2 answers written while a third replica never acks', () => {
  const h = newCluster();
  const r = h.request('a', put('v1', 2));
  h.settle(is('replicate', 'c'));
  assert.equal(errorCode(h.reply(r)), 'written');
  assert.ok(!h.disk('c').has('k'));
});

test('coordinator: a timeout after the local store reports MAYBE_APPLIED', () => {
  const h = newCluster();
  const r = h.request('a', put('v1', 'all'));
  h.settle(is('replicate_ack')); // every ack lost
  assert.equal(h.reply(r), undefined);
  h.tick(999);
  assert.equal(h.reply(r), undefined, 'not before the deadline');
  h.tick(1);
  assert.equal(errorCode(h.reply(r)), 'ERR_MAYBE_APPLIED');
});

test('coordinator: a timeout while the local store is issued but not complete reports MAYBE_APPLIED', () => {
  const h = newCluster();
  const r = h.request('a', put('v1', 'one'));
  h.completeIo(); // the local read; the synced local store is now issued and held pending
  assert.equal(h.io.length, 1, 'the local store is pending');
  assert.equal(h.messages.length, 0, 'nothing replicated before the local store completes');
  h.tick(1000);
  assert.equal(errorCode(h.reply(r)), 'ERR_MAYBE_APPLIED', 'the store may still land, so UNAVAILABLE would be a lie');
  h.settle(); // the slow store lands after the deadline and the write still spreads
  for (const n of REPLICAS) assert.ok(h.disk(n).has('k'), `replica ${n} holds the maybe-applied write`);
  assert.equal(h.node('a').inFlight, 0);
});

test('coordinator: a timeout before anything was stored reports UNAVAILABLE and never stores it later', () => {
  const h = newCluster();
  const r = h.request('a', put('v1', 'one'));
  assert.equal(h.io.length, 1, 'the local read is pending');
  h.tick(1000);
  assert.equal(errorCode(h.reply(r)), 'ERR_UNAVAILABLE');
  h.settle();
  assert.equal(h.disk('a').size, 0, 'the late read did not lead to a store');
  assert.equal(h.messages.length, 0);
  assert.equal(h.node('a').inFlight, 0);
});

test('coordinator: fewer reachable replicas than W fails fast as UNAVAILABLE with nothing stored', () => {
  const h = newCluster();
  h.node('a').setDown(nodeId('b'), true);
  h.node('a').setDown(nodeId('c'), true);
  const r = h.request('a', put('v1', 2));
  assert.equal(errorCode(h.reply(r)), 'ERR_UNAVAILABLE');
  assert.equal(h.io.length + h.messages.length, 0);
  const ok = h.request('a', put('v2', 1));
  h.settle();
  assert.equal(errorCode(h.reply(ok)), 'written', 'W=1 is still reachable');
});

test('coordinator: a forwarded write with no answer reports MAYBE_APPLIED after twice the timeout', () => {
  const h = newCluster();
  const r = h.request('d', put('v1'));
  h.messages = []; // the forward is lost
  h.tick(1000);
  assert.equal(h.reply(r), undefined, 'the forwarder waits longer than the replica would');
  h.tick(1000);
  assert.equal(errorCode(h.reply(r)), 'ERR_MAYBE_APPLIED');
});

test('coordinator: the replica verdict UNAVAILABLE reaches a client of a forwarding node', () => {
  const h = newCluster();
  h.node('a').setDown(nodeId('b'), true);
  h.node('a').setDown(nodeId('c'), true);
  const r = h.request('d', put('v1', 'all'));
  h.settle();
  assert.equal(errorCode(h.reply(r)), 'ERR_UNAVAILABLE');
  assert.equal(h.disk('a').size, 0);
});

test('coordinator: a get answers after R replies and read repair sends the merged record to the stale replica', () => {
  const h = newCluster();
  const w = h.request('a', put('v1', 2));
  h.settle(is('replicate', 'c')); // c misses the write
  assert.equal(errorCode(h.reply(w)), 'written');
  const g = h.request('d', get(2));
  // Only a and b answer at first.
  h.deliver(is('read', 'a'));
  h.deliver(is('read', 'b'));
  h.completeIo();
  h.deliver(is('read_reply'));
  assert.deepEqual(values(h.reply(g)), ['v1'], 'answered after R=2 replies');
  assert.equal(h.messages.filter(is('repair')).length, 0, 'no repair before every asked replica answered');
  h.deliver(is('read', 'c'));
  h.completeIo();
  h.deliver(is('read_reply'));
  const repairs = h.messages.filter(is('repair'));
  assert.equal(repairs.length, 1);
  assert.equal(repairs[0]?.to, 'c', 'only the stale replica is repaired');
  h.settle();
  assert.deepEqual(h.disk('c').get('k'), h.disk('a').get('k'), 'c converged');
});

test('coordinator: a get with fewer than R replies by the deadline reports TIMEOUT', () => {
  const h = newCluster();
  const g = h.request('d', get('all'));
  h.settle(is('read', 'c'));
  assert.equal(h.reply(g), undefined);
  h.tick(1000);
  assert.equal(errorCode(h.reply(g)), 'ERR_TIMEOUT');
});

test('coordinator: R and W outside 1..N (and a negative expiry) are rejected with ERR_INVALID_ARGUMENT before any replica is asked', () => {
  const h = newCluster();
  const badExpiry = { kind: 'put', key: 'k', value: Buffer.from('x'), expiresAtMs: -1, context: null } as const;
  for (const op of [get(4), get(0), put('x', 4), put('x', 0), put('x', 1.5), badExpiry]) {
    const r = h.request('d', op);
    assert.equal(errorCode(h.reply(r)), 'ERR_INVALID_ARGUMENT', JSON.stringify(op));
  }
  assert.equal(h.messages.length + h.io.length, 0);
  assert.equal(resolveQuorum('quorum', 3, 'R'), 2);
  assert.equal(resolveQuorum('quorum', 4, 'R'), 3);
  assert.equal(resolveQuorum('all', 5, 'W'), 5);
  assert.equal(resolveQuorum('one', 1, 'W'), 1);
  assert.throws(() => resolveQuorum('two', 1, 'W'), (e) => isRingkvError(e) && e.code === 'ERR_INVALID_ARGUMENT');
});

test('coordinator: requests beyond inFlightMax are refused with ERR_OVERLOADED', () => {
  const h = newCluster({ inFlightMax: 2 });
  const r1 = h.request('d', get());
  const r2 = h.request('d', get());
  const r3 = h.request('d', get());
  assert.equal(h.reply(r1), undefined);
  assert.equal(h.reply(r2), undefined);
  assert.equal(errorCode(h.reply(r3)), 'ERR_OVERLOADED');
  h.settle();
  const r4 = h.request('d', get());
  h.settle();
  assert.equal(errorCode(h.reply(r4)), 'values', 'capacity returns once requests finish');
});

test('coordinator: duplicated acks and read replies count once', () => {
  const h = newCluster();
  const r = h.request('a', put('v1', 'all'));
  h.completeIo();
  h.completeIo();
  h.deliver(is('replicate', 'b'));
  h.drainIo();
  const ack = h.messages.find(is('replicate_ack'));
  assert.ok(ack);
  h.messages.push({ ...ack }, { ...ack });
  h.deliver(is('replicate_ack'));
  assert.equal(h.reply(r), undefined, 'three copies of b\'s ack are still one ack');

  const g = h.request('d', get(2));
  h.deliver(is('read', 'a'));
  h.completeIo();
  const rr = h.messages.find(is('read_reply'));
  assert.ok(rr);
  h.messages.push({ ...rr });
  h.deliver(is('read_reply'));
  assert.equal(h.reply(g), undefined, 'a duplicated reply from a is not two replies');
});

test('coordinator: a duplicated forward_write is applied once', () => {
  const h = newCluster();
  const r = h.request('d', put('v1'));
  const fwd = h.messages[0];
  assert.ok(fwd);
  h.messages.push({ ...fwd });
  h.settle();
  assert.equal(errorCode(h.reply(r)), 'written');
  const record = h.node('a').versions.decode(h.disk('a').get('k') as Buffer);
  assert.equal(h.node('a').versions.siblingCount(record), 1, 'one dot, not two siblings of the same value');
});

test('coordinator: replies with unknown op ids or from unasked nodes are ignored', () => {
  const h = newCluster();
  const g = h.request('a', get(2));
  const read = h.messages.find(is('read', 'b'));
  assert.ok(read && read.message.kind === 'read');
  // d was never asked; an old incarnation's op id matches nothing.
  h.node('a').step({ kind: 'peer_message', from: nodeId('d'), message: { kind: 'read_reply', opId: read.message.opId, key: 'k', record: null } });
  h.node('a').step({ kind: 'peer_message', from: nodeId('b'), message: { kind: 'read_reply', opId: 'a/0/1', key: 'k', record: null } });
  h.node('a').step({ kind: 'peer_message', from: nodeId('b'), message: { kind: 'replicate_ack', opId: 'a/0/9', key: 'k' } });
  h.node('a').step({ kind: 'peer_message', from: nodeId('b'), message: { kind: 'forward_reply', opId: 'a/0/9', result: { kind: 'written' } } });
  h.node('a').invariants();
  h.completeIo(); // a's own reply: one of two
  assert.equal(h.reply(g), undefined);
  assert.equal(h.node('a').takeEffects().length, 0);
});

test('coordinator: concurrent blind writes of one key on one replica are serialised and both kept as siblings', () => {
  const h = newCluster();
  const r1 = h.request('a', put('v1', 'one'));
  const r2 = h.request('a', put('v2', 'one'));
  assert.equal(h.io.length, 1, 'the second write waits for the key');
  h.settle();
  assert.equal(errorCode(h.reply(r1)), 'written');
  assert.equal(errorCode(h.reply(r2)), 'written');
  const g = h.request('b', get('all'));
  h.settle();
  assert.deepEqual(values(h.reply(g)), ['v1', 'v2']);
});

test('coordinator: a write with the context of a read replaces the siblings it saw', () => {
  const h = newCluster();
  h.request('a', put('v1', 'all'));
  h.request('b', put('v2', 'all'));
  h.settle();
  const g = h.request('c', get('all'));
  h.settle();
  const res = h.reply(g);
  assert.deepEqual(values(res), ['v1', 'v2']);
  assert.ok(res?.kind === 'values');
  const w = h.request('d', put('v3', 'all', res.context));
  h.settle();
  assert.equal(errorCode(h.reply(w)), 'written');
  const g2 = h.request('c', get('all'));
  h.settle();
  assert.deepEqual(values(h.reply(g2)), ['v3']);
});

test('coordinator: a context that does not decode is refused before anything is stored', () => {
  const h = newCluster();
  const r = h.request('d', put('v1', 'quorum', Buffer.from('garbage')));
  assert.equal(h.reply(r)?.kind, 'error');
  assert.equal(h.messages.length + h.io.length, 0);
});

test('coordinator: a delete with context hides the value from later reads', () => {
  const h = newCluster();
  h.request('a', put('v1', 'all'));
  h.settle();
  const g = h.request('d', get('all'));
  h.settle();
  const res = h.reply(g);
  assert.ok(res?.kind === 'values');
  const d = h.request('d', { kind: 'delete', key: 'k', context: res.context, writeQuorum: 'all' });
  h.settle();
  assert.equal(errorCode(h.reply(d)), 'written');
  const g2 = h.request('b', get('all'));
  h.settle();
  assert.deepEqual(values(h.reply(g2)), []);
});

test('messages: every peer message and storage effect survives a msgpackr round trip unchanged', () => {
  const h = newCluster();
  const seen: unknown[] = [];
  const run = () => {
    for (let i = 0; i < 100 && (h.messages.length > 0 || h.io.length > 0); i++) {
      for (const m of h.messages) seen.push(m.message);
      for (const x of h.io) seen.push(x.op);
      if (h.io.length > 0) h.completeIo();
      else h.deliver();
    }
  };
  h.request('d', put('v1'));
  run();
  h.request('d', get());
  run();
  const kinds = new Set(seen.map((m) => (m as { kind: string }).kind));
  for (const k of ['forward_write', 'forward_reply', 'replicate', 'replicate_ack', 'read', 'read_reply', 'write']) assert.ok(kinds.has(k), k);
  for (const m of seen) assert.deepEqual(unpack(pack(m)), m);
});

test('coordinator: a blind write past siblingsMax is refused with ERR_TOO_MANY_SIBLINGS and a context write still resolves', () => {
  const h = newCluster({ siblingsMax: 1 });
  h.request('a', put('v1', 'all'));
  h.settle();
  const r = h.request('a', put('v2', 'all'));
  h.settle();
  assert.equal(errorCode(h.reply(r)), 'ERR_TOO_MANY_SIBLINGS');
  const g = h.request('b', get('all'));
  h.settle();
  const res = h.reply(g);
  assert.deepEqual(values(res), ['v1']);
  assert.ok(res?.kind === 'values');
  const w = h.request('b', put('v3', 'all', res.context));
  h.settle();
  assert.equal(errorCode(h.reply(w)), 'written');
});

test('coordinator: a failed local store answers UNAVAILABLE and replicates nothing', () => {
  const h = newCluster();
  const r = h.request('a', put('v1', 'one'));
  h.completeIo(); // read
  const io = h.io.shift();
  assert.ok(io?.op.kind === 'write');
  h.node('a').step({ kind: 'storage_done', ioId: io.ioId, result: { kind: 'failed', message: 'disk full' } });
  const effects = h.node('a').takeEffects();
  assert.deepEqual(effects.map((e) => e.kind), ['reply']);
  assert.equal(errorCode(effects[0]?.kind === 'reply' ? effects[0].result : undefined), 'ERR_UNAVAILABLE');
  assert.equal(h.reply(r), undefined);
});

test('coordinator: read repair of the coordinator itself merges into its own storage', () => {
  const h = newCluster();
  const w = h.request('b', put('v1', 2));
  h.settle(is('replicate', 'a')); // a misses it
  assert.equal(errorCode(h.reply(w)), 'written');
  assert.ok(!h.disk('a').has('k'));
  const g = h.request('a', get('all'));
  h.settle();
  assert.deepEqual(values(h.reply(g)), ['v1']);
  assert.deepEqual(h.disk('a').get('k'), h.disk('b').get('k'));
});

test('coordinator: answered reads waiting only to repair do not count against inFlightMax', () => {
  const h = newCluster({ inFlightMax: 2 });
  const g1 = h.request('d', get(2));
  const g2 = h.request('d', get(2));
  h.settle(is('read', 'c')); // c never answers: both reads stay open for repair
  assert.deepEqual(values(h.reply(g1)), []);
  assert.deepEqual(values(h.reply(g2)), []);
  assert.equal(h.node('d').inFlight, 0);
  const g3 = h.request('d', get(2));
  assert.equal(h.reply(g3), undefined, 'accepted, not ERR_OVERLOADED');
  h.settle(is('read', 'c'));
  assert.deepEqual(values(h.reply(g3)), [], 'answered; invariants() after each step held the answered-read bound');
});

test('coordinator: a replica acks a replicate only after a synced write, even when a read repair already stored the same record unsynced (seed 9077)', () => {
  const h = newCluster();
  const w = h.request('a', put('v1', 'all'));
  h.completeIo(); // a's read
  h.completeIo(); // a's synced store
  const replicates = h.messages.filter(is('replicate'));
  h.messages = h.messages.filter((m) => !is('replicate')(m));
  // A read repair reaches b first and is stored unsynced.
  const record = replicates[0]?.message.kind === 'replicate' ? replicates[0].message.record : null;
  assert.ok(record);
  h.node('b').step({ kind: 'peer_message', from: nodeId('d'), message: { kind: 'repair', key: 'k', record } });
  const repairIo = h.node('b').takeEffects();
  assert.equal(repairIo.length, 1);
  h.io.push(...repairIo.map((e) => (e.kind === 'storage' ? { node: nodeId('b'), ioId: e.ioId, op: e.op } : assert.fail('expected storage'))));
  h.drainIo();
  // Now the replicate from a arrives at b: the record is unchanged, but the ack promises durability.
  h.messages.push(...replicates.filter((m) => m.to === 'b'));
  h.deliver();
  h.completeIo(); // b's read
  const writes = h.io.filter((x) => x.node === 'b' && x.op.kind === 'write');
  assert.equal(writes.length, 1, 'b writes again although the bytes are equal');
  assert.ok(writes[0]?.op.kind === 'write' && writes[0].op.sync, 'and that write is synced');
  assert.equal(h.messages.filter(is('replicate_ack')).length, 0, 'no ack before the synced write completes');
  h.drainIo();
  assert.equal(h.messages.filter(is('replicate_ack')).length, 1);
  assert.equal(h.reply(w), undefined);
});

test('coordinator: a forwarded write with a W beyond N is answered with ERR_INVALID_ARGUMENT, not applied', () => {
  const h = newCluster();
  h.node('a').step({ kind: 'peer_message', from: nodeId('d'), message: {
    kind: 'forward_write', opId: 'd/1/1', key: 'k', value: Buffer.from('v'), expiresAtMs: 0, context: null, writeQuorum: 9, strict: false,
  } });
  const effects = h.node('a').takeEffects();
  assert.equal(effects.length, 1);
  const e = effects[0];
  assert.ok(e?.kind === 'send' && e.message.kind === 'forward_reply');
  assert.equal(errorCode(e.message.result), 'ERR_INVALID_ARGUMENT');
});

test('coordinator: an overwrite (plain SET) supersedes every version its coordinating replica holds, even through a forward', () => {
  const h = newCluster();
  h.request('a', put('v1', 'all'));
  h.request('b', put('v2', 'all'));
  h.settle();
  const w = h.request('d', { ...put('v3', 'all'), overwrite: true });
  h.settle();
  assert.equal(errorCode(h.reply(w)), 'written');
  const g = h.request('c', get('all'));
  h.settle();
  assert.deepEqual(values(h.reply(g)), ['v3'], 'no sibling survives an overwrite at a replica that held both');
  const blind = h.request('a', put('v4', 'all'));
  h.settle();
  assert.equal(errorCode(h.reply(blind)), 'written');
  const g2 = h.request('c', get('all'));
  h.settle();
  assert.deepEqual(values(h.reply(g2)), ['v3', 'v4'], 'a blind write without overwrite still adds a sibling');
});
