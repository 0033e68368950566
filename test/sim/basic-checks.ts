/**
 * Simple checkers over a simulation history, used until (and beside) the dedicated ones in
 * test/sim/checkers/. Each states the guarantee it checks and when it applies.
 *
 * Supersession rule used throughout: a value v is causally superseded when some write that may
 * have happened (outcome ok, unknown or pending) carried the context of a read that returned v.
 * That is exact for the first removal of v anywhere: before v is removed, every record whose
 * context covers v's dot still holds v, so any context covering v came from a read that saw v.
 */
import type { CheckResult, History, HistoryOp } from './history.js';

function mayHaveHappened(op: HistoryOp): boolean {
  return op.outcome !== 'fail';
}

/** value -> ops (writes with context) that supersede it. */
function supersessions(h: History): Map<string, HistoryOp[]> {
  const byId = h.ops;
  const out = new Map<string, HistoryOp[]>();
  for (const w of h.ops) {
    if (w.kind === 'get' || w.contextFromOp === null || !mayHaveHappened(w)) continue;
    const read = byId[w.contextFromOp];
    if (read === undefined || read.valuesRead === null) continue;
    for (const v of read.valuesRead) {
      const list = out.get(v) ?? [];
      list.push(w);
      out.set(v, list);
    }
  }
  return out;
}

/** (1) Siblings mode: every acknowledged put is in the final read of its key or superseded. */
export function checkNoLostAckedWrites(h: History): CheckResult {
  const name = 'basic: no acknowledged write lost';
  if (h.config.mode !== 'siblings') return { name, ok: true, applicable: false, violations: [] };
  const sup = supersessions(h);
  const finals = new Map(h.final.map((f) => [f.key, new Set(f.values)]));
  const violations: string[] = [];
  for (const op of h.ops) {
    if (op.kind !== 'put' || op.outcome !== 'ok' || op.value === null) continue;
    if (finals.get(op.key)?.has(op.value) === true) continue;
    if ((sup.get(op.value) ?? []).length > 0) continue;
    violations.push(`op ${op.id}: acked put ${op.key}=${op.value} (W=${op.writeQuorum}) is missing from the final read and not superseded`);
  }
  return { name, ok: violations.length === 0, applicable: true, violations };
}

/** (2) Every value read was written by a put that may have happened and was invoked before the read ended. */
export function checkNoPhantomReads(h: History): CheckResult {
  const name = 'basic: no read returns a value never written';
  const puts = new Map<string, HistoryOp>();
  for (const op of h.ops) if (op.kind === 'put' && op.value !== null) puts.set(op.value, op);
  const violations: string[] = [];
  const check = (where: string, key: string, v: string, endMs: number | null) => {
    const w = puts.get(v);
    if (w === undefined) violations.push(`${where}: read ${key}=${v}, a value no put wrote`);
    else if (w.key !== key) violations.push(`${where}: read ${key}=${v}, written to ${w.key}`);
    else if (!mayHaveHappened(w)) violations.push(`${where}: read ${key}=${v}, written by op ${w.id} which failed (did not happen)`);
    else if (endMs !== null && w.invokeMs > endMs) violations.push(`${where}: read ${key}=${v} before op ${w.id} wrote it`);
  };
  for (const op of h.ops) {
    if (op.kind !== 'get' || op.valuesRead === null) continue;
    for (const v of op.valuesRead) check(`op ${op.id}`, op.key, v, op.completeMs);
  }
  for (const f of h.final) for (const v of f.values) check('final read', f.key, v, null);
  return { name, ok: violations.length === 0, applicable: true, violations };
}

/** (3) Siblings mode, R + W > N: a client's read sees its own earlier acked put (or a write that superseded it). */
export function checkReadYourWrites(h: History): CheckResult {
  const name = 'basic: read-your-writes at R + W > N';
  if (h.config.mode !== 'siblings') return { name, ok: true, applicable: false, violations: [] };
  const sup = supersessions(h);
  const violations: string[] = [];
  const events = h.ops.filter((o) => o.outcome !== 'pending');
  // Walk in invoke order; a put counts once it completed before the read was invoked.
  for (const r of events) {
    if (r.kind !== 'get' || r.outcome !== 'ok' || r.valuesRead === null) continue;
    let own: HistoryOp | undefined;
    for (const w of events) {
      if (w.client !== r.client || w.key !== r.key || w.kind !== 'put' || w.outcome !== 'ok') continue;
      if ((w.completeMs ?? Infinity) > r.invokeMs) continue;
      if (own === undefined || (w.completeMs ?? 0) > (own.completeMs ?? 0)) own = w;
    }
    if (own === undefined || own.value === null) continue;
    if (r.readQuorum + own.writeQuorum <= r.replicationFactor) continue;
    if (r.valuesRead.includes(own.value)) continue;
    const by = (sup.get(own.value) ?? []).filter((s) => s.invokeMs <= (r.completeMs ?? Infinity));
    if (by.length > 0) continue;
    violations.push(`op ${r.id}: client ${r.client} read ${r.key} (R=${r.readQuorum}) without its acked op ${own.id} value ${own.value} (W=${own.writeQuorum})`);
  }
  return { name, ok: violations.length === 0, applicable: true, violations };
}

/**
 * (4) Sibling bound: a coordinating replica refuses blind writes past siblingsMax, but merges of
 * concurrent writes from up to N replicas are never refused, so a read may hold at most
 * N × siblingsMax values.
 */
export function checkSiblingBound(h: History): CheckResult {
  const name = 'basic: siblings stay within N x siblingsMax';
  const bound = h.config.mode === 'lww' ? 1 : h.config.replicationFactor * h.config.siblingsMax;
  const violations: string[] = [];
  for (const op of h.ops) {
    if (op.valuesRead !== null && op.valuesRead.length > bound) violations.push(`op ${op.id}: ${op.valuesRead.length} siblings > ${bound}`);
  }
  for (const f of h.final) if (f.values.length > bound) violations.push(`final ${f.key}: ${f.values.length} siblings > ${bound}`);
  return { name, ok: violations.length === 0, applicable: true, violations };
}

/**
 * (5) LWW mode: a write acknowledged by ALL replicas loses to any write invoked after that
 * acknowledgement which succeeded. Whichever replica coordinates the later write holds the
 * earlier one (all do), and it stamps past the timestamps it holds, so the later write's HLC is
 * greater whatever the clocks' skew. So the final read never shows such an overtaken value.
 */
export function checkLwwLaterWriteWins(h: History): CheckResult {
  const name = 'basic: lww — a later successful write beats one acknowledged by all replicas';
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

export const BASIC_CHECKERS = [checkNoLostAckedWrites, checkNoPhantomReads, checkReadYourWrites, checkSiblingBound, checkLwwLaterWriteWins] as const;
