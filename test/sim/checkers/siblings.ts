/**
 * Two guarantees about siblings.
 *
 * (1) Bound. A coordinating replica refuses any write that would leave more than siblingsMax
 * siblings in its record; merges are never refused, but each node's dots number at most
 * siblingsMax in any record (src/core/versioning/dvvset.ts), and only the N replicas of a key
 * coordinate its writes. So no read returns more than siblingsMax x N values, and no final
 * record holds more than that many siblings, tombstones included. In lww mode: at most one.
 * Holds in: both modes, with coordinators restricted to the key's replicas and a ring that does
 * not change during the run (true in the simulator).
 *
 * (2) Superseded values stay gone; a read-modify-write collapses siblings. When a write w that
 * carried the context of read g0 was acknowledged, a later read g (invoked after w's ack) with
 * W + R > N never returns a value w superseded: the values g0 returned, puts acknowledged
 * before g0 was invoked with W + R(g0) > N (g0's context covered them), and what those had
 * superseded in turn. The final read (R = ALL) obeys the same for every write known to have
 * happened (acked, or whose value was seen). And when no other write to the key may have happened in the window (writes that g0 returned
 * or must have seen excepted), the read returns exactly w's value — one sibling — or nothing if
 * w was a delete.
 * Holds in: siblings mode, pairs with W + R > N (the final read always qualifies).
 */
import type { CheckResult, History, HistoryOp } from '../history.js';
import { describe, indexHistory, intersects, isWrite, mayHaveHappened, type HistoryIndex } from './analysis.js';

export const SIBLING_BOUND = 'siblings stay within siblingsMax x N';
export const SUPERSEDED_STAY_GONE = 'superseded values stay gone; read-modify-write collapses siblings';

export function checkSiblingBound(h: History): CheckResult {
  const name = SIBLING_BOUND;
  const bound = h.config.mode === 'lww' ? 1 : h.config.siblingsMax * h.config.replicationFactor;
  const violations: string[] = [];
  for (const g of h.ops) {
    if (g.kind === 'get' && g.outcome === 'ok' && g.valuesRead !== null && g.valuesRead.length > bound) {
      violations.push(`${describe(g)} returned ${g.valuesRead.length} values > bound ${bound}`);
    }
  }
  for (const f of h.final) {
    if (f.values.length > bound) violations.push(`final read of ${f.key} returned ${f.values.length} values > bound ${bound}`);
    if (f.siblingCount !== null && f.siblingCount > bound) violations.push(`final record of ${f.key} holds ${f.siblingCount} siblings > bound ${bound}`);
    if (f.siblingCount !== null && f.siblingCount < f.values.length) {
      violations.push(`final record of ${f.key} holds ${f.siblingCount} siblings but the read returned ${f.values.length} values`);
    }
  }
  return { name, ok: violations.length === 0, applicable: true, violations };
}

/**
 * Values w superseded through its context read g0: what g0 returned, puts acknowledged before g0
 * was invoked with a quorum g0 intersects, and, closing over those, every value a write among
 * them had superseded. (A context that covers a write's dot descends from the record that write
 * produced, so it also covers what that write superseded.)
 */
function supersededValues(ix: HistoryIndex, w: HistoryOp, g0: HistoryOp): Set<string> {
  const gone = new Set(g0.valuesRead ?? []);
  const seenWrites: HistoryOp[] = [];
  for (const u of ix.opsByKey.get(w.key) ?? []) {
    if (u === w || !isWrite(u)) continue;
    const acked = u.outcome === 'ok' && u.completeMs !== null && u.completeMs <= g0.invokeMs && intersects(u, g0, ix.n);
    if (acked) {
      seenWrites.push(u);
      if (u.value !== null) gone.add(u.value);
    }
  }
  for (const v of gone) {
    const u = ix.putByValue.get(v);
    if (u !== undefined && !seenWrites.includes(u)) seenWrites.push(u);
  }
  // Fixpoint: a seen write's context read values are gone too, and their puts are seen writes.
  for (let i = 0; i < seenWrites.length; i++) {
    const u = seenWrites[i] as HistoryOp;
    for (const v of ix.contextRead(u)?.valuesRead ?? []) {
      if (gone.has(v)) continue;
      gone.add(v);
      const p = ix.putByValue.get(v);
      if (p !== undefined && !seenWrites.includes(p)) seenWrites.push(p);
    }
  }
  return gone;
}

/**
 * No other write to the key may have happened between g0 and g, except writes w superseded
 * (their values are in `gone`) and deletes g0 must have seen (acknowledged before g0 was
 * invoked, quorums intersecting).
 */
function quiet(ix: HistoryIndex, w: HistoryOp, g0: HistoryOp, gone: ReadonlySet<string>, readEndMs: number): boolean {
  for (const u of ix.opsByKey.get(w.key) ?? []) {
    if (u === w || !isWrite(u) || !mayHaveHappened(u) || u.invokeMs > readEndMs) continue;
    if (u.kind === 'put' && u.value !== null && gone.has(u.value)) continue;
    const ackedBeforeG0 = u.outcome === 'ok' && u.completeMs !== null && u.completeMs <= g0.invokeMs && intersects(u, g0, ix.n);
    if (!ackedBeforeG0) return false;
  }
  return true;
}

export function checkSupersededStayGone(h: History): CheckResult {
  const name = SUPERSEDED_STAY_GONE;
  if (h.config.mode !== 'siblings') return { name, ok: true, applicable: false, violations: [] };
  const ix = indexHistory(h);
  const violations: string[] = [];
  let applicable = false;
  for (const w of h.ops) {
    if (!isWrite(w)) continue;
    const g0 = ix.contextRead(w);
    if (g0 === undefined) continue;
    const gone = supersededValues(ix, w, g0);
    if (w.outcome === 'ok' && w.completeMs !== null) {
      const ackMs = w.completeMs;
      for (const g of ix.opsByKey.get(w.key) ?? []) {
        if (g.kind !== 'get' || g.outcome !== 'ok' || g.valuesRead === null || g.completeMs === null) continue;
        if (g.invokeMs < ackMs || !intersects(w, g, ix.n)) continue;
        applicable = true;
        const back = g.valuesRead.filter((v) => gone.has(v));
        if (back.length > 0) violations.push(`${describe(g)} returned [${back.join(', ')}], superseded by acknowledged ${describe(w)}`);
        if (quiet(ix, w, g0, gone, g.completeMs)) {
          const expected = w.kind === 'put' && w.value !== null ? [w.value] : [];
          if (g.valuesRead.length !== expected.length || !expected.every((v) => g.valuesRead?.includes(v))) {
            violations.push(`${describe(g)} returned [${g.valuesRead.join(', ')}] after a quiet read-modify-write ${describe(w)}; expected exactly [${expected.join(', ')}]`);
          }
        }
      }
    }
    if (ix.certainlyHappened(w)) {
      const f = ix.finalByKey.get(w.key);
      if (f === undefined) continue;
      applicable = true;
      const back = f.values.filter((v) => gone.has(v));
      if (back.length > 0) violations.push(`final read of ${w.key} returned [${back.join(', ')}], superseded by ${describe(w)}`);
    }
  }
  return { name, ok: violations.length === 0, applicable, violations };
}
