/**
 * Guarantee: a ring change (join, decommission, remove) run under load and faults completes and
 * leaves the cluster in one consistent shape. After heal and drain:
 *  - the change committed, and every live node holds the same committed ring (same version and
 *    proposal id): the newest ring spread to everyone;
 *  - the stream moved only the slots that change owners: no gainer received a key outside its
 *    gained slots;
 *  - no live node still holds a record of a slot it does not own: everything a loser held was
 *    handed off and purged (and only after the commit: the purge waits for the owners' acks).
 * The data guarantees (no acknowledged write lost, no phantom reads, replicas converge) are the
 * other checkers', which run on the same history with the final ring's owners.
 *
 * Holds in: runs with a topology scenario (`history.topology` set); otherwise not applicable.
 */
import type { CheckResult, History } from '../history.js';

export const TOPOLOGY_CHANGE = 'ring change commits, spreads to every node, streams only moving slots and leaves no stray records';

export function checkTopologyChange(h: History): CheckResult {
  const name = TOPOLOGY_CHANGE;
  const t = h.topology;
  if (t === undefined) return { name, ok: true, applicable: false, violations: [] };
  const violations: string[] = [];
  if (t.startedAtMs === null) violations.push(`${t.change}: never started`);
  if (t.committedAtMs === null) violations.push(`${t.change}: never committed`);
  for (const d of t.disagreeing) violations.push(`${t.change}: ${d} at the end`);
  for (const o of t.streamedOutsideGained.slice(0, 20)) violations.push(`streamed outside the gained slots: ${o}`);
  for (const r of t.strayRecords.slice(0, 20)) violations.push(`stray record after the change: ${r}`);
  if (t.movedKeys > t.idealMovedKeys) violations.push(`moved ${t.movedKeys} (gainer, key) pairs, more than the ${t.idealMovedKeys} that change owners`);
  return { name, ok: violations.length === 0, applicable: true, violations };
}
