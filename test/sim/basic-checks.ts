/**
 * The one check kept from the simple checkers written with the simulator. The others were
 * removed because the dedicated checkers (test/sim/checkers/) cover them with a stricter rule,
 * so as a "second opinion" they could only ever pass where a dedicated one already failed:
 *  - no acknowledged write lost  -> checkers/no-lost-writes.ts. The simple version excused a
 *    missing value by any superseding write that MAY have happened; the dedicated one only by
 *    a superseder the final state accounts for (checkers/analysis.ts), and it also fails an
 *    acknowledged put whose key the final phase did not read;
 *  - no phantom reads            -> checkers/no-phantom-reads.ts (same rule, plus duplicates);
 *  - read-your-writes            -> checkers/read-your-writes.ts (every own acknowledged put,
 *    not only the latest; accounted superseders; lww mode too);
 *  - sibling bound               -> checkers/siblings.ts (also the stored sibling count).
 *
 * Kept: LWW mode, a write acknowledged by ALL replicas loses to any write invoked after that
 * acknowledgement which succeeded. Whichever replica coordinates the later write holds the
 * earlier one (all do), and it stamps past the timestamps it holds, so the later write's HLC is
 * greater whatever the clocks' skew. So the final read never shows such an overtaken value.
 * Holds in: lww mode (not applicable in siblings mode).
 */
import type { CheckResult, History } from './history.js';

export function checkLwwLaterWriteWins(h: History): CheckResult {
  const name = 'lww: a later successful write beats one acknowledged by all replicas';
  if (h.config.mode !== 'lww') return { name, ok: true, applicable: false, violations: [] };
  const finals = new Map(h.final.map((f) => [f.key, new Set(f.values)]));
  const violations: string[] = [];
  for (const w1 of h.ops) {
    if (w1.kind !== 'put' || w1.outcome !== 'ok' || w1.value === null || w1.writeQuorum < h.config.replicationFactor) continue;
    if (finals.get(w1.key)?.has(w1.value) !== true) continue;
    const later = h.ops.find((w2) => w2.key === w1.key && w2.kind !== 'get' && w2.outcome === 'ok' && w2.invokeMs > (w1.completeMs ?? Infinity));
    if (later !== undefined) {
      violations.push(`final read of ${w1.key} shows ${w1.value} (op ${w1.id}, acked by all at ${w1.completeMs}) though op ${later.id} (${later.kind}) was invoked after it at ${later.invokeMs} and succeeded`);
    }
  }
  return { name, ok: violations.length === 0, applicable: true, violations };
}

export const BASIC_CHECKERS = [checkLwwLaterWriteWins] as const;
