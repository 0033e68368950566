/**
 * The history a fault run records, Jepsen style, one JSON object per line: every client
 * operation as an `invoke` followed by exactly one completion (`ok`, `fail` = did not happen,
 * `info` = may have happened: timeout, connection lost after sending, MAYBE), every nemesis
 * event, and the harness's phases (heal, convergence). The checkers read only this file.
 *
 * Invariants:
 * - `t` is milliseconds since the run started on the monotonic clock (process.hrtime), never
 *   wall time: clock-skew faults change the nodes' clocks, not the history's.
 * - Operation ids are unique and increase in invoke order; a process (logical client) has at
 *   most one operation outstanding, so its entries are sequential.
 * - Values written are unique within a run (`<process>-<n>`), so a value names its write.
 * - An operation still pending when the run ends gets no completion; checkers treat it as info.
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

/** add: a set element; write/read: the register workload; final-read: a read after the heal. */
export type OpF = 'add' | 'write' | 'read' | 'final-read';

export interface InvokeEntry {
  readonly type: 'invoke';
  readonly id: number;
  readonly process: number;
  readonly f: OpF;
  readonly key: string;
  /** add: the element; write: the value; reads: null. */
  readonly value: string | null;
  /** 1-based host the client sent the request to. */
  readonly node: number;
  readonly t: number;
}

export interface CompleteEntry {
  readonly type: 'ok' | 'fail' | 'info';
  readonly id: number;
  readonly process: number;
  readonly f: OpF;
  readonly key: string;
  /** Reads that succeeded: the values returned (siblings; [] = not found). Otherwise null. */
  readonly values: string[] | null;
  /** fail/info: the error's first word or a client-side reason (TIMEOUT_CLIENT, CONN_LOST, ...). */
  readonly error: string | null;
  readonly t: number;
}

export interface NemesisEntry {
  readonly type: 'nemesis';
  /** start: a fault begins; stop: it is healed; note: something the nemesis observed. */
  readonly phase: 'start' | 'stop' | 'note';
  readonly fault: string;
  readonly detail: string;
  readonly t: number;
}

export interface PhaseEntry {
  readonly type: 'phase';
  readonly name:
    | 'start' | 'workload-end' | 'healed'
    /** Passive phase (no key is read): hints drained; the last repair seen; quiet for a window. */
    | 'hints-drained' | 'repair-seen' | 'passive-quiet' | 'passive-timeout'
    | 'probe-start' | 'first-probe-done' | 'key-converged' | 'converged' | 'not-converged' | 'final-read-done' | 'end';
  readonly key?: string;
  readonly detail?: string;
  readonly t: number;
}

export type HistoryEntry = InvokeEntry | CompleteEntry | NemesisEntry | PhaseEntry;

/** Milliseconds since `origin` on the monotonic clock. */
export function monotonicMs(origin: bigint): number {
  return Number(process.hrtime.bigint() - origin) / 1e6;
}

/** Appends entries to a JSONL file and keeps them in memory for the checkers. */
export class HistoryRecorder {
  readonly entries: HistoryEntry[] = [];
  private readonly origin = process.hrtime.bigint();
  private readonly out: WriteStream | null;
  private nextId = 1;

  constructor(path: string | null) {
    this.out = path === null ? null : createWriteStream(path, { flags: 'w' });
  }

  now(): number {
    return Math.round(monotonicMs(this.origin) * 1000) / 1000;
  }

  invoke(e: Omit<InvokeEntry, 'type' | 'id' | 't'>): InvokeEntry {
    const entry: InvokeEntry = { type: 'invoke', id: this.nextId++, t: this.now(), ...e };
    this.push(entry);
    return entry;
  }

  complete(inv: InvokeEntry, type: CompleteEntry['type'], values: string[] | null, error: string | null): CompleteEntry {
    const entry: CompleteEntry = { type, id: inv.id, process: inv.process, f: inv.f, key: inv.key, values, error, t: this.now() };
    this.push(entry);
    return entry;
  }

  nemesis(phase: NemesisEntry['phase'], fault: string, detail: string): void {
    this.push({ type: 'nemesis', phase, fault, detail, t: this.now() });
  }

  phase(name: PhaseEntry['name'], extra: { key?: string; detail?: string } = {}): void {
    this.push({ type: 'phase', name, ...extra, t: this.now() });
  }

  private push(e: HistoryEntry): void {
    this.entries.push(e);
    this.out?.write(`${JSON.stringify(e)}\n`);
  }

  close(): Promise<void> {
    const out = this.out;
    if (out === null) return Promise.resolve();
    return new Promise((resolve) => out.end(resolve));
  }
}

export function readHistory(path: string): HistoryEntry[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as HistoryEntry);
}

/** An operation with its completion joined (null completion = still pending at the end). */
export interface Op {
  readonly invoke: InvokeEntry;
  readonly done: CompleteEntry | null;
}

export function pairOps(entries: readonly HistoryEntry[]): Op[] {
  const byId = new Map<number, { invoke: InvokeEntry; done: CompleteEntry | null }>();
  for (const e of entries) {
    if (e.type === 'invoke') byId.set(e.id, { invoke: e, done: null });
    else if (e.type === 'ok' || e.type === 'fail' || e.type === 'info') {
      const op = byId.get(e.id);
      if (op === undefined) throw new RangeError(`history: completion of unknown op ${e.id}`);
      if (op.done !== null) throw new RangeError(`history: op ${e.id} completed twice`);
      op.done = e;
    }
  }
  return [...byId.values()].sort((a, b) => a.invoke.id - b.invoke.id);
}

/** Values a read returned, split into set elements (the shared-key set stores `a,b,c`). */
export function elementsOf(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const e of v.split(',')) if (e !== '') out.push(e);
  return out;
}
