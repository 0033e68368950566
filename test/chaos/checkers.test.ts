/**
 * The fault harness's checkers on hand-built histories: each test feeds a history with one
 * known anomaly (or none) and asserts the checker finds exactly it. No root or namespaces needed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConvergence, checkRegister, checkSet, countOps, quantile, summarizeNemesis } from './checkers.js';
import type { CompleteEntry, HistoryEntry, OpF } from './history.js';

/** Builds histories with explicit times; ops may overlap. */
class H {
  readonly entries: HistoryEntry[] = [];
  private id = 1;
  op(p: { process: number; f: OpF; key: string; value?: string | null; at: number; end?: number; type?: CompleteEntry['type'] | 'pending'; values?: string[]; error?: string }): number {
    const id = this.id++;
    this.entries.push({ type: 'invoke', id, process: p.process, f: p.f, key: p.key, value: p.value ?? null, node: 1, t: p.at });
    const type = p.type ?? 'ok';
    if (type !== 'pending') {
      this.entries.push({ type, id, process: p.process, f: p.f, key: p.key, values: p.values ?? null, error: p.error ?? null, t: p.end ?? p.at + 1 });
    }
    return id;
  }
  sorted(): HistoryEntry[] {
    return [...this.entries].sort((a, b) => a.t - b.t);
  }
}

describe('chaos checkers: set', () => {
  it('set: an acknowledged element missing from the final read is lost; an ok present one is not', () => {
    const h = new H();
    h.op({ process: 1, f: 'add', key: 's:1', value: '1-1', at: 0 });
    h.op({ process: 1, f: 'add', key: 's:2', value: '1-2', at: 2 });
    h.op({ process: 9, f: 'final-read', key: 's:1', at: 10, values: ['1-1'] });
    h.op({ process: 9, f: 'final-read', key: 's:2', at: 11, values: [] });
    const r = checkSet(h.sorted());
    assert.equal(r.acknowledged, 2);
    assert.equal(r.lost, 1);
    assert.match(r.lostExamples[0] ?? '', /s:2\/1-2/);
    assert.equal(r.lostFraction, 0.5);
  });

  it('set: unknown outcomes are never-read when absent and unacknowledged-present when present; failed-present is flagged', () => {
    const h = new H();
    h.op({ process: 1, f: 'add', key: 'k', value: 'a', at: 0, type: 'info', error: 'MAYBE' });
    h.op({ process: 2, f: 'add', key: 'k', value: 'b', at: 0, type: 'pending' });
    h.op({ process: 3, f: 'add', key: 'k', value: 'c', at: 0, type: 'info', error: 'TIMEOUT_CLIENT' });
    h.op({ process: 4, f: 'add', key: 'k', value: 'd', at: 0, type: 'fail', error: 'UNAVAILABLE' });
    h.op({ process: 5, f: 'add', key: 'k', value: 'e', at: 0, type: 'fail', error: 'UNAVAILABLE' });
    h.op({ process: 9, f: 'final-read', key: 'k', at: 10, values: ['a,b', 'd'] });
    const r = checkSet(h.sorted());
    assert.deepEqual(
      { lost: r.lost, neverRead: r.neverRead, unack: r.unacknowledgedPresent, failedPresent: r.failedPresent, ack: r.acknowledged },
      { lost: 0, neverRead: 1, unack: 2, failedPresent: 1, ack: 0 },
    );
  });

  it('set: elements no one added are phantoms, and a key without a successful final read is unreadable', () => {
    const h = new H();
    h.op({ process: 1, f: 'add', key: 'k', value: 'a', at: 0 });
    h.op({ process: 1, f: 'add', key: 'j', value: 'b', at: 2 });
    h.op({ process: 9, f: 'final-read', key: 'k', at: 10, values: ['a', 'zzz'] });
    h.op({ process: 9, f: 'final-read', key: 'j', at: 10, type: 'fail', error: 'UNAVAILABLE' });
    const r = checkSet(h.sorted());
    assert.equal(r.phantom, 1);
    assert.deepEqual(r.phantomExamples, ['k/zzz']);
    assert.equal(r.unreadableKeys, 1);
    assert.equal(r.lost, 0);
  });

  it('set: the last successful final read of a key decides (an element that vanished later is lost)', () => {
    const h = new H();
    h.op({ process: 1, f: 'add', key: 'k', value: 'a', at: 0 });
    h.op({ process: 9, f: 'final-read', key: 'k', at: 10, values: ['a'] });
    h.op({ process: 9, f: 'final-read', key: 'k', at: 20, values: [] });
    assert.equal(checkSet(h.sorted()).lost, 1);
  });
});

