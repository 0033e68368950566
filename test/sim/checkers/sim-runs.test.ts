import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECKERS, DEFAULT_SIM } from '../run.js';
import { runSimulation } from '../simulation.js';
import { runCheckers } from './index.js';

// The checkers against real seeded runs (faults on): a correct cluster must pass every one, and
// the ones that apply to the mode must actually apply (a checker that never applies proves nothing).
// The same list the simulator CLI judges with (run.ts): puts with a TTL may legitimately vanish.
for (const [mode, seeds, mustApply] of [
  ['siblings', [1, 2, 3, 4, 5], 5],
  ['lww', [1, 2, 3], 3],
] as const) {
  test(`checkers: seeded ${mode} simulations with faults pass every applicable checker`, () => {
    for (const seed of seeds) {
      const r = runSimulation({ ...DEFAULT_SIM, mode, seed });
      assert.equal(r.error, null, `seed ${seed}`);
      const results = runCheckers(r.history, CHECKERS);
      for (const c of results) assert.deepEqual(c.violations, [], `seed ${seed}: ${c.name}`);
      assert.ok(results.filter((c) => c.applicable).length >= mustApply, `seed ${seed}: too few checkers applied`);
    }
  });
}
