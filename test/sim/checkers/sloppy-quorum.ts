/**
 * Quorum-intersection guarantees under sloppy quorum. Reads ask only the preference list, so a
 * write acked partly by fallbacks holding hints (hintedAcks > 0) may sit on fewer than W owners
 * until its hints are delivered: R + W > N then guarantees nothing for it — not read-your-writes,
 * not that a later read's context covers it (so a context write may not supersede it), not
 * that a W = N write was on all replicas. What holds, and what a checker wrapped by
 * `ownersOnly` checks, is each such guarantee for the writes acked by owners alone; hinted
 * writes are treated as "may have happened" (outcome unknown), so they can still supersede and
 * be superseded. Checkers that need no intersection (no lost write at the final R = ALL read, no
 * phantom reads, sibling bounds) judge hinted writes unchanged.
 *
 * Holds in: any run; in strict runs no write carries hintedAcks and the wrapped checker judges
 * the history unchanged.
 */
import type { Checker, CheckResult, History } from '../history.js';

export function ownersOnly(check: Checker): Checker {
  return (h: History): CheckResult => {
    if (!h.ops.some((o) => (o.hintedAcks ?? 0) > 0)) return check(h);
    const ops = h.ops.map((o) => ((o.hintedAcks ?? 0) > 0 && o.outcome === 'ok' ? { ...o, outcome: 'unknown' as const } : o));
    return check({ ...h, ops });
  };
}
