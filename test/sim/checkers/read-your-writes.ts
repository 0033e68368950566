/**
 * Guarantee: read-your-writes at R + W > N. When a client's put was acknowledged with W acks
 * and the same client later (invoked after the ack) reads the key with R, W + R > N, the read
 * returns the put's value unless another write that may have happened displaced it before the
 * read completed:
 *   - siblings mode: a write (invoked before the read completed) carrying the context of a read
 *     that returned the value — only causal supersession removes a sibling — and accounted for
 *     in the end state (analysis.ts), so a write that may not have happened excuses nothing;
 *   - lww mode: any other write to the key that may have happened and was invoked before the
 *     read completed (a concurrent write with a later timestamp wins, and with skewed clocks
 *     even one that finished earlier may; the read then returns that write's value, or nothing
 *     when it was a delete).
 * Every acked put of the client counts, not only the latest: in siblings mode a client's two
 * blind puts are both siblings until a context write supersedes them.
 *
 * Holds in: both modes, for each (put, read) pair with W + R > N (other pairs are skipped); the
 * checker is not applicable to a history with no such pair.
 */
import type { CheckResult, History, HistoryOp } from '../history.js';
import { describe, indexHistory, intersects, isWrite, mayHaveHappened } from './analysis.js';

export const READ_YOUR_WRITES = 'read-your-writes at R + W > N';

export function checkReadYourWrites(h: History): CheckResult {
  const name = READ_YOUR_WRITES;
  const ix = indexHistory(h);
  const violations: string[] = [];
  let pairs = 0;
  for (const [, ops] of ix.opsByKey) {
    const puts = ops.filter((o) => o.kind === 'put' && o.outcome === 'ok' && o.value !== null && o.completeMs !== null);
    for (const g of ops) {
      if (g.kind !== 'get' || g.outcome !== 'ok' || g.valuesRead === null || g.completeMs === null) continue;
      const readEndMs = g.completeMs;
      for (const p of puts) {
        if (p.client !== g.client || (p.completeMs as number) > g.invokeMs || !intersects(p, g, ix.n)) continue;
        pairs++;
        const v = p.value as string;
        if (g.valuesRead.includes(v)) continue;
        const displaced = h.config.mode === 'siblings'
          ? ix.accountedSupersedersOf(v).some((w) => w.invokeMs <= readEndMs)
          : lwwDisplaced(ops, p, g, readEndMs);
        if (!displaced) {
          violations.push(`${describe(g)} returned [${g.valuesRead.join(', ')}] without the client's own acknowledged ${describe(p)}`);
        }
      }
    }
  }
  return { name, ok: violations.length === 0, applicable: pairs > 0, violations };
}

function lwwDisplaced(ops: readonly HistoryOp[], p: HistoryOp, g: HistoryOp, readEndMs: number): boolean {
  const values = g.valuesRead ?? [];
  return ops.some((w) => {
    if (w === p || !isWrite(w) || !mayHaveHappened(w) || w.invokeMs > readEndMs) return false;
    // The displacing write is the one the read shows: its value, or nothing for a delete.
    return w.kind === 'delete' ? values.length === 0 : w.value !== null && values.includes(w.value);
  });
}
