import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { nodeId } from '../../src/core/types.js';
import { compareHlc, HLC_LOGICAL_MAX, HybridClock, type Hlc } from '../../src/core/versioning/hlc.js';

const arbPhysical = fc.integer({ min: 0, max: 2 ** 45 });
const arbHlc: fc.Arbitrary<Hlc> = fc.record({
  wallMs: arbPhysical,
  logical: fc.integer({ min: 0, max: 1000 }),
  node: fc.constantFrom('a', 'b', 'c').map(nodeId),
});

test('hlc: now() is strictly increasing whatever physical times it is fed, including backwards steps', () => {
  fc.assert(
    fc.property(fc.array(arbPhysical, { minLength: 1, maxLength: 60 }), (times) => {
      const clock = new HybridClock(nodeId('n'));
      let prev: Hlc | undefined;
      for (const t of times) {
        const h = clock.now(t);
        if (prev !== undefined) assert.ok(compareHlc(h, prev) > 0, `${JSON.stringify(h)} <= ${JSON.stringify(prev)}`);
        assert.ok(h.wallMs >= t, 'wall part never falls behind the physical time given');
        prev = h;
      }
    }),
  );
});

test('hlc: after observe(t) the next now() is greater than t, even with a lagging physical clock', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(arbHlc.map((h) => ({ observe: h })), arbPhysical.map((p) => ({ tick: p }))), { maxLength: 30 }), arbHlc, arbPhysical, (events, remote, phys) => {
      const clock = new HybridClock(nodeId('n'));
      for (const e of events) {
        if ('observe' in e) clock.observe(e.observe, 0);
        else clock.now(e.tick);
      }
      clock.observe(remote, phys);
      const h = clock.now(phys);
      assert.ok(compareHlc(h, remote) > 0);
      assert.ok(h.wallMs > remote.wallMs || (h.wallMs === remote.wallMs && h.logical > remote.logical), 'greater without relying on the node tie-break');
    }),
  );
});

test('hlc: follows the physical clock when it moves forward and counts logically when it does not', () => {
  const clock = new HybridClock(nodeId('n'));
  assert.deepEqual(clock.now(1000), { wallMs: 1000, logical: 0, node: 'n' });
  assert.deepEqual(clock.now(1000), { wallMs: 1000, logical: 1, node: 'n' });
  assert.deepEqual(clock.now(900), { wallMs: 1000, logical: 2, node: 'n' });
  assert.deepEqual(clock.now(1001), { wallMs: 1001, logical: 0, node: 'n' });
  clock.observe({ wallMs: 5000, logical: 7, node: nodeId('m') }, 1002);
  assert.deepEqual(clock.now(1003), { wallMs: 5000, logical: 8, node: 'n' });
});

test('hlc: the logical counter borrows the next millisecond instead of overflowing', () => {
  const clock = new HybridClock(nodeId('n'));
  clock.observe({ wallMs: 10, logical: HLC_LOGICAL_MAX, node: nodeId('m') }, 10);
  assert.deepEqual(clock.now(10), { wallMs: 11, logical: 0, node: 'n' });
});

test('hlc: equal (wallMs, logical) are ordered by node id, the same way on every replica', () => {
  const a: Hlc = { wallMs: 5, logical: 1, node: nodeId('a') };
  const b: Hlc = { wallMs: 5, logical: 1, node: nodeId('b') };
  assert.equal(compareHlc(a, b), -1);
  assert.equal(compareHlc(b, a), 1);
  assert.equal(compareHlc(a, { ...a }), 0);
  fc.assert(
    fc.property(arbHlc, arbHlc, arbHlc, (x, y, z) => {
      assert.equal(Math.sign(compareHlc(x, y)), -Math.sign(compareHlc(y, x)));
      if (compareHlc(x, y) <= 0 && compareHlc(y, z) <= 0) assert.ok(compareHlc(x, z) <= 0);
    }),
  );
});

test('hlc: negative or fractional physical times are programmer errors (RangeError)', () => {
  const clock = new HybridClock(nodeId('n'));
  assert.throws(() => clock.now(-1), RangeError);
  assert.throws(() => clock.now(1.5), RangeError);
  assert.throws(() => clock.observe({ wallMs: -3, logical: 0, node: nodeId('m') }, 0), RangeError);
});
