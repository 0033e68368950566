import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffRings, initialRing, withMemberAdded, withMemberRemoved, type RingMember } from '../../src/core/ring/index.js';
import { nodeId } from '../../src/core/types.js';
import { S, assertPlacementRules, balance, equalMembers, movement } from './ring-helpers.js';

function scaleCase(n: number): void {
  const ring = initialRing(equalMembers(n), 3);
  assertPlacementRules(ring);
  const b0 = balance(ring);
  assert.ok(b0.replicas <= 1.05 && b0.primaries <= 1.05, `initial ${JSON.stringify(b0)}`);

  const joiner = { id: nodeId('joiner'), weight: 1 };
  const t0 = performance.now();
  const grown = withMemberAdded(ring, joiner);
  const addMs = performance.now() - t0;
  assertPlacementRules(grown);
  const add = movement(ring, grown);
  assert.deepEqual([...add.gained.keys()], ['joiner'], 'replicas move only to the new member');
  assert.ok(add.moved <= (1.1 * S * 3) / (n + 1), `moved ${add.moved}, ideal ${(S * 3) / (n + 1)}`);
  const b1 = balance(grown);
  assert.ok(b1.replicas <= 1.05 && b1.primaries <= 1.05, `after add ${JSON.stringify(b1)}`);
  // Unchanged lists are the previous ring's arrays: cheap to hold both.
  const changed = new Set(diffRings(ring, grown).map((c) => c.slot));
  for (let s = 0; s < S; s += 97) if (!changed.has(s)) assert.equal(grown.owners[s], ring.owners[s]);

  const victim = ring.members[Math.floor(n / 2)]!.id;
  const t1 = performance.now();
  const shrunk = withMemberRemoved(ring, victim);
  const removeMs = performance.now() - t1;
  assertPlacementRules(shrunk);
  const rm = movement(ring, shrunk);
  assert.deepEqual([...rm.lost.keys()], [victim], 'only the removed member gives up replicas');
  assert.ok(rm.gained.size >= Math.min(n - 1, rm.moved) * 0.9, `spread over ${rm.gained.size} members`);
  const b2 = balance(shrunk);
  assert.ok(b2.replicas <= 1.05 && b2.primaries <= 1.05, `after remove ${JSON.stringify(b2)}`);
  assert.ok(addMs < 1000 && removeMs < 1000, `change took add ${addMs.toFixed(0)} ms, remove ${removeMs.toFixed(0)} ms`);
}

test('ring at 100 equal nodes: balanced, add moves <= 1.1/(n+1) only to the joiner, remove re-homes only its replicas', () => {
  scaleCase(100);
});

test('ring at 1000 equal nodes: balanced, add moves <= 1.1/(n+1) only to the joiner, remove re-homes only its replicas, each change < 1 s', () => {
  scaleCase(1000);
});

test('ring at 100 nodes in 10 racks with weights 1..4: racks distinct per slot, balanced by weight, minimal add', () => {
  // Weights cycle inside each rack so every rack carries the same total weight.
  const members: RingMember[] = Array.from({ length: 100 }, (_, i) => ({
    id: nodeId(`w${String(i).padStart(3, '0')}`),
    weight: 1 + (Math.floor(i / 10) % 4),
    rack: `rack${i % 10}`,
  }));
  const ring = initialRing(members, 3);
  assertPlacementRules(ring);
  const b = balance(ring);
  assert.ok(b.replicas <= 1.05 && b.primaries <= 1.05, JSON.stringify(b));
  const joiner = { id: nodeId('w999'), weight: 2, rack: 'rack3' };
  const grown = withMemberAdded(ring, joiner);
  const mv = movement(ring, grown);
  assert.deepEqual([...mv.gained.keys()], ['w999']);
  const W = members.reduce((x, m) => x + m.weight, 0) + 2;
  assert.ok(mv.moved <= (1.1 * S * 3 * 2) / W, `moved ${mv.moved}`);
});
