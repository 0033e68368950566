/**
 * Anti-entropy wired into the sans-IO Node, hand-driven with the harness: three replicas (a, b,
 * c) hold every key; each test controls which messages and storage completions happen. Checks
 * that the node's Merkle tree follows its storage, that periodic sessions repair replicas that
 * diverged (pushes and fetches through the replica write path), and that a restart rebuilds
 * the tree by a paged scan before the node takes part in sessions again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, T0, fixedPlacement, type InFlightMessage } from '../sim/harness.js';
import { digestsEqual, recordDigest } from '../../src/core/antientropy/index.js';
import { keySlot } from '../../src/core/ring/key-slot.js';
import { nodeId } from '../../src/core/types.js';

const AE = { intervalMs: 100, scanPageMax: 2, bucketsPerSlot: 4, transferTimeoutMs: 1000 };
const cluster = () => new Harness(['a', 'b', 'c'], fixedPlacement(['a', 'b', 'c']), { antiEntropy: AE });
const put = (key: string, value: string, w: 'one' | 'all' = 'one') =>
  ({ kind: 'put', key, value: Buffer.from(value), expiresAtMs: 0, context: null, writeQuorum: w }) as const;
const to = (id: string) => (m: InFlightMessage) => m.to === id;

function ae(h: Harness, id: string) {
  const d = h.node(id).antiEntropy;
  if (d === null) throw new Error('anti-entropy is off');
  return d;
}

/** Every key of every disk, and the keys whose records differ between the replicas. */
function diverged(h: Harness): string[] {
  const keys = new Set<string>();
  for (const id of ['a', 'b', 'c']) for (const k of h.disk(id).keys()) keys.add(k);
  return [...keys].sort().filter((k) => {
    const recs = ['a', 'b', 'c'].map((id) => h.disk(id).get(k)?.toString('hex') ?? null);
    return recs.some((r) => r !== recs[0]);
  });
}

function treeFollowsDisk(h: Harness, id: string): void {
  const tree = ae(h, id).tree;
  assert.equal(tree.size, h.disk(id).size, `${id}: tree and storage hold the same number of keys`);
  for (const [k, rec] of h.disk(id)) {
    const d = tree.get(k);
    assert.ok(d !== undefined && digestsEqual(d, recordDigest(rec)), `${id}: tree digest of ${k} is its stored record's`);
  }
}

test('antientropy node: the tree follows every local store, and a session repairs replicas that diverged without any read', () => {
  const h = cluster();
  h.settle(); // the start-up scans (empty disks)
  for (const id of ['a', 'b', 'c']) assert.equal(ae(h, id).rebuilding, false);
  // k1 and k2 reach a and b only; k3 reaches c only (W=1 at c, its replicates dropped).
  h.request('a', put('k1', 'v1'));
  h.request('b', put('k2', 'v2'));
  h.settle(to('c'));
  h.request('c', put('k3', 'v3'));
  h.settle((m) => m.from === 'c');
  assert.deepEqual(diverged(h), ['k1', 'k2', 'k3'], 'the replicas diverged');
  for (const id of ['a', 'b', 'c']) treeFollowsDisk(h, id);
  assert.ok(!digestsEqual(ae(h, 'a').tree.rootHash(), ae(h, 'c').tree.rootHash()), 'diverged replicas have different roots');

  for (let i = 0; i < 20 && diverged(h).length > 0; i++) {
    h.tick(100);
    h.settle();
  }
  assert.deepEqual(diverged(h), [], 'every key is equal on every replica, though no client read it');
  for (const id of ['a', 'b', 'c']) treeFollowsDisk(h, id);
  assert.ok(digestsEqual(ae(h, 'a').tree.rootHash(), ae(h, 'c').tree.rootHash()), 'equal records give equal roots');
  const stats = ['a', 'b', 'c'].map((id) => h.node(id).antiEntropyStats!);
  assert.ok(stats.reduce((n, s) => n + s.sessionsSynced, 0) > 0, 'sessions completed');
  assert.ok(stats.reduce((n, s) => n + s.pushes + s.fetches, 0) >= 3, 'only transfers repaired the replicas');
  assert.ok(stats.reduce((n, s) => n + s.usefulBytes, 0) > 0, 'transferred records changed the receivers');
  // Watermarks: some replica completed a session with a peer over k3's slot.
  const slot = keySlot('k3');
  const marks = ['a', 'b', 'c'].flatMap((id) => ['a', 'b', 'c'].filter((p) => p !== id).map((p) => ae(h, id).lastSyncedWithAtMs(slot, nodeId(p))));
  assert.ok(marks.some((m) => m !== null), 'a completed session records when the slot was synced');
  // Without a random source peers are taken in turn, so a few more intervals sync every pair.
  for (let i = 0; i < 4; i++) {
    h.tick(100);
    h.settle();
  }
  for (const id of ['a', 'b', 'c']) {
    const at = ae(h, id).lastSyncedAtMs(slot);
    assert.ok(at !== null && at > T0, `${id}: the slot was last in sync with every other replica at ${at}`);
    assert.equal(at, Math.min(...['a', 'b', 'c'].filter((p) => p !== id).map((p) => ae(h, id).lastSyncedWithAtMs(slot, nodeId(p))!)), 'the oldest per-peer mark');
  }
});

