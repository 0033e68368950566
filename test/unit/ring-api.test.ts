import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRingkvError } from '../../src/errors/ringkv-error.js';
import {
  SLOT_COUNT,
  decodeRing,
  diffRings,
  encodeRing,
  fallbackList,
  initialRing,
  movedReplicas,
  ownership,
  preferenceList,
  withMemberAdded,
  withMembers,
} from '../../src/core/ring/index.js';
import { nodeId } from '../../src/core/types.js';
import { assertPlacementRules, equalMembers } from './ring-helpers.js';

const ring = initialRing(
  equalMembers(8).map((m, i) => ({ ...m, rack: `r${i % 4}`, zone: i < 4 ? 'east' : 'west' })),
  3,
);

test('codec: encode then decode gives an identical ring through JSON', () => {
  const wire = JSON.parse(JSON.stringify(encodeRing(ring))) as unknown;
  const back = decodeRing(wire);
  assert.equal(back.epoch, ring.epoch);
  assert.equal(back.replicationFactor, 3);
  assert.deepEqual(back.members, ring.members);
  for (let s = 0; s < SLOT_COUNT; s++) assert.deepEqual(back.owners[s], ring.owners[s]);
  assert.deepEqual(encodeRing(back), encodeRing(ring));
});

test('codec: malformed or rule-breaking input is ERR_PROTOCOL, never a crash or a bad ring', () => {
  const good = encodeRing(ring);
  const cases: unknown[] = [
    null,
    42,
    { ...good, format: 2 },
    { ...good, epoch: 0 },
    { ...good, epoch: 1.5 },
    { ...good, replicationFactor: 0 },
    { ...good, members: [] },
    { ...good, members: [...good.members].reverse() },
    { ...good, members: good.members.map((m, i) => (i === 0 ? { ...m, weight: -1 } : m)) },
    { ...good, owners: good.owners.slice(1) },
    { ...good, owners: good.owners.map((x, i) => (i === 5 ? 99 : x)) },
    { ...good, owners: good.owners.map((x, i) => (i === 5 ? 'a' : x)) },
    // Slot 0 lists the same host twice.
    { ...good, owners: good.owners.map((x, i) => (i === 1 ? good.owners[0] : x)) },
    // Every slot on hosts 0,1,2 regardless of racks and zones.
    { ...good, owners: good.owners.map((_, i) => i % 3) },
  ];
  for (const c of cases) {
    assert.throws(
      () => decodeRing(c),
      (e: unknown) => isRingkvError(e) && e.code === 'ERR_PROTOCOL',
      JSON.stringify(c)?.slice(0, 80),
    );
  }
});

test('preferenceList: position 0 first, range-checked slots', () => {
  assert.equal(preferenceList(ring, 0), ring.owners[0]);
  assert.equal(preferenceList(ring, SLOT_COUNT - 1).length, 3);
  assert.throws(() => preferenceList(ring, SLOT_COUNT), RangeError);
  assert.throws(() => preferenceList(ring, -1), RangeError);
  assert.throws(() => preferenceList(ring, 1.5), RangeError);
});

test('fallbackList: every other member once, deterministic, varying across slots', () => {
  const firsts = new Set<string>();
  for (const s of [0, 1, 2, 100, 5000, 16383]) {
    const owners = preferenceList(ring, s);
    const fb = fallbackList(ring, s);
    assert.equal(fb.length, ring.members.length - owners.length);
    assert.equal(new Set([...fb, ...owners]).size, ring.members.length);
    assert.deepEqual(fallbackList(ring, s), fb);
    firsts.add(fb[0]!);
  }
  assert.ok(firsts.size > 1, 'fallback load is spread over members');
  // A member's place among the others does not depend on unrelated members.
  const grown = withMemberAdded(ring, { id: nodeId('zz'), weight: 1 });
  for (const s of [3, 7, 11]) {
    if (preferenceList(grown, s).join() !== preferenceList(ring, s).join()) continue;
    const before = fallbackList(ring, s);
    const after = fallbackList(grown, s).filter((id) => id !== 'zz');
    assert.deepEqual(after, before);
  }
});

test('diffRings and movedReplicas: report exactly the changed slots and new holders', () => {
  const grown = withMemberAdded(ring, { id: nodeId('zz'), weight: 1, rack: 'r9', zone: 'east' });
  const diff = diffRings(ring, grown);
  assert.ok(diff.length > 0);
  let moved = 0;
  const changed = new Set<number>();
  for (const c of diff) {
    changed.add(c.slot);
    assert.notDeepEqual(c.from, c.to);
    assert.equal(c.from, ring.owners[c.slot]);
    assert.equal(c.to, grown.owners[c.slot]);
    moved += c.to.filter((id) => !c.from.includes(id)).length;
  }
  for (let s = 0; s < SLOT_COUNT; s++) if (!changed.has(s)) assert.deepEqual(grown.owners[s], ring.owners[s]);
  assert.equal(movedReplicas(ring, grown), moved);
  assert.deepEqual(diffRings(ring, ring), []);
});

test('ownership: replicas sum to 16384 x N and primaries to 16384', () => {
  const own = ownership(ring);
  let r = 0;
  let p = 0;
  for (const o of own.values()) {
    r += o.replicas;
    p += o.primaries;
  }
  assert.equal(r, SLOT_COUNT * 3);
  assert.equal(p, SLOT_COUNT);
  assert.equal(own.size, 8);
});

test('withMembers: a weight change moves replicas toward the heavier member and keeps the rules', () => {
  const heavier = ring.members.map((m, i) => (i === 0 ? { ...m, weight: 2 } : m));
  const next = withMembers(ring, heavier);
  assertPlacementRules(next);
  const before = ownership(ring).get(ring.members[0]!.id)!.replicas;
  const after = ownership(next).get(ring.members[0]!.id)!.replicas;
  assert.ok(after > before, `${before} -> ${after}`);
  assert.equal(next.epoch, ring.epoch + 1);
});

test('ring state is frozen and equal lists are shared arrays', () => {
  assert.ok(Object.isFrozen(ring) && Object.isFrozen(ring.owners) && Object.isFrozen(ring.owners[0]));
  const small = initialRing(equalMembers(3), 3);
  assert.ok(new Set(small.owners).size <= 6, 'three hosts give at most 3! distinct lists');
});
