/**
 * The topology state machine in the node (topology/driver.ts, view.ts, ring-placement.ts),
 * hand-driven on a small in-process cluster (topology-harness.ts): busy, forwarding, concurrent
 * proposals converging, commit only after every gainer is done, purge only after commit, the
 * joint write quorum during a change, and the gossip payload's codec.
 */
import { test } from 'node:test';
import { pack, unpack } from 'msgpackr';
import assert from 'node:assert/strict';
import { RingkvError } from '../../src/errors/ringkv-error.js';
import { keySlot, initialRing } from '../../src/core/ring/index.js';
import { viewPlacement } from '../../src/core/node/ring-placement.js';
import { decodeTopologyMessage } from '../../src/core/topology/messages.js';
import { commit, compareStates, decodeState, encodeState, gainedSlots, gainers, initialState, propose, stateVersion } from '../../src/core/topology/view.js';
import { nodeId, type NodeId } from '../../src/core/types.js';
import { TopoCluster } from './topology-harness.js';

const n = nodeId;
const KEYS = Array.from({ length: 40 }, (_, i) => `k${i}`);

function loaded(ids: string[], inRing: string[]): TopoCluster {
  const c = new TopoCluster(ids, inRing);
  for (const k of KEYS) c.put(inRing[0]!, k, `v-${k}`, 'all');
  c.settle();
  c.run(50);
  return c;
}

function everyoneCommitted(c: TopoCluster, ids: string[], members: number): boolean {
  return ids.every((id) => {
    const v = c.node(id).ringView();
    return v !== null && v.pending === null && v.current.members.length === members;
  });
}