test('antientropy node: a pushed record is stored synced through the replica write path before it is acked', () => {
  const h = cluster();
  h.settle();
  h.request('a', put('k', 'v'));
  h.settle((m) => m.to !== 'a'); // only a holds k
  h.tick(100);
  const isAck = (m: InFlightMessage) => m.message.kind === 'ae' && m.message.message.kind === 'ae_data_ack';
  for (let i = 0; i < 50 && !h.messages.some(isAck); i++) {
    // Writes that ae pushes cause must be synced before the ack leaves.
    const pushWrites = h.io.filter((x) => x.op.kind === 'write' && x.node !== nodeId('a'));
    for (const w of pushWrites) if (w.op.kind === 'write') assert.equal(w.op.sync, true, 'an anti-entropy merge is stored with sync');
    h.completeIo();
    h.deliver((m) => !isAck(m));
  }
  assert.ok(h.messages.some(isAck), 'the receiver acked the push');
  const acker = h.messages.find(isAck)!.from;
  assert.ok(h.disk(acker).has('k'), 'the acking replica stored the record before acking');
});

test('antientropy node: a restart rebuilds the tree by a paged scan, answers busy meanwhile, and ends equal to its peers', () => {
  const h = cluster();
  h.settle();
  for (let i = 0; i < 5; i++) h.request('a', put(`k${i}`, `v${i}`, 'all'));
  h.settle();
  assert.deepEqual(diverged(h), []);
  const rootB = ae(h, 'b').tree.rootHash();
  h.restart('a');
  const a = ae(h, 'a');
  assert.equal(a.rebuilding, true, 'a restarted node starts rebuilding');
  assert.equal(a.tree.size, 0, 'its new tree starts empty');
  const scans = h.io.filter((x) => x.node === nodeId('a') && x.op.kind === 'scan');
  assert.equal(scans.length, 1, 'one scan page at a time');
  assert.deepEqual(scans[0]!.op, { kind: 'scan', afterKey: null, limit: AE.scanPageMax });
  h.completeIo((x) => x.op.kind === 'scan');
  assert.equal(a.rebuilding, true, 'five keys in pages of two: not done after the first page');
  assert.equal(h.io.filter((x) => x.op.kind === 'scan').length, 0, 'the next page waits for the next tick (bounded work per tick)');
  // A peer's session opened meanwhile is refused rather than answered from a partial tree.
  h.node('a').step({ kind: 'peer_message', from: nodeId('b'), message: { kind: 'ae', message: { kind: 'ae_open', sid: 7, slots: [0, 16384], rootHi: 1, rootLo: 2 } } });
  const eff = h.node('a').takeEffects();
  assert.deepEqual(eff, [{ kind: 'send', to: nodeId('b'), message: { kind: 'ae', message: { kind: 'ae_busy', sid: 7 } } }], 'a rebuilding node answers busy');
  for (let i = 0; i < 10 && a.rebuilding; i++) {
    h.completeIo((x) => x.op.kind === 'scan');
    h.tick(1);
  }
  assert.equal(a.rebuilding, false, 'the scan finished');
  assert.equal(a.tree.size, 5);
  assert.ok(digestsEqual(a.tree.rootHash(), rootB), 'the rebuilt tree equals a peer\'s over the same records');
  treeFollowsDisk(h, 'a');
  assert.ok(h.node('a').antiEntropyStats!.scanPages >= 3, 'it read three pages');
});

test('antientropy node: a write landing during the rebuild is kept in the rebuilt tree', () => {
  const h = cluster();
  h.settle();
  for (let i = 0; i < 4; i++) h.request('a', put(`k${i}`, `v${i}`, 'all'));
  h.settle();
  h.restart('a');
  h.request('b', put('k0', 'newer', 'all'));
  // Deliver the replicate to a and complete its write before any scan page.
  for (let i = 0; i < 10; i++) {
    h.deliver((m) => m.message.kind !== 'ae');
    h.completeIo((x) => x.op.kind !== 'scan');
  }
  for (let i = 0; i < 10 && ae(h, 'a').rebuilding; i++) {
    h.completeIo();
    h.tick(1);
  }
  h.settle((m) => m.message.kind === 'ae');
  assert.equal(ae(h, 'a').rebuilding, false);
  treeFollowsDisk(h, 'a');
});

test('antientropy node: a transfer the peer never answers fails its session after transferTimeoutMs, and a later session repairs', () => {
  const h = cluster();
  h.settle();
  h.request('a', put('k', 'v'));
  h.settle((m) => m.to !== 'a'); // only a holds k
  const dropTransfers = (m: InFlightMessage) => m.message.kind === 'ae' && (m.message.message.kind === 'ae_data' || m.message.message.kind === 'ae_want');
  h.tick(100);
  h.settle(dropTransfers);
  assert.ok(diverged(h).includes('k'), 'the transfers were lost');
  const aborted = () => ['a', 'b', 'c'].reduce((n, id) => n + h.node(id).antiEntropyStats!.sessionsAborted, 0);
  assert.equal(aborted(), 0, 'sessions wait for their transfers');
  h.tick(AE.transferTimeoutMs + 1);
  h.settle(dropTransfers);
  assert.ok(aborted() > 0, 'an unanswered transfer aborts its session');
  for (let i = 0; i < 10 && diverged(h).length > 0; i++) {
    h.tick(100);
    h.settle();
  }
  assert.deepEqual(diverged(h), [], 'a later session repaired the replicas');
});