describe('chaos checkers: register', () => {
  it('register: a read of a value never written, or written only after the read ended, is a phantom read', () => {
    const h = new H();
    h.op({ process: 1, f: 'write', key: 'r', value: 'w1', at: 0, end: 5 });
    h.op({ process: 2, f: 'read', key: 'r', at: 6, end: 7, values: ['w1'] });
    h.op({ process: 2, f: 'read', key: 'r', at: 8, end: 9, values: ['never'] });
    h.op({ process: 3, f: 'read', key: 'r', at: 10, end: 11, values: ['w2'] });
    h.op({ process: 1, f: 'write', key: 'r', value: 'w2', at: 12, end: 13 });
    const r = checkRegister(h.sorted());
    assert.equal(r.phantomReads, 2);
    assert.equal(r.perKey[0]?.phantomReads, 2);
  });

  it('register: a value from a write still in flight (invoked before the read ended) is not a phantom', () => {
    const h = new H();
    h.op({ process: 1, f: 'write', key: 'r', value: 'w1', at: 0, end: 50, type: 'info', error: 'MAYBE' });
    h.op({ process: 2, f: 'read', key: 'r', at: 5, end: 7, values: ['w1'] });
    assert.equal(checkRegister(h.sorted()).phantomReads, 0);
  });

  it('register: reading an older value after one\'s own acknowledged write violates read-your-writes; a concurrent newer write excuses it', () => {
    const h = new H();
    h.op({ process: 1, f: 'write', key: 'r', value: 'old', at: 0, end: 1 });
    h.op({ process: 2, f: 'write', key: 'r', value: 'mine', at: 2, end: 3 });
    h.op({ process: 2, f: 'read', key: 'r', at: 4, end: 5, values: ['old'] });
    // Another key: process 3 writes, process 4's write overlaps it, so reading process 4's value is fine.
    h.op({ process: 3, f: 'write', key: 'q', value: 'q3', at: 10, end: 12 });
    h.op({ process: 4, f: 'write', key: 'q', value: 'q4', at: 11, end: 14 });
    h.op({ process: 3, f: 'read', key: 'q', at: 15, end: 16, values: ['q4'] });
    const r = checkRegister(h.sorted());
    assert.equal(r.rywViolations, 1);
    assert.equal(r.perKey.find((k) => k.key === 'r')?.rywViolations, 1);
    assert.equal(r.perKey.find((k) => k.key === 'q')?.rywViolations, 0);
    assert.match(r.rywExamples[0] ?? '', /process 2 wrote mine/);
  });

  it('register: a read missing a value acknowledged before it began is stale; siblings including it are fresh', () => {
    const h = new H();
    h.op({ process: 1, f: 'write', key: 'r', value: 'a', at: 0, end: 1 });
    h.op({ process: 2, f: 'write', key: 'r', value: 'b', at: 2, end: 3 });
    h.op({ process: 3, f: 'read', key: 'r', at: 4, end: 5, values: ['a'] });
    h.op({ process: 3, f: 'read', key: 'r', at: 6, end: 7, values: ['a', 'b'] });
    h.op({ process: 3, f: 'read', key: 'r', at: 8, end: 9, values: [] });
    const r = checkRegister(h.sorted());
    assert.equal(r.staleReads, 2);
    assert.equal(r.rywViolations, 0);
  });
});