test('topology: a join streams only the joiner\'s gained slots, commits, and the joiner serves its keys', () => {
  const c = loaded(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3']);
  const rid = c.change('n1', { kind: 'join', id: n('n4') });
  c.settle();
  assert.deepEqual(c.replies.get(rid), { kind: 'written' });
  const pending = c.node('n1').topologyState!;
  assert.equal(pending.pending?.members.length, 4);
  assert.deepEqual(gainers(pending), [n('n4')], 'adding a member moves replicas only to it');
  c.until(() => everyoneCommitted(c, ['n1', 'n2', 'n3', 'n4'], 4));
  c.run(1000);
  const ring = c.node('n2').ringView()!.current;
  const gained = new Set(gainedSlots(pending, n('n4')));
  for (const k of KEYS) {
    const owners = ring.owners[keySlot(k)]!;
    for (const id of ['n1', 'n2', 'n3', 'n4']) {
      assert.equal(c.disk(id).has(k), owners.includes(n(id)), `${k} on ${id} (owners ${owners.join(',')})`);
    }
  }
  // Only keys of gained slots were pulled by the joiner.
  for (const s of c.sent) {
    if (s.m.kind !== 'topology' || s.m.message.kind !== 'pull_reply') continue;
    for (const [k] of s.m.message.records) assert.ok(gained.has(keySlot(k)), `${k} streamed outside the gained slots`);
  }
  const p = c.node('n4').topologyProgress();
  assert.equal(p.phase, 'done');
  assert.equal(p.slotsMoved, p.slotsToMove);
  assert.ok(p.keysStreamed > 0 && p.bytesStreamed > 0);
  assert.equal(c.node('n1').topologyProgress().phase, 'done');
});

test('topology: a second change while one is in flight answers ERR_TOPOLOGY_BUSY', () => {
  const c = loaded(['n1', 'n2', 'n3', 'n4', 'n5'], ['n1', 'n2', 'n3', 'n4']);
  // Hold every pull so the first change stays in flight.
  c.filter = (_f, _t, m) => !(m.kind === 'topology' && m.message.kind === 'pull');
  assert.deepEqual(c.replies.get(c.change('n1', { kind: 'join', id: n('n5') })), { kind: 'written' });
  c.run(100);
  const busy = c.replies.get(c.change('n2', { kind: 'decommission', id: n('n3') }));
  assert.equal(busy?.kind === 'error' ? busy.code : busy?.kind, 'ERR_TOPOLOGY_BUSY');
  assert.equal(c.node('n2').topologyProgress().phase, 'committing', 'n2 gains nothing and waits for the joiner');
  assert.equal(c.node('n5').topologyProgress().phase, 'streaming');
});

test('topology: bad changes answer typed errors and change nothing', () => {
  const c = new TopoCluster(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3']);
  const code = (rid: ReturnType<TopoCluster['change']>): string | undefined => {
    const r = c.replies.get(rid);
    return r?.kind === 'error' ? r.code : r?.kind;
  };
  assert.equal(code(c.change('n1', { kind: 'join', id: n('n2') })), 'ERR_INVALID_ARGUMENT');
  assert.equal(code(c.change('n1', { kind: 'decommission', id: n('n9') })), 'ERR_UNKNOWN_NODE');
  assert.equal(code(c.change('n1', { kind: 'remove', id: n('n9') })), 'ERR_UNKNOWN_NODE');
  assert.equal(c.node('n1').ringView()?.pending, null);
});

test('topology: a node outside the ring forwards the change to a ring member; before it knows a ring its client ops are refused', () => {
  const c = loaded(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3']);
  assert.equal(c.node('n4').ringView(), null);
  const get = c.replies.get(c.client('n4', { kind: 'get', key: 'k1' }));
  assert.equal(get?.kind === 'error' ? get.code : get?.kind, 'ERR_UNAVAILABLE');
  const rid = c.change('n4', { kind: 'join', id: n('n4') });
  c.settle();
  assert.deepEqual(c.replies.get(rid), { kind: 'written' }, 'the seed started it and answered through the joiner');
  assert.ok(c.sent.some((s) => s.from === n('n4') && s.m.kind === 'topology' && s.m.message.kind === 'change'));
  assert.equal(c.node('n1').topologyState?.origin, n('n1'), 'the ring member that started it is the origin');
  c.until(() => everyoneCommitted(c, ['n1', 'n2', 'n3', 'n4'], 4));
  const rr = c.client('n4', { kind: 'get', key: 'k1', readQuorum: 'all' });
  c.settle();
  const r = c.replies.get(rr);
  assert.equal(r?.kind, 'values');
  assert.deepEqual(r?.kind === 'values' ? r.values.map((v) => v.value.toString()) : [], ['v-k1']);
});

test('topology: concurrent proposals at the same version converge on the higher id everywhere, and the loser learns it failed', () => {
  const c = loaded(['n1', 'n2', 'n3', 'n4', 'n5'], ['n1', 'n2', 'n3']);
  // n1 and n2 propose before hearing of each other.
  let hold = true;
  c.filter = (_f, _t, m) => !(hold && m.kind === 'topology');
  assert.deepEqual(c.replies.get(c.change('n1', { kind: 'join', id: n('n4') })), { kind: 'written' });
  assert.deepEqual(c.replies.get(c.change('n2', { kind: 'join', id: n('n5') })), { kind: 'written' });
  const a = c.node('n1').topologyState!;
  const b = c.node('n2').topologyState!;
  assert.equal(stateVersion(a), stateVersion(b));
  const winner = compareStates(a, b) > 0 ? a : b;
  const loserNode = winner === a ? 'n2' : 'n1';
  hold = false;
  // Any topology message between them exposes the mismatch: the loser asks, the winner's state
  // comes back and ranks higher. Gossip (membership, absent here) spreads it to the rest.
  c.node(loserNode === 'n1' ? 'n2' : 'n1').step({ kind: 'peer_message', from: n(loserNode), message: { kind: 'topology', message: { kind: 'announce_request' } } });
  c.run(20);
  assert.equal(c.node(loserNode).topologyState?.id, winner.id, 'the loser adopted the winner');
  for (const id of ['n3', 'n4', 'n5']) c.node(id).step({ kind: 'peer_message', from: n('n1'), message: { kind: 'topology', message: { kind: 'announce', payload: encodeState(winner) } } });
  c.until(() => ['n1', 'n2', 'n3', 'n4', 'n5'].every((id) => c.node(id).topologyState?.id === winner.id));
  const p = c.node(loserNode).topologyProgress();
  assert.equal(p.phase, 'failed');
  assert.match(p.message, /superseded/);
  const ringIds = ['n1', 'n2', 'n3', winner.change!.id];
  c.until(() => everyoneCommitted(c, ringIds, 4));
  const members = c.node('n3').ringView()!.current.members.map((m) => m.id);
  assert.ok(members.includes(winner.change!.id));
  // The losing joiner is in neither ring, so only gossip tells it: it adopts the committed state.
  const outsider = winner.change!.id === n('n4') ? 'n5' : 'n4';
  c.node(outsider).step({ kind: 'peer_message', from: n('n1'), message: { kind: 'topology', message: { kind: 'announce', payload: encodeState(c.node('n1').topologyState!) } } });
  assert.equal(c.node(outsider).ringView()?.pending, null);
  assert.equal(c.node(outsider).topologyState?.id, winner.id);
});

test('topology: the change commits only after every gainer is done, and losers purge only after the commit', () => {
  const c = loaded(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3', 'n4']);
  // Decommission n4: n1..n3 gain its replicas. Hold n3's pulls.
  let holdN3 = true;
  c.filter = (from, to, m) => !(holdN3 && m.kind === 'topology' && ((from === n('n3') && m.message.kind === 'pull') || (to === n('n3') && m.message.kind === 'pull_reply')));
  assert.deepEqual(c.replies.get(c.change('n4', { kind: 'decommission', id: n('n4') })), { kind: 'written' });
  c.settle();
  const s = c.node('n1').topologyState!;
  assert.deepEqual(gainers(s), [n('n1'), n('n2'), n('n3')]);
  c.run(3000);
  assert.ok(c.node('n1').ringView()?.pending !== null, 'n3 has not streamed: no commit');
  assert.equal(c.node('n1').topologyProgress().phase, 'committing');
  assert.equal(c.node('n3').topologyProgress().phase, 'streaming');
  assert.equal(c.storageOps.filter((o) => o.op.kind === 'purge').length, 0, 'nothing purged before the commit');
  const heldUntil = c.nowMs;
  holdN3 = false;
  c.until(() => everyoneCommitted(c, ['n1', 'n2', 'n3', 'n4'], 3));
  c.run(2000);
  const purges = c.storageOps.filter((o) => o.op.kind === 'purge');
  assert.ok(purges.length > 0, 'the leaver purged its records');
  for (const p of purges) assert.ok(p.atMs > heldUntil, 'every purge after the gainers were released');
  assert.deepEqual([...c.disk('n4').keys()], [], 'the leaver holds nothing');
  for (const k of KEYS) {
    const owners = c.node('n1').ringView()!.current.owners[keySlot(k)]!;
    for (const o of owners) assert.ok(c.disk(o).has(k), `${k} on new owner ${o}`);
  }
});

test('topology: remove drops a dead member without streaming from it', () => {
  const c = loaded(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3', 'n4']);
  c.crash(n('n4'));
  assert.deepEqual(c.replies.get(c.change('n1', { kind: 'remove', id: n('n4') })), { kind: 'written' });
  c.until(() => everyoneCommitted(c, ['n1', 'n2', 'n3'], 3));
  assert.ok(!c.sent.some((s) => s.to === n('n4') && s.m.kind === 'topology' && s.m.message.kind === 'pull'), 'no pull went to the removed member');
  c.run(1500);
  for (const k of KEYS) {
    for (const o of c.node('n1').ringView()!.current.owners[keySlot(k)]!) assert.ok(c.disk(o).has(k), `${k} rebuilt on ${o}`);
  }
});

test('topology: during a change a write needs W acks among the pending owners too (joint quorum)', () => {
  const c = loaded(['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3']);
  c.filter = (_f, _t, m) => !(m.kind === 'topology' && m.message.kind === 'pull');
  c.change('n1', { kind: 'join', id: n('n4') });
  c.settle();
  const s = c.node('n1').topologyState!;
  const gained = new Set(gainedSlots(s, n('n4')));
  const key = Array.from({ length: 500 }, (_, i) => `w${i}`).find((k) => gained.has(keySlot(k)))!;
  const owner = s.current.owners[keySlot(key)]![0]!;
  // Joiner alive: the write reaches it and succeeds at W = ALL.
  const a = c.put(owner, key, 'a', 'all');
  c.settle();
  assert.deepEqual(c.replies.get(a), { kind: 'written' });
  assert.ok(c.disk('n4').has(key), 'the pending owner got the write');
  // Joiner gone: W = ALL cannot reach 3 pending owners; the write may have happened.
  c.crash(n('n4'));
  const rid = c.put(owner, key, 'b', 'all');
  c.run(500);
  const r = c.replies.get(rid);
  assert.equal(r?.kind === 'error' ? r.code : r?.kind, 'ERR_MAYBE_APPLIED');
  // W = QUORUM still works: 2 of the 3 pending owners are current owners too.
  const q = c.put(owner, key, 'c', 'quorum');
  c.settle();
  assert.deepEqual(c.replies.get(q), { kind: 'written' });
});

test('topology: the gossip payload round-trips, ranks by (version, id), and garbage is ERR_PROTOCOL', () => {
  const ring = initialRing(['a', 'b', 'c'].map((id) => ({ id: n(id), weight: 1 })), 3);
  const s0 = initialState(ring);
  const s1 = propose(s0, { kind: 'join', id: n('d') }, n('a'));
  const s1b = propose(s0, { kind: 'join', id: n('e') }, n('b'));
  assert.equal(stateVersion(s1), 2);
  assert.notEqual(compareStates(s1, s1b), 0);
  const back = decodeState(encodeState(s1));
  assert.equal(back.id, s1.id);
  assert.deepEqual(back.pending?.owners, s1.pending?.owners);
  const c1 = commit(s1);
  assert.equal(stateVersion(c1), 3);
  assert.ok(compareStates(c1, s1) > 0);
  assert.equal(decodeState(encodeState(c1)).current.epoch, 3);
  assert.throws(() => propose(s1, { kind: 'join', id: n('e') }, n('a')), (e: unknown) => e instanceof RingkvError && e.code === 'ERR_TOPOLOGY_BUSY');
  assert.throws(() => decodeState(Uint8Array.from([1, 2, 3])), (e: unknown) => e instanceof RingkvError && e.code === 'ERR_PROTOCOL');
  // A payload whose id does not name its change (crafted by hand, as a bad peer would).
  const env = unpack(encodeState(s1)) as Record<string, unknown>;
  assert.throws(() => decodeState(pack({ ...env, id: 'forged' })), (e: unknown) => e instanceof RingkvError && e.code === 'ERR_PROTOCOL');
  assert.throws(() => decodeState(pack({ ...env, version: 7 })), (e: unknown) => e instanceof RingkvError && e.code === 'ERR_PROTOCOL');
  assert.equal(decodeTopologyMessage({ kind: 'pull', version: 2, id: 'x', afterKey: null })?.kind, 'pull');
  assert.equal(decodeTopologyMessage({ kind: 'pull', version: -1, id: 'x', afterKey: null }), null);
  assert.equal(decodeTopologyMessage({ kind: 'change', opId: 'o', change: { kind: 'join', id: '' }, hops: 0 }), null);
});

test('topology: placement during a change reads from current owners, writes to pending ones too, anti-entropy over the union', () => {
  const ring = initialRing(['a', 'b', 'c'].map((id) => ({ id: n(id), weight: 1 })), 2);
  const s = propose(initialState(ring), { kind: 'join', id: n('d') }, n('a'));
  const p = viewPlacement(s);
  let changed = 0;
  let same = 0;
  for (let slot = 0; slot < 16384; slot += 97) {
    const key = Array.from({ length: 2000 }, (_, i) => `x${i}`).find((k) => keySlot(k) === slot);
    if (key === undefined) continue;
    const cur = s.current.owners[slot]!;
    const to = s.pending!.owners[slot]!;
    assert.deepEqual(p.preferenceList(key), cur);
    const pend = p.pendingPreferenceList!(key);
    if (to === cur) {
      same++;
      assert.equal(pend, null);
      assert.deepEqual(p.slotPreferenceList!(slot), cur);
    } else {
      changed++;
      assert.deepEqual(pend, to);
      assert.deepEqual(new Set(p.slotPreferenceList!(slot)), new Set<NodeId>([...cur, ...to]));
    }
  }
  assert.ok(changed > 0 && same > 0);
  assert.equal(viewPlacement(s), p, 'one placement object per state (anti-entropy shares its tables by it)');
});
