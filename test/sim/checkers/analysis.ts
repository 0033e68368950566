/**
 * Shared reading of a history for the checkers: indexes, "did this write happen", quorum
 * intersection and causal supersession. Pure functions over `History` (test/sim/history.ts).
 *
 * Assumptions every checker here inherits (they hold in the simulator as configured: strict
 * quorums, coordinators are replicas of the key, the ring does not change during a run, and
 * replicas store what they ack with sync before acking):
 *  - an op that ended `fail` did not happen; `unknown` and `pending` may have happened;
 *  - a write acknowledged with W acks is durable on W replicas of the key's preference list;
 *  - a read with R answers heard from R replicas of the same list, so an acked write and a
 *    later read intersect when W + R > N.
 *
 * Supersession (siblings mode): a write carrying the context of read g supersedes exactly the
 * values g returned, plus everything those had superseded. The direct relation is enough for
 * "is v superseded by a write that may have happened": if u superseded v and w superseded u,
 * u's write happened (a read returned u) and is itself a superseder of v.
 *
 * A superseder excuses a missing value only if it is accounted for: a write that may not have
 * happened cannot explain a loss unless the end state shows it did. `accountedFor(w)`:
 *  - a put: its value is in the final read of its key, or it was itself superseded by a write
 *    that is accounted for (recursively);
 *  - a delete: acknowledged, or (outcome unknown) the final read shows none of the values it
 *    superseded, so its having happened is consistent with the end state (a tombstone is not
 *    visible, so this is the most the history can show).
 * Without a final read of the key, a put is accounted for only if it certainly happened
 * (acknowledged, or its value was read).
 */
import type { History, HistoryOp, FinalRead } from '../history.js';

export function mayHaveHappened(op: HistoryOp): boolean {
  return op.outcome !== 'fail';
}

export function isWrite(op: HistoryOp): boolean {
  return op.kind === 'put' || op.kind === 'delete';
}

/** W + R > N for an acked write followed by a read. */
export function intersects(write: HistoryOp, read: HistoryOp, n: number): boolean {
  return write.writeQuorum + read.readQuorum > n;
}

export interface HistoryIndex {
  readonly h: History;
  readonly n: number;
  /** put value -> its op (values name their writes). */
  readonly putByValue: ReadonlyMap<string, HistoryOp>;
  /** value -> writes that may have happened and carried the context of a read that returned it. */
  readonly supersededBy: ReadonlyMap<string, readonly HistoryOp[]>;
  /** key -> ops on it, in invoke order. */
  readonly opsByKey: ReadonlyMap<string, readonly HistoryOp[]>;
  /** key -> final read. */
  readonly finalByKey: ReadonlyMap<string, FinalRead>;
  /** Values returned by any read or the final reads (a put whose value was seen happened). */
  readonly observed: ReadonlySet<string>;
  /** The ok get whose context a write carried, if any. */
  contextRead(w: HistoryOp): HistoryOp | undefined;
  /** A write known to have happened: acked, or a put whose value some read returned. */
  certainlyHappened(w: HistoryOp): boolean;
  /** A write that may have happened and whose having happened the end state shows (see above). */
  accountedFor(w: HistoryOp): boolean;
  /** Writes that superseded value v and are accounted for. */
  accountedSupersedersOf(v: string): readonly HistoryOp[];
}

export function indexHistory(h: History): HistoryIndex {
  const putByValue = new Map<string, HistoryOp>();
  const opsByKey = new Map<string, HistoryOp[]>();
  const observed = new Set<string>();
  for (const op of h.ops) {
    if (op.kind === 'put' && op.value !== null) putByValue.set(op.value, op);
    const list = opsByKey.get(op.key) ?? [];
    list.push(op);
    opsByKey.set(op.key, list);
    if (op.kind === 'get' && op.valuesRead !== null) for (const v of op.valuesRead) observed.add(v);
  }
  for (const f of h.final) for (const v of f.values) observed.add(v);

  const contextRead = (w: HistoryOp): HistoryOp | undefined => {
    if (w.contextFromOp === null) return undefined;
    const g = h.ops[w.contextFromOp];
    return g !== undefined && g.kind === 'get' && g.outcome === 'ok' && g.valuesRead !== null && g.key === w.key ? g : undefined;
  };

  const supersededBy = new Map<string, HistoryOp[]>();
  for (const w of h.ops) {
    if (!isWrite(w) || !mayHaveHappened(w)) continue;
    const g = contextRead(w);
    if (g === undefined) continue;
    for (const v of g.valuesRead ?? []) {
      const list = supersededBy.get(v) ?? [];
      list.push(w);
      supersededBy.set(v, list);
    }
  }

  const finalByKey = new Map(h.final.map((f) => [f.key, f]));
  const certainlyHappened = (w: HistoryOp): boolean =>
    w.outcome === 'ok' || (w.kind === 'put' && w.value !== null && observed.has(w.value));

  const memo = new Map<number, boolean>();
  const accountedFor = (w: HistoryOp): boolean => {
    const known = memo.get(w.id);
    if (known !== undefined) return known;
    memo.set(w.id, false); // cycle guard: a write cannot account for itself
    const result = computeAccounted(w);
    memo.set(w.id, result);
    return result;
  };
  const computeAccounted = (w: HistoryOp): boolean => {
    if (!isWrite(w) || !mayHaveHappened(w)) return false;
    const f = finalByKey.get(w.key);
    if (w.kind === 'delete') {
      if (w.outcome === 'ok') return true;
      if (f === undefined) return true;
      const superseded = contextRead(w)?.valuesRead ?? [];
      return !superseded.some((v) => f.values.includes(v));
    }
    if (w.value === null) return false;
    if (f === undefined) return certainlyHappened(w);
    if (f.values.includes(w.value)) return true;
    return (supersededBy.get(w.value) ?? []).some(accountedFor);
  };

  return {
    h,
    n: h.config.replicationFactor,
    putByValue,
    supersededBy,
    opsByKey,
    finalByKey,
    observed,
    contextRead,
    certainlyHappened,
    accountedFor,
    accountedSupersedersOf: (v) => (supersededBy.get(v) ?? []).filter(accountedFor),
  };
}

export function describe(op: HistoryOp): string {
  const what = op.kind === 'get' ? `get ${op.key}` : op.kind === 'put' ? `put ${op.key}=${op.value}` : `delete ${op.key}`;
  const q = op.kind === 'get' ? `R=${op.readQuorum}` : `W=${op.writeQuorum}`;
  const ctx = op.contextFromOp !== null ? ` ctx@${op.contextFromOp}` : '';
  return `op ${op.id} (client ${op.client}, ${what}, ${q}${ctx}, ${op.outcome}, ${op.invokeMs}..${op.completeMs ?? '?'})`;
}