describe('chaos checkers: convergence, nemesis, counts', () => {
  it('convergence: without a passive phase, per-key times are measured from the heal, with quantiles and unconverged keys listed', () => {
    const entries: HistoryEntry[] = [
      { type: 'phase', name: 'healed', t: 1000 },
      { type: 'phase', name: 'key-converged', key: 'a', t: 1010 },
      { type: 'phase', name: 'key-converged', key: 'b', t: 1500 },
      { type: 'phase', name: 'not-converged', key: 'c', t: 9000 },
      { type: 'phase', name: 'converged', detail: '3', t: 9000 },
    ];
    const r = checkConvergence(entries);
    assert.deepEqual(r.perKeyMs, [10, 500]);
    assert.equal(r.p50Ms, 10);
    assert.equal(r.maxMs, 500);
    assert.deepEqual(r.notConverged, ['c']);
    assert.equal(r.keys, 3);
    assert.equal(r.passiveMs, null);
  });

  it('convergence: the passive estimate is the later of hint drain and last repair; probe times count from the probe start', () => {
    const entries: HistoryEntry[] = [
      { type: 'phase', name: 'healed', t: 1000 },
      { type: 'phase', name: 'repair-seen', detail: '10', t: 1500 },
      { type: 'phase', name: 'hints-drained', t: 1200 },
      { type: 'phase', name: 'repair-seen', detail: '5', t: 4000 },
      { type: 'phase', name: 'passive-quiet', detail: '15', t: 19_000 },
      { type: 'phase', name: 'probe-start', t: 19_100 },
      { type: 'phase', name: 'key-converged', key: 'a', t: 19_130 },
      { type: 'phase', name: 'first-probe-done', detail: '1:2', t: 19_150 },
      { type: 'phase', name: 'key-converged', key: 'b', t: 19_400 },
      { type: 'phase', name: 'converged', detail: '2', t: 19_400 },
    ];
    const r = checkConvergence(entries);
    assert.deepEqual({ drained: r.hintsDrainedMs, last: r.lastRepairMs, passive: r.passiveMs, quiet: r.passiveQuiet }, { drained: 200, last: 3000, passive: 3000, quiet: true });
    assert.deepEqual(r.perKeyMs, [30, 300]);
    assert.equal(r.disagreeingAtFirstProbe, 1);
    assert.equal(r.unansweredAtFirstProbe, 2);
  });

  it('quantile: nearest rank on a sorted list, null when empty', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
    assert.equal(quantile([], 0.5), null);
  });

  it('nemesis and op counts: fault starts are counted per kind and errors per outcome', () => {
    const h = new H();
    h.entries.push({ type: 'nemesis', phase: 'start', fault: 'kill', detail: 'n1', t: 0 });
    h.entries.push({ type: 'nemesis', phase: 'stop', fault: 'kill', detail: 'n1', t: 1 });
    h.entries.push({ type: 'nemesis', phase: 'start', fault: 'partition-halves', detail: '', t: 2 });
    h.op({ process: 1, f: 'add', key: 'k', value: 'a', at: 0, type: 'info', error: 'MAYBE' });
    h.op({ process: 1, f: 'add', key: 'k', value: 'b', at: 0, type: 'fail', error: 'UNAVAILABLE' });
    h.op({ process: 1, f: 'add', key: 'k', value: 'c', at: 0 });
    const n = summarizeNemesis(h.entries);
    assert.equal(n.faultEvents, 2);
    assert.deepEqual(n.byFault, { kill: 1, 'partition-halves': 1 });
    const c = countOps(h.entries);
    assert.deepEqual(c, { ok: 1, fail: 1, info: 1, pending: 0, errors: { 'info:MAYBE': 1, 'fail:UNAVAILABLE': 1 } });
  });
});
