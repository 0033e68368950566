/**
 * Guarantee of Merkle anti-entropy, judged from the facts the simulator records
 * (history.antiEntropy): after faults stop (the heal: partitions end, loss ends, crashed nodes
 * restart), every key's replicas converge to equal records — equal version sets — within the
 * stated bound of simulated time (`boundMs`, CONVERGENCE_BOUND_MS in simulation.ts), for EVERY
 * key any replica stores, including keys no client reads. The simulator judges this before the
 * final R = ALL reads, so read repair cannot do anti-entropy's work. At the moment of
 * convergence each replica's Merkle tree must also agree with its storage (equal roots for
 * shared slots follow from equal records then).
 *
 * Holds in: runs with anti-entropy enabled (history.antiEntropy present); otherwise not applicable.
 */
import type { CheckResult, History } from '../history.js';

export const REPLICAS_CONVERGE = 'anti-entropy: after faults stop, every key\'s replicas converge to equal version sets within the bound, read or not';

export function checkReplicasConverge(h: History): CheckResult {
  const name = REPLICAS_CONVERGE;
  const f = h.antiEntropy;
  if (f === undefined) return { name, ok: true, applicable: false, violations: [] };
  const violations = [
    ...f.divergedAtBound.map((s) => `replicas still differ ${f.boundMs} ms after the heal: ${s}`),
    ...f.treeMismatches.map((s) => `Merkle tree does not follow storage: ${s}`),
  ];
  if (f.convergedMs === null && f.divergedAtBound.length === 0) violations.push('convergence was never judged (the run ended before the drain check)');
  if (f.convergedMs !== null && f.convergedMs > f.boundMs) violations.push(`converged after ${f.convergedMs} ms > bound ${f.boundMs} ms`);
  return { name, ok: violations.length === 0, applicable: true, violations };
}
