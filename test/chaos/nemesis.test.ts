/**
 * Partition shapes of the fault harness's nemesis, without namespaces: each kind cuts the pairs
 * its name promises, cuts are symmetric, and a seed always draws the same partition.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Prng } from '../sim/prng.js';
import { partitionGrudge, type Grudge } from './nemesis.js';

const HOSTS = [1, 2, 3, 4, 5];

function cut(g: Grudge, a: number, b: number): boolean {
  return g.get(a)?.has(b) ?? false;
}

function assertSymmetric(g: Grudge): void {
  for (const a of HOSTS) for (const b of HOSTS) assert.equal(cut(g, a, b), cut(g, b, a), `${a}<->${b} cut one way only`);
}

/** Hosts reachable from `a` (itself included). */
function reach(g: Grudge, a: number): number[] {
  return HOSTS.filter((b) => b === a || !cut(g, a, b));
}

describe('chaos nemesis: partition shapes', () => {
  it('halves: two sides of 2 and 3, every cross pair cut, every same-side pair open', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { grudge } = partitionGrudge('halves', HOSTS, new Prng(seed));
      assertSymmetric(grudge);
      const sizes = HOSTS.map((h) => reach(grudge, h).length).sort();
      assert.deepEqual(sizes, [2, 2, 3, 3, 3]);
    }
  });

  it('isolated: one host reaches nobody, the other four reach each other', () => {
    const { grudge } = partitionGrudge('isolated', HOSTS, new Prng(3));
    assertSymmetric(grudge);
    assert.deepEqual(HOSTS.map((h) => reach(grudge, h).length).sort(), [1, 4, 4, 4, 4]);
  });

  it('bridge: one host reaches all, the others reach only their side and the bridge', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { grudge } = partitionGrudge('bridge', HOSTS, new Prng(seed));
      assertSymmetric(grudge);
      const bridges = HOSTS.filter((h) => reach(grudge, h).length === 5);
      assert.equal(bridges.length, 1);
      assert.deepEqual(HOSTS.filter((h) => !bridges.includes(h)).map((h) => reach(grudge, h).length), [3, 3, 3, 3]);
    }
  });

  it('ring: every host reaches itself and two neighbours (a majority), and no two hosts reach the same majority', () => {
    const { grudge } = partitionGrudge('ring', HOSTS, new Prng(5));
    assertSymmetric(grudge);
    const views = HOSTS.map((h) => reach(grudge, h).join(','));
    for (const v of views) assert.equal(v.split(',').length, 3);
    assert.equal(new Set(views).size, 5);
  });

  it('a seed always draws the same partition', () => {
    const a = partitionGrudge('halves', HOSTS, new Prng(42)).detail;
    const b = partitionGrudge('halves', HOSTS, new Prng(42)).detail;
    assert.equal(a, b);
  });
});
