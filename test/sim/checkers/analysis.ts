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

  return {
    h,
    n: h.config.replicationFactor,
    putByValue,
    supersededBy,
    opsByKey,
    finalByKey: new Map(h.final.map((f) => [f.key, f])),
    observed,
    contextRead,
    certainlyHappened: (w) => w.outcome === 'ok' || (w.kind === 'put' && w.value !== null && observed.has(w.value)),
  };
}

export function describe(op: HistoryOp): string {
  const what = op.kind === 'get' ? `get ${op.key}` : op.kind === 'put' ? `put ${op.key}=${op.value}` : `delete ${op.key}`;
  const q = op.kind === 'get' ? `R=${op.readQuorum}` : `W=${op.writeQuorum}`;
  const ctx = op.contextFromOp !== null ? ` ctx@${op.contextFromOp}` : '';
  return `op ${op.id} (client ${op.client}, ${what}, ${q}${ctx}, ${op.outcome}, ${op.invokeMs}..${op.completeMs ?? '?'})`;
}
