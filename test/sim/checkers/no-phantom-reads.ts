/**
 * Guarantee: no read returns a value that was never written. Every value a get (or the final
 * read) returns was written to that same key by a put that may have happened (not `fail`) and
 * was invoked before the read completed; and one read never returns the same value twice (a
 * value names one write, so one dot: a duplicate would be a duplicated sibling).
 *
 * Holds in: every mode and configuration.
 */
import type { CheckResult, History } from '../history.js';
import { describe, indexHistory, mayHaveHappened } from './analysis.js';

export const NO_PHANTOM_READS = 'no read returns a value never written';

export function checkNoPhantomReads(h: History): CheckResult {
  const name = NO_PHANTOM_READS;
  const ix = indexHistory(h);
  const violations: string[] = [];
  const check = (where: string, key: string, values: readonly string[], endMs: number | null): void => {
    const seen = new Set<string>();
    for (const v of values) {
      if (seen.has(v)) violations.push(`${where}: returned ${v} twice`);
      seen.add(v);
      const w = ix.putByValue.get(v);
      if (w === undefined) violations.push(`${where}: returned ${key}=${v}, a value no put wrote`);
      else if (w.key !== key) violations.push(`${where}: returned ${key}=${v}, which ${describe(w)} wrote to another key`);
      else if (!mayHaveHappened(w)) violations.push(`${where}: returned ${key}=${v}, written by ${describe(w)} which failed (did not happen)`);
      else if (endMs !== null && w.invokeMs > endMs) violations.push(`${where}: returned ${key}=${v} before ${describe(w)} was invoked`);
    }
  };
  for (const g of h.ops) {
    if (g.kind !== 'get' || g.outcome !== 'ok' || g.valuesRead === null) continue;
    check(describe(g), g.key, g.valuesRead, g.completeMs);
  }
  for (const f of h.final) check(`final read of ${f.key}`, f.key, f.values, null);
  return { name, ok: violations.length === 0, applicable: true, violations };
}
