/**
 * The merge law of membership updates, as a property: for members this node already knows,
 * the resulting (status, incarnation) depends only on the set of updates received, not on
 * their order — higher incarnation wins, and at equal incarnation alive < suspect < dead < left.
 * Also: every message round-trips through msgpackr unchanged (plain data only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { Membership, MEMBERSHIP_DEFAULTS } from '../../src/core/membership/index.js';
import type { MemberStatus, MemberUpdate, MembershipMessage } from '../../src/core/membership/index.js';
import { nodeId, type NodeId } from '../../src/core/types.js';
import { Prng } from '../sim/prng.js';

const SELF = nodeId('self');
const PEER = nodeId('peer');
const MEMBERS = ['x', 'y', 'z'].map(nodeId);
const SOURCES = ['s1', 's2', 's3'].map(nodeId);

const update: fc.Arbitrary<MemberUpdate> = fc.record({
  kind: fc.constantFrom('alive', 'suspect', 'dead', 'left'),
  member: fc.constantFrom(...MEMBERS),
  incarnation: fc.integer({ min: 0, max: 3 }),
  sources: fc.subarray(SOURCES, { minLength: 1 }),
}).map((r): MemberUpdate => {
  switch (r.kind) {
    case 'alive': return { kind: 'alive', member: r.member, incarnation: r.incarnation };
    case 'suspect': return { kind: 'suspect', member: r.member, incarnation: r.incarnation, sources: r.sources };
    case 'dead': return { kind: 'dead', member: r.member, incarnation: r.incarnation, from: r.sources[0] as NodeId };
    case 'left': return { kind: 'left', member: r.member, incarnation: r.incarnation };
  }
});

const RANK: Record<MemberStatus, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

function applyAll(updates: readonly MemberUpdate[]): Map<NodeId, string> {
  const m = new Membership({ ...MEMBERSHIP_DEFAULTS, self: SELF, incarnation: 0, random: new Prng(1), startMs: 0, members: [SELF, PEER, ...MEMBERS] });
  for (const u of updates) {
    m.step({ kind: 'message', from: PEER, message: { kind: 'gossip', incarnation: 0, ringEpoch: 0, updates: [u] } });
    m.invariants();
  }
  return new Map(MEMBERS.map((id) => [id, `${m.status(id)}@${m.incarnationOf(id)}`]));
}

test('membership merge: the outcome for known members does not depend on the order updates arrive in', () => {
  fc.assert(fc.property(fc.array(update, { maxLength: 12 }).chain((us) => fc.tuple(fc.constant(us), fc.shuffledSubarray(us, { minLength: us.length, maxLength: us.length }))), ([a, b]) => {
    assert.deepEqual(applyAll(a), applyAll(b));
  }), { numRuns: 300 });
});

test('membership merge: the outcome is the greatest update by (incarnation, status rank), or alive@0', () => {
  fc.assert(fc.property(fc.array(update, { maxLength: 12 }), (us) => {
    const got = applyAll(us);
    for (const id of MEMBERS) {
      let best = { status: 'alive' as MemberStatus, incarnation: 0 };
      for (const u of us) {
        if (u.member !== id) continue;
        if (u.incarnation > best.incarnation || (u.incarnation === best.incarnation && RANK[u.kind] > RANK[best.status])) best = { status: u.kind, incarnation: u.incarnation };
      }
      assert.equal(got.get(id), `${best.status}@${best.incarnation}`);
    }
  }), { numRuns: 300 });
});

test('membership messages: every kind round-trips through msgpackr as plain data', () => {
  const packr = new Packr({ useRecords: false });
  const updates: MemberUpdate[] = [
    { kind: 'alive', member: nodeId('a'), incarnation: 3 },
    { kind: 'suspect', member: nodeId('b'), incarnation: 1, sources: [nodeId('a'), nodeId('c')] },
    { kind: 'dead', member: nodeId('c'), incarnation: 2, from: nodeId('a') },
    { kind: 'left', member: nodeId('d'), incarnation: 9 },
  ];
  const messages: MembershipMessage[] = [
    { kind: 'ping', seq: 1, target: nodeId('b'), incarnation: 3, ringEpoch: 7, updates },
    { kind: 'ack', seq: 1, incarnation: 4, ringEpoch: 7, updates: [] },
    { kind: 'ping_req', seq: 2, target: nodeId('c'), incarnation: 3, ringEpoch: 7, updates },
    { kind: 'gossip', incarnation: 3, ringEpoch: 7, updates },
    { kind: 'sync', reply: false, join: true, ringEpoch: 7, ring: null, members: updates },
  ];
  for (const msg of messages) assert.deepEqual(packr.unpack(packr.pack(msg)), msg);
  const withRing = packr.unpack(packr.pack({ kind: 'sync', reply: true, join: false, ringEpoch: 8, ring: new Uint8Array([1, 2, 3]), members: [] })) as { ring: Uint8Array };
  assert.deepEqual([...withRing.ring], [1, 2, 3]);
});
