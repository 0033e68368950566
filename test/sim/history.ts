/**
 * The history a simulation run records, and the only thing checkers read (with the final
 * state). One entry per client operation, Jepsen style: written at invoke, completed with
 * ok / fail / unknown (or left pending when the run ended first).
 *
 * Conventions the checkers rely on:
 * - Every value a put writes is unique within a run (`c<client>-<n>`), so a value names its write.
 * - `fail` means the operation did NOT happen (ERR_UNAVAILABLE, ERR_OVERLOADED, ERR_TIMEOUT on a
 *   read, ERR_TOO_MANY_SIBLINGS ...); `unknown` means it MAY have happened (ERR_MAYBE_APPLIED, or the
 *   client gave up waiting — e.g. its coordinator crashed). Reads never end `unknown`.
 * - A write "with context" names the read whose context it used (`contextFromOp`); that write, if it
 *   happened, causally supersedes exactly the values that read returned (plus whatever those values
 *   had already superseded). A blind write (`contextFromOp === null`) supersedes nothing.
 * - A delete is a write of `null` (a tombstone): with a context it supersedes what the read saw.
 * - Times are simulated milliseconds on the simulator's global clock (not a node's skewed clock).
 * - `readQuorum` / `writeQuorum` are resolved to replica counts; `replicationFactor` is N.
 *
 * Plain JSON-able data: a failing seed can dump its history to a file for offline checking.
 */

export type OpKind = 'get' | 'put' | 'delete';
export type Outcome = 'ok' | 'fail' | 'unknown' | 'pending';

export interface HistoryOp {
  /** Unique within a run, increasing in invoke order. */
  readonly id: number;
  readonly client: number;
  /** The node the client sent the request to (the coordinator it chose). */
  readonly node: string;
  readonly kind: OpKind;
  readonly key: string;
  /** put: the value written; delete: null; get: null. */
  readonly value: string | null;
  /** For put/delete: the id of the get whose context this write carried, or null (blind write). */
  readonly contextFromOp: number | null;
  /** The opaque context token sent (base64), or null. For diagnostics only. */
  readonly context: string | null;
  readonly replicationFactor: number;
  /** Replicas a get waits for (R), resolved to a count; 0 for writes. */
  readonly readQuorum: number;
  /** Acks a put/delete waits for (W), resolved to a count; 0 for gets. */
  readonly writeQuorum: number;
  readonly invokeMs: number;
  completeMs: number | null;
  outcome: Outcome;
  /** Error code when outcome is fail/unknown (e.g. 'ERR_UNAVAILABLE', 'ERR_MAYBE_APPLIED', 'CLIENT_TIMEOUT'). */
  errorCode: string | null;
  /** get ok: the live values returned (sibling values; empty = not found / deleted). */
  valuesRead: string[] | null;
  /** get ok: the context token returned (base64). */
  contextRead: string | null;
  /** put/delete ok: acks that came from fallbacks holding hints (sloppy quorum); absent = 0. */
  hintedAcks?: number;
  /**
   * put with a TTL: when its value expires, in simulated ms (the simulator's global clock; node
   * clocks are skewed). Absent = never. Until then reads may return it; after it plus the
   * clock-skew bound they must not.
   */
  readonly expiresAtMs?: number;
}

/** What the final reads (at R = ALL, after healing and draining) returned per key. */
export interface FinalRead {
  readonly key: string;
  /** Live values (siblings) of the merged record. */
  readonly values: string[];
  /** Sibling count including tombstones, when the simulator could see it (else null). */
  readonly siblingCount: number | null;
}

export interface RunConfig {
  readonly seed: number;
  readonly nodes: number;
  readonly replicationFactor: number;
  readonly mode: 'siblings' | 'lww';
  readonly siblingsMax: number;
  /** Sloppy quorum with hinted handoff (absent = strict, the only mode before hints). */
  readonly sloppy?: boolean;
  /** Most a node's clock is off the simulator's (TTL judgements allow for it); absent = 0. */
  readonly clockSkewMaxMs?: number;
}

/**
 * What the simulator saw of hinted handoff (absent in histories recorded without it). Counts sum
 * over every node incarnation; the lists name the broken facts, empty when all held.
 */
export interface HandoffFacts {
  readonly written: number;
  readonly delivered: number;
  readonly expired: number;
  readonly refused: number;
  /** Hints acked to a coordinator (durable on their holder). */
  readonly acked: number;
  /** Simulated ms from the heal to the moment no node held a hint; null if none were held. */
  readonly drainMs: number | null;
  /** Hints still held (memory or disk) after the drain. */
  readonly heldAfterDrain: string[];
  /** Acked hinted records their owner does not contain at the end (neither delivered nor repaired). */
  readonly missingAtOwner: string[];
  /** A hint delivered again after its owner acked it, and the merge changed the owner's record. */
  readonly redeliveriesChangingData: string[];
  /** Keys that received hinted writes whose owners hold different records at the end. */
  readonly hintedKeysDiverged: string[];
  /** Distinct keys that received acked hints (what the convergence check covers). */
  readonly hintedKeys: number;
}

