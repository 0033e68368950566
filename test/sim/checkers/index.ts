/**
 * The simulator's dedicated checkers. Each is a `Checker` (test/sim/history.ts): a pure function
 * of a recorded history (with its final reads) returning { name, ok, applicable, violations }.
 * Each file's header states the guarantee and the configuration it holds in; a checker whose
 * precondition does not hold for a run returns applicable: false and ok: true.
 */
import type { Checker, CheckResult, History } from '../history.js';
import { checkNoLostWrites } from './no-lost-writes.js';
import { checkNoPhantomReads } from './no-phantom-reads.js';
import { checkReadYourWrites } from './read-your-writes.js';
import { checkSiblingBound, checkSupersededStayGone } from './siblings.js';

export { checkNoLostWrites, NO_LOST_WRITES } from './no-lost-writes.js';
export { checkNoPhantomReads, NO_PHANTOM_READS } from './no-phantom-reads.js';
export { checkReadYourWrites, READ_YOUR_WRITES } from './read-your-writes.js';
export { checkSiblingBound, checkSupersededStayGone, SIBLING_BOUND, SUPERSEDED_STAY_GONE } from './siblings.js';

export const SIM_CHECKERS: readonly Checker[] = [
  checkNoLostWrites,
  checkNoPhantomReads,
  checkReadYourWrites,
  checkSiblingBound,
  checkSupersededStayGone,
];

export function runCheckers(h: History, checkers: readonly Checker[] = SIM_CHECKERS): CheckResult[] {
  return checkers.map((c) => c(h));
}
