/**
 * Guarantees of hinted handoff, judged from the facts the simulator records (history.handoff):
 *
 * 1. "every hint delivered or expired-and-counted, none redelivered in a way that changes data":
 *    after the heal and the drain, no node holds a hint (in memory or in its hint storage); every
 *    hinted record a fallback acked to a coordinator is contained in its owner's record at the
 *    end (delivered, or — when it expired, which the counters show — brought by the final read's
 *    repair); and a delivery of a record the owner had already acked never changes the owner's
 *    durable record (merges are idempotent, so replays and duplicates are harmless).
 * 2. Convergence of hinted keys: after the heal, the drain and the final reads (R = ALL, which
 *    repair every owner), the owners of every key that received hinted writes hold equal
 *    records. Checked for hinted keys only: without anti-entropy a key nobody reads after the
 *    heal may legitimately differ between replicas (an unsynced repair lost in a crash).
 *
 * Holds in: runs with sloppy quorum (history.handoff present); otherwise not applicable.
 */
import type { CheckResult, History } from '../history.js';

export const HINTS_ACCOUNTED = 'hints: delivered or expired, none lost, redelivery changes nothing';
export const HINTED_KEYS_CONVERGE = 'hints: replicas of hinted keys converge after heal and drain';

export function checkHintsAccounted(h: History): CheckResult {
  const name = HINTS_ACCOUNTED;
  const f = h.handoff;
  if (f === undefined) return { name, ok: true, applicable: false, violations: [] };
  const violations = [
    ...f.heldAfterDrain.map((s) => `after the drain ${s}`),
    ...f.missingAtOwner.map((s) => `acked hinted record missing at its owner: ${s}`),
    ...f.redeliveriesChangingData.map((s) => `a redelivered hint changed the owner's record: ${s}`),
  ];
  if (f.delivered + f.expired > f.written) violations.push(`delivered ${f.delivered} + expired ${f.expired} > written ${f.written}`);
  return { name, ok: violations.length === 0, applicable: f.written > 0, violations };
}

export function checkHintedKeysConverge(h: History): CheckResult {
  const name = HINTED_KEYS_CONVERGE;
  const f = h.handoff;
  if (f === undefined) return { name, ok: true, applicable: false, violations: [] };
  const violations = f.hintedKeysDiverged.map((s) => `replicas differ for hinted key ${s}`);
  return { name, ok: violations.length === 0, applicable: f.hintedKeys > 0, violations };
}
