/**
 * Guarantee: in siblings mode, no acknowledged write is lost. After healing, draining and a
 * final read at R = ALL, every put acknowledged to its client is in the final values of its key,
 * or causally superseded by a write that is accounted for in the final state (analysis.ts): a
 * superseding write that may not have happened excuses nothing unless the end state shows it did
 * (Jepsen's set-full, with supersession standing in for removal).
 *
 * Holds in: siblings mode, with the final phase run (`history.final` non-empty). The final read
 * is at R = ALL, so R + W > N holds for it whatever quorum each write used; durability of what a
 * replica acks is assumed (see analysis.ts). Not applicable in lww mode, where a concurrent
 * write with a later timestamp legitimately replaces an acknowledged one.
 */
import type { CheckResult, History } from '../history.js';
import { describe, indexHistory } from './analysis.js';

export const NO_LOST_WRITES = 'no acknowledged write is lost (siblings, final read at ALL)';

export function checkNoLostWrites(h: History): CheckResult {
  const name = NO_LOST_WRITES;
  if (h.config.mode !== 'siblings' || h.final.length === 0) return { name, ok: true, applicable: false, violations: [] };
  const ix = indexHistory(h);
  const violations: string[] = [];
  for (const p of h.ops) {
    if (p.kind !== 'put' || p.outcome !== 'ok' || p.value === null) continue;
    const f = ix.finalByKey.get(p.key);
    if (f === undefined) {
      violations.push(`${describe(p)}: acknowledged, but the final phase did not read key ${p.key}`);
      continue;
    }
    if (f.values.includes(p.value)) continue;
    if (ix.accountedSupersedersOf(p.value).length > 0) continue;
    const unaccounted = (ix.supersededBy.get(p.value) ?? []).map((w) => w.id);
    const why = unaccounted.length === 0
      ? 'no write that may have happened superseded it'
      : `its superseders (ops ${unaccounted.join(', ')}) are not accounted for in the final state`;
    violations.push(`${describe(p)}: acknowledged value ${p.value} is missing from the final read [${f.values.join(', ')}] and ${why}`);
  }
  return { name, ok: violations.length === 0, applicable: true, violations };
}
