/**
 * Guarantee of tombstone GC: a deleted key is never read again with a value written before the
 * delete — across crashes, partitions, hint replay and anti-entropy, with purges on.
 *
 * Judged from the history and the facts the simulator records (history.antiEntropy):
 *  1. storage oracle: after a purge of a dead record (tombstones or expired values) of key k,
 *     no node ever stores a record of k holding a value that record had superseded (its dot was
 *     covered by the record's context). Catches a resurrection even if no read sees it;
 *  2. reads: no get invoked after such a purge (whatever its R) returns one of those values,
 *     and neither does the final read — once every replica held the tombstone and it was
 *     purged, nothing older may come back anywhere;
 *  3. deletes, purged or not: the final read (R = ALL, after heal and drain) returns no value
 *     that an acknowledged delete superseded (the values its context read returned). This
 *     overlaps "superseded values stay gone" on purpose: it is the delete half of it, judged
 *     with tombstones being purged underneath.
 *
 * Holds in: runs with anti-entropy (history.antiEntropy present; purges when the grace is
 * set); applicable when some purge landed or some acknowledged delete with context has a final
 * read.
 */
import type { CheckResult, History } from '../history.js';
import { describe } from './analysis.js';

export const NO_RESURRECTION = 'tombstones: no deleted value comes back (purges, crashes, partitions, hints, anti-entropy)';

export function checkNoResurrection(h: History): CheckResult {
  const name = NO_RESURRECTION;
  const f = h.antiEntropy;
  if (f === undefined) return { name, ok: true, applicable: false, violations: [] };
  const violations: string[] = [...(f.resurrections ?? []).map((s) => `storage: ${s}`)];
  const purges = f.purges ?? [];
  let applicable = purges.length > 0;
  const finals = new Map(h.final.map((x) => [x.key, x]));
  for (const p of purges) {
    const gone = new Set(p.superseded);
    if (gone.size === 0) continue;
    for (const g of h.ops) {
      if (g.kind !== 'get' || g.key !== p.key || g.outcome !== 'ok' || g.valuesRead === null || g.invokeMs <= p.atMs) continue;
      const back = g.valuesRead.filter((v) => gone.has(v));
      if (back.length > 0) violations.push(`${describe(g)} returned [${back.join(', ')}] after ${p.node} purged ${p.key} at ${p.atMs}, whose record had superseded them`);
    }
    const back = (finals.get(p.key)?.values ?? []).filter((v) => gone.has(v));
    if (back.length > 0) violations.push(`final read of ${p.key} returned [${back.join(', ')}] after ${p.node} purged it at ${p.atMs}`);
  }
  for (const d of h.ops) {
    if (d.kind !== 'delete' || d.outcome !== 'ok' || d.contextFromOp === null) continue;
    const g0 = h.ops[d.contextFromOp];
    const fin = finals.get(d.key);
    if (g0 === undefined || g0.kind !== 'get' || g0.key !== d.key || g0.valuesRead === null || fin === undefined) continue;
    applicable = true;
    const back = fin.values.filter((v) => g0.valuesRead?.includes(v) === true);
    if (back.length > 0) violations.push(`final read of ${d.key} returned [${back.join(', ')}], deleted by acknowledged ${describe(d)}`);
  }
  return { name, ok: violations.length === 0, applicable, violations };
}