/** Anti-entropy counters summed over the cluster (see the node's AntiEntropyNodeStats). */
export interface AntiEntropyCounters {
  sessionsOpened: number;
  sessionsSynced: number;
  sessionsAborted: number;
  protocolBytes: number;
  transferBytes: number;
  usefulBytes: number;
  pushes: number;
  fetches: number;
  rebuilds: number;
  scanPages: number;
  /** Wire bytes of batched session transfer messages (records included). */
  transferMessageBytes: number;
  /** Wire bytes of purge prepares and their acks (the cost of tombstone GC). */
  purgeMessageBytes: number;
  /** Dead records (tombstones, expired values) purged. */
  purges: number;
  /** Dead records past their grace not stored by a replica holding nothing for the key. */
  deadRefused: number;
}

/** A tombstone-GC purge the simulator saw land (a dead record compare-and-deleted by an owner). */
export interface PurgeFact {
  readonly key: string;
  readonly node: string;
  /** Simulated ms when the purge landed on the node's disk. */
  readonly atMs: number;
  /** Put values the purged record had superseded (their dots covered, no longer its siblings). */
  readonly superseded: readonly string[];
}

export interface AntiEntropyFacts {
  /** The stated bound: simulated ms after the heal by which every key's replicas must be equal. */
  readonly boundMs: number;
  /** Simulated ms from the heal until every key's replicas held equal records; null = not within the bound. */
  readonly convergedMs: number | null;
  /** Keys (with their replicas) still different when the bound passed. */
  readonly divergedAtBound: string[];
  /** At convergence: replicas whose Merkle tree disagreed with their storage. */
  readonly treeMismatches: string[];
  readonly total: AntiEntropyCounters;
  readonly afterHeal: AntiEntropyCounters;
  /** The tombstone grace the nodes ran with (null = no purge). */
  readonly tombstoneGraceMs?: number | null;
  /** Every tombstone-GC purge that landed, in order. */
  readonly purges?: PurgeFact[];
  /** Storage oracle: a record stored after a purge holding a value that purge's record had superseded. */
  readonly resurrections?: string[];
}

export interface History {
  readonly config: RunConfig;
  readonly ops: HistoryOp[];
  /** Empty until the final phase ran; one entry per key any op touched. */
  readonly final: FinalRead[];
  /** Set when the run used sloppy quorum, after the final phase. */
  handoff?: HandoffFacts;
  antiEntropy?: AntiEntropyFacts;
  topology?: TopologyFacts;
}

/** What a run with a ring change (join, decommission, remove) recorded for checkers/topology.ts. */
export interface TopologyFacts {
  readonly change: string;
  /** Simulated ms when a node first held the change pending, and when a node first committed it. */
  readonly startedAtMs: number | null;
  readonly committedAtMs: number | null;
  /** Every live node holds the same committed state at the end (names the ones that do not). */
  readonly disagreeing: string[];
  /** Distinct (gainer, key) pairs the stream carried, and the ideal: per key on any disk at commit, its slot's new owners. */
  readonly movedKeys: number;
  readonly idealMovedKeys: number;
  /** keys x moved slot-replicas / all slot-replicas (the expected value of the ideal). */
  readonly expectedMovedKeys: number;
  /** Record copies carried by pulls (a gainer pulls a key from every current owner) and their bytes. */
  readonly transfers: number;
  readonly bytesStreamed: number;
  /** Streamed (gainer, key) pairs outside the gainer's gained slots: must be none. */
  readonly streamedOutsideGained: string[];
  /** Purges issued (records handed off, then compare-and-deleted) by nodes that lost their slots. */
  readonly handedOff: number;
  /** 'remove': acked puts whose value only the removed (dead) member held, judged maybe-happened. */
  readonly excusedOnlyOnRemoved: number;
  /** At the end: records a live node holds for a slot it does not own. */
  readonly strayRecords: string[];
}

/** A checker's verdict; `violations` holds human-readable lines naming op ids and values. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** False when the checker's precondition did not hold for this run (e.g. mode lww). */
  readonly applicable: boolean;
  readonly violations: string[];
}

export type Checker = (history: History) => CheckResult;

export function newHistory(config: RunConfig): History {
  return { config, ops: [], final: [] };
}

/** Records an invocation; complete it later with `completeOp`. */
export function invokeOp(
  h: History,
  op: Omit<HistoryOp, 'id' | 'completeMs' | 'outcome' | 'errorCode' | 'valuesRead' | 'contextRead'>,
): HistoryOp {
  const entry: HistoryOp = {
    ...op, id: h.ops.length, completeMs: null, outcome: 'pending', errorCode: null, valuesRead: null, contextRead: null,
  };
  h.ops.push(entry);
  return entry;
}

export function completeOp(
  op: HistoryOp,
  atMs: number,
  r: { outcome: Exclude<Outcome, 'pending'>; errorCode?: string; valuesRead?: string[]; contextRead?: string; hintedAcks?: number },
): void {
  if (op.outcome !== 'pending') throw new Error(`op ${op.id} completed twice`);
  op.completeMs = atMs;
  op.outcome = r.outcome;
  op.errorCode = r.errorCode ?? null;
  op.valuesRead = r.valuesRead ?? null;
  op.contextRead = r.contextRead ?? null;
  if (r.hintedAcks !== undefined && r.hintedAcks > 0) op.hintedAcks = r.hintedAcks;
}
