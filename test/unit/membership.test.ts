/**
 * Membership state machine, driven by hand: one `Membership` stepped with ticks and messages,
 * its effects inspected. Cluster-level behaviour (detection times, loss) is in
 * membership-sim.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership, MEMBERSHIP_DEFAULTS, updateBytes, type MembershipOptions } from '../../src/core/membership/index.js';
import type { MemberUpdate, MembershipEffect, MembershipMessage } from '../../src/core/membership/index.js';
import { nodeId, type NodeId } from '../../src/core/types.js';
import { Prng } from '../sim/prng.js';

const A = nodeId('a');
const B = nodeId('b');
const C = nodeId('c');
const D = nodeId('d');
const X = nodeId('x');

function make(over: Partial<MembershipOptions> = {}): Membership {
  const m = new Membership({
    ...MEMBERSHIP_DEFAULTS,
    self: A,
    incarnation: 0,
    random: new Prng(7),
    startMs: 0,
    members: [A, B, C, D, X],
    ...over,
  });
  m.invariants();
  return m;
}

type Send = Extract<MembershipEffect, { kind: 'send' }>;
const sends = (es: MembershipEffect[]): Send[] => es.filter((e): e is Send => e.kind === 'send');
const changes = (es: MembershipEffect[]) => es.filter((e) => e.kind === 'change');

function step(m: Membership, from: NodeId, message: MembershipMessage): MembershipEffect[] {
  m.step({ kind: 'message', from, message });
  m.invariants();
  return m.takeEffects();
}

function tick(m: Membership, nowMs: number): MembershipEffect[] {
  m.step({ kind: 'tick', nowMs });
  m.invariants();
  return m.takeEffects();
}

const ping = (seq: number, target: NodeId, updates: MemberUpdate[] = [], ringEpoch = 0): MembershipMessage => ({ kind: 'ping', seq, target, incarnation: 0, ringEpoch, updates });
const suspect = (member: NodeId, incarnation: number, sources: NodeId[]): MemberUpdate => ({ kind: 'suspect', member, incarnation, sources });

/** Run ticks every 50 ms from `fromMs` to `toMs`, answering nothing; returns all effects. */
function silentRun(m: Membership, fromMs: number, toMs: number): MembershipEffect[] {
  const out: MembershipEffect[] = [];
  for (let t = fromMs; t <= toMs; t += 50) out.push(...tick(m, t));
  return out;
}

test('membership: a ping is answered with an ack of the same sequence number carrying gossip', () => {
  const m = make();
  const out = sends(step(m, B, ping(41, A)));
  assert.equal(out.length, 1);
  const ack = out[0] as Send;
  assert.equal(ack.to, B);
  assert.equal(ack.message.kind, 'ack');
  if (ack.message.kind !== 'ack') return;
  assert.equal(ack.message.seq, 41);
  assert.ok(ack.message.updates.some((u) => u.kind === 'alive' && u.member === A), 'own alive update piggybacked');
});

test('membership: a probe meant for another holder of the id is not acked', () => {
  const m = make();
  assert.deepEqual(sends(step(m, B, ping(1, nodeId('someone-else')))), []);
});

test('membership: refutation — a suspicion about oneself raises the incarnation and gossips alive', () => {
  const m = make({ incarnation: 3 });
  const out = step(m, B, ping(1, A, [suspect(A, 3, [B])]));
  assert.equal(m.ownIncarnation, 4);
  assert.equal(m.status(A), 'alive');
  const refutes = (msg: MembershipMessage | undefined): boolean =>
    msg !== undefined && msg.kind !== 'sync' && msg.updates.some((u) => u.kind === 'alive' && u.member === A && u.incarnation === 4);
  const ack = sends(out).find((s) => s.message.kind === 'ack')?.message;
  assert.ok(ack?.kind === 'ack' && ack.incarnation === 4, 'the ack states the new incarnation first-hand');
  // Pushed at once to the member that told us and to k random others, not on the next probe.
  const pushed = sends(out).filter((s) => s.message.kind === 'gossip');
  assert.equal(pushed.length, 1 + MEMBERSHIP_DEFAULTS.indirectProbes);
  assert.ok(pushed.some((s) => s.to === B));
  assert.ok(pushed.every((s) => refutes(s.message)));
  assert.equal(m.stats.refutations, 1);
  // A stale suspicion (older incarnation) is not refuted again.
  step(m, C, ping(2, A, [suspect(A, 2, [C])]));
  assert.equal(m.ownIncarnation, 4);
});

test('membership: refutation — a peer holding a suspicion clears it on the higher incarnation', () => {
  const m = make();
  step(m, B, ping(1, A, [suspect(X, 0, [B])]));
  assert.equal(m.status(X), 'suspect');
  const out = step(m, C, ping(2, A, [{ kind: 'alive', member: X, incarnation: 1 }]));
  assert.equal(m.status(X), 'alive');
  assert.equal(m.incarnationOf(X), 1);
  assert.deepEqual(changes(out).map((c) => c.kind === 'change' && [c.member, c.previous, c.status]), [[X, 'suspect', 'alive']]);
  // A late suspicion about the refuted incarnation is ignored.
  step(m, D, ping(3, A, [suspect(X, 0, [D])]));
  assert.equal(m.status(X), 'alive');
});

test('membership: one-source suspicion is never enough — the member stays suspect however long it lasts', () => {
  // Every probe this node sends is answered (X's included), so this node never becomes a
  // source itself: the suspicion has exactly one source, B.
  const m = make({ members: [A, B, C] });
  step(m, B, ping(1, A, [{ kind: 'alive', member: X, incarnation: 0 }, suspect(X, 0, [B])]));
  assert.equal(m.status(X), 'suspect');
  const limitMs = 3 * m.suspicionTimeoutMs(1);
  for (let t = 0; t <= limitMs; t += 50) {
    const out = tick(m, t);
    for (const s of sends(out)) {
      if (s.message.kind === 'ping') step(m, s.to, { kind: 'ack', incarnation: 0, seq: s.message.seq, ringEpoch: 0, updates: [] });
    }
  }
  assert.equal(m.status(X), 'suspect', 'still only suspect after three times the longest timeout');
  assert.equal(m.stats.deathsDeclared, 0);
  // A second, independent source: now the (shorter) two-source timeout applies and X dies.
  step(m, C, ping(2, A, [suspect(X, 0, [C])]));
  const at = m.clockMs;
  let deadAt = -1;
  for (let t = at; t <= at + m.suspicionTimeoutMs(2) + 3 * MEMBERSHIP_DEFAULTS.probeIntervalMs && deadAt < 0; t += 50) {
    const out = tick(m, t);
    for (const s of sends(out)) if (s.message.kind === 'ping') step(m, s.to, { kind: 'ack', incarnation: 0, seq: s.message.seq, ringEpoch: 0, updates: [] });
    if (m.status(X) === 'dead') deadAt = t;
  }
  assert.ok(deadAt >= 0, 'dead once two sources agree and the timeout ran out');
  assert.equal(m.stats.deathsDeclared, 1);
});

test('membership: the suspicion timeout shrinks with independent confirmations, down to its minimum', () => {
  const m = make({ members: Array.from({ length: 99 }, (_, i) => nodeId(`m${i}`)) });
  const t1 = m.suspicionTimeoutMs(1);
  const t2 = m.suspicionTimeoutMs(2);
  const t3 = m.suspicionTimeoutMs(3);
  const t9 = m.suspicionTimeoutMs(9);
  const minMs = MEMBERSHIP_DEFAULTS.suspicionMult * 2 * MEMBERSHIP_DEFAULTS.probeIntervalMs; // log10(100) = 2
  assert.equal(t1, MEMBERSHIP_DEFAULTS.suspicionMaxMult * minMs);
  assert.ok(t1 > t2 && t2 > t3 && t3 > t9);
  assert.equal(t9, minMs);
});

test('membership: a failed direct probe triggers k indirect probes, and a relayed ack prevents suspicion', () => {
  const m = make({ indirectProbes: 2 });
  let probe: { seq: number; target: NodeId } | undefined;
  let pingReqs: Send[] = [];
  for (let t = 0; t < 3000 && pingReqs.length === 0; t += 50) {
    for (const s of sends(tick(m, t))) {
      if (s.message.kind === 'ping') probe = { seq: s.message.seq, target: s.message.target };
      if (s.message.kind === 'ping_req') pingReqs.push(s);
    }
  }
  assert.ok(probe !== undefined);
  assert.equal(pingReqs.length, 2);
  assert.equal(new Set(pingReqs.map((s) => s.to)).size, 2, 'distinct helpers');
  for (const s of pingReqs) {
    assert.notEqual(s.to, probe.target);
    assert.ok(s.message.kind === 'ping_req' && s.message.target === probe.target && s.message.seq === probe.seq);
  }
  // One helper forwards the target's ack.
  step(m, pingReqs[0]?.to as NodeId, { kind: 'ack', incarnation: 0, seq: probe.seq, ringEpoch: 0, updates: [] });
  pingReqs = [];
  silentRun(m, m.clockMs + 50, m.clockMs + 1000);
  // The period of the acked probe has ended (the next probe is still running): no suspicion.
  assert.equal(m.status(probe.target), 'alive');
  assert.equal(m.stats.probesFailed, 0);
  assert.equal(m.stats.suspicionsRaised, 0);
});

test('membership: an unanswered probe, direct and indirect, makes this node a suspicion source', () => {
  const m = make();
  let target: NodeId | undefined;
  for (let t = 0; t <= 2500 && target === undefined; t += 50) {
    for (const s of sends(tick(m, t))) if (s.message.kind === 'ping') target = s.message.target;
  }
  assert.ok(target !== undefined);
  const out = silentRun(m, m.clockMs + 50, m.clockMs + 1000);
  assert.equal(m.status(target), 'suspect');
  const gossiped = sends(out).flatMap((s) => (s.message.kind === 'sync' ? [] : s.message.updates));
  assert.ok(gossiped.some((u) => u.kind === 'suspect' && u.member === target && u.sources.includes(A)), 'suspicion names this node as its source');
});

test('membership: a relay pings the target for the requester and forwards the ack; relays are bounded', () => {
  const m = make({ relaysMax: 1 });
  const out = sends(step(m, B, { kind: 'ping_req', incarnation: 0, seq: 9, target: X, ringEpoch: 0, updates: [] }));
  const relayPing = out.find((s) => s.to === X && s.message.kind === 'ping');
  assert.ok(relayPing !== undefined && relayPing.message.kind === 'ping');
  const relaySeq = relayPing.message.seq;
  // The bound: a second request while one is pending is dropped.
  assert.deepEqual(sends(step(m, C, { kind: 'ping_req', incarnation: 0, seq: 5, target: D, ringEpoch: 0, updates: [] })).filter((s) => s.to === D), []);
  assert.equal(m.stats.relaysDropped, 1);
  // An ack from someone other than the target does not count.
  assert.deepEqual(sends(step(m, D, { kind: 'ack', incarnation: 0, seq: relaySeq, ringEpoch: 0, updates: [] })), []);
  const fwd = sends(step(m, X, { kind: 'ack', incarnation: 0, seq: relaySeq, ringEpoch: 0, updates: [] }));
  assert.equal(fwd.length, 1);
  assert.equal(fwd[0]?.to, B);
  assert.ok(fwd[0]?.message.kind === 'ack' && fwd[0].message.seq === 9);
});

test('membership: every member is probed within two passes of the shuffled round-robin list', () => {
  const members = Array.from({ length: 12 }, (_, i) => nodeId(`m${i}`));
  const m = make({ members: [A, ...members] });
  const probedAt = new Map<NodeId, number[]>();
  for (let t = 0; t <= 40_000; t += 50) {
    for (const s of sends(tick(m, t))) {
      if (s.message.kind !== 'ping') continue;
      probedAt.set(s.to, [...(probedAt.get(s.to) ?? []), t]);
      step(m, s.to, { kind: 'ack', incarnation: 0, seq: s.message.seq, ringEpoch: 0, updates: [] });
    }
  }
  const periodMs = MEMBERSHIP_DEFAULTS.probeIntervalMs;
  for (const id of members) {
    const times = [-periodMs, ...(probedAt.get(id) ?? [])];
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] as number) - (times[i - 1] as number);
      assert.ok(gap <= 2 * members.length * periodMs, `${id} waited ${gap} ms between probes`);
    }
    assert.ok((probedAt.get(id)?.length ?? 0) >= 2, `${id} probed repeatedly`);
  }
});

test('membership: each update is piggybacked at most retransmitLimit times, within the per-message bounds', () => {
  // 3 updates per message by count, but each fresh update is ~20 bytes: the byte bound admits 2.
  const m = make({ piggybackUpdatesMax: 3, piggybackBytesMax: 50 });
  // Ten members refute at once: ten fresh updates to spread.
  const fresh: MemberUpdate[] = Array.from({ length: 10 }, (_, i) => ({ kind: 'alive', member: nodeId(`new${i}`), incarnation: 2 }));
  for (const u of fresh) step(m, B, { kind: 'ack', incarnation: 0, seq: 0, ringEpoch: 0, updates: [u] });
  const counts = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const ack = sends(step(m, C, ping(100 + i, A)))[0];
    assert.ok(ack?.message.kind === 'ack');
    if (ack.message.kind !== 'ack') continue;
    assert.ok(ack.message.updates.length <= 2, 'updates per message bounded by bytes');
    const bytes = ack.message.updates.reduce((n, u) => n + updateBytes(u), 0);
    assert.ok(bytes <= 50, `piggyback of ${bytes} estimated bytes`);
    for (const u of ack.message.updates) counts.set(u.member, (counts.get(u.member) ?? 0) + 1);
  }
  const limit = m.retransmitLimit;
  assert.equal(limit, MEMBERSHIP_DEFAULTS.retransmitMult * Math.ceil(Math.log10(15 + 1)));
  for (const u of fresh) assert.equal(counts.get(u.member), limit, `${u.member} sent exactly ${limit} times`);
  assert.equal(m.queuedUpdates, 0, 'queue drained');
});

test('membership: the member table is bounded; dead members make room first', () => {
  const m = make({ members: [A, B], membersMax: 4 });
  step(m, B, ping(1, A, [{ kind: 'alive', member: C, incarnation: 0 }, { kind: 'alive', member: D, incarnation: 0 }]));
  assert.equal(m.snapshot().length, 4);
  step(m, B, ping(2, A, [{ kind: 'alive', member: X, incarnation: 0 }]));
  assert.equal(m.status(X), undefined, 'refused: table full of live members');
  assert.equal(m.stats.membersRefused, 1);
  step(m, B, ping(3, A, [{ kind: 'dead', member: C, incarnation: 0, from: B }]));
  assert.equal(m.status(C), 'dead');
  step(m, B, ping(4, A, [{ kind: 'alive', member: X, incarnation: 0 }]));
  assert.equal(m.status(X), 'alive');
  assert.equal(m.status(C), undefined, 'the dead member was evicted to make room');
});

test('membership: messages carry the ring epoch and a newer peer epoch is reported once, with its payload on sync', () => {
  const m = make();
  m.setRingEpoch(3, new Uint8Array([1, 2, 3]));
  const ack = sends(step(m, B, ping(1, A, [], 2)))[0];
  assert.ok(ack?.message.kind === 'ack' && ack.message.ringEpoch === 3);
  const older = step(m, B, ping(2, A, [], 3));
  assert.equal(older.filter((e) => e.kind === 'ring_epoch').length, 0, 'equal epoch: nothing to report');
  const newer = step(m, C, ping(3, A, [], 5)).filter((e) => e.kind === 'ring_epoch');
  assert.deepEqual(newer, [{ kind: 'ring_epoch', peer: C, ringEpoch: 5, ring: null }]);
  assert.equal(step(m, C, ping(4, A, [], 5)).filter((e) => e.kind === 'ring_epoch').length, 0, 'reported once');
  const payload = new Uint8Array([9]);
  const viaSync = step(m, C, { kind: 'sync', reply: true, join: false, ringEpoch: 5, ring: payload, members: [] }).filter((e) => e.kind === 'ring_epoch');
  assert.deepEqual(viaSync, [{ kind: 'ring_epoch', peer: C, ringEpoch: 5, ring: payload }]);
  assert.throws(() => m.setRingEpoch(2, null), RangeError);
  const sync = sends(step(m, D, { kind: 'sync', reply: false, join: false, ringEpoch: 0, ring: null, members: [] }))[0];
  assert.ok(sync?.message.kind === 'sync' && sync.message.reply && sync.message.ringEpoch === 3);
  assert.deepEqual(sync.message.kind === 'sync' ? [...(sync.message.ring ?? [])] : [], [1, 2, 3]);
});

test('membership: a new node joins through a seed with a push-pull sync and the seed gossips it', () => {
  const joiner = make({ self: X, members: [], seeds: [B, C] });
  const first = sends(tick(joiner, 0));
  assert.equal(first.length, 1);
  assert.equal(first[0]?.to, B);
  const req = first[0]?.message;
  assert.ok(req?.kind === 'sync' && req.join && !req.reply);
  // The seed merges the joiner, answers with its state, and queues gossip about the joiner.
  const seed = make({ self: B, members: [A, B, C, D] });
  const answer = sends(step(seed, X, req));
  assert.equal(seed.status(X), 'alive');
  const reply = answer.find((s) => s.to === X)?.message;
  assert.ok(reply?.kind === 'sync' && reply.reply);
  step(joiner, B, reply);
  assert.deepEqual(new Set(joiner.liveMembers()), new Set([A, B, C, D, X]));
  const gossip = sends(step(seed, A, ping(1, B)))[0]?.message;
  assert.ok(gossip?.kind === 'ack' && gossip.updates.some((u) => u.kind === 'alive' && u.member === X));
  // Retries go round the seeds while no peer answers.
  const lonely = make({ self: X, members: [], seeds: [B, C], joinRetryMs: 500 });
  const targets = sends(silentRun(lonely, 0, 1100)).filter((s) => s.message.kind === 'sync').map((s) => s.to);
  assert.deepEqual(targets, [B, C, B]);
});

test('membership: a leaving member gossips left, stops probing, and peers report it as left', () => {
  const m = make();
  m.leave();
  assert.equal(m.status(A), 'left');
  assert.ok(!m.liveMembers().includes(A));
  const out = silentRun(m, 0, 5000);
  assert.equal(sends(out).filter((s) => s.message.kind === 'ping').length, 0, 'no probes after leaving');
  const ack = sends(step(m, B, ping(1, A)))[0]?.message;
  assert.ok(ack?.kind === 'ack');
  const left = ack.kind === 'ack' ? ack.updates.find((u) => u.member === A) : undefined;
  assert.deepEqual(left, { kind: 'left', member: A, incarnation: 1 });
  const peer = make({ self: B });
  const ev = changes(step(peer, A, { kind: 'ack', incarnation: 0, seq: 0, ringEpoch: 0, updates: [left as MemberUpdate] }));
  assert.deepEqual(ev, [{ kind: 'change', member: A, status: 'left', previous: 'alive', incarnation: 1 }]);
});

test('membership: a peer gossiping an older incarnation gets the newer view re-gossiped', () => {
  const m = make();
  step(m, B, ping(1, A, [{ kind: 'alive', member: X, incarnation: 4 }]));
  // Drain the queue so the correction is observable.
  for (let i = 0; i < 50; i++) step(m, C, ping(10 + i, A));
  assert.equal(m.queuedUpdates, 0);
  const ack = sends(step(m, D, ping(99, A, [suspect(X, 3, [D])])))[0]?.message;
  assert.equal(m.status(X), 'alive');
  assert.ok(ack?.kind === 'ack' && ack.updates.some((u) => u.kind === 'alive' && u.member === X && u.incarnation === 4));
  assert.equal(m.stats.corrections, 1);
});

test('membership: options are validated, and fewer than two suspicion sources is refused', () => {
  assert.throws(() => make({ suspicionSourcesMin: 1 }), /at least 2/);
  assert.throws(() => make({ probeTimeoutMs: 1000, probeIntervalMs: 1000 }), RangeError);
  assert.throws(() => make({ piggybackUpdatesMax: 0 }), RangeError);
  assert.throws(() => make({ incarnation: -1 }), RangeError);
  const m = make();
  assert.throws(() => m.step({ kind: 'message', from: A, message: ping(1, A) }), /itself/);
});

test('membership: hearing from a member directly carries its incarnation and clears a stale suspicion', () => {
  const m = make();
  step(m, B, ping(1, A, [suspect(X, 0, [B, C])]));
  assert.equal(m.status(X), 'suspect');
  const out = step(m, X, { kind: 'ping', seq: 5, target: A, incarnation: 1, ringEpoch: 0, updates: [] });
  assert.equal(m.status(X), 'alive');
  assert.equal(m.incarnationOf(X), 1);
  assert.ok(changes(out).some((c) => c.kind === 'change' && c.member === X && c.status === 'alive'));
  // Equal incarnation is no refutation: a suspicion at the member's own incarnation stands.
  step(m, B, ping(2, A, [suspect(X, 1, [B])]));
  step(m, X, { kind: 'ping', seq: 6, target: A, incarnation: 1, ringEpoch: 0, updates: [] });
  assert.equal(m.status(X), 'suspect');
});

test('membership: a peer sending a stale incarnation is owed the newer view on the next message to it', () => {
  const m = make();
  step(m, B, ping(1, A, [{ kind: 'alive', member: X, incarnation: 4 }]));
  for (let i = 0; i < 50; i++) step(m, C, ping(10 + i, A));
  // D relays a stale suspicion in a ping_req (no immediate reply to D), then pings later.
  step(m, D, { kind: 'ping_req', incarnation: 0, seq: 1, target: B, ringEpoch: 0, updates: [suspect(X, 2, [D])] });
  for (let i = 0; i < 50; i++) step(m, C, ping(100 + i, A)); // the re-queued gossip is spent on C
  const ack = sends(step(m, D, ping(200, A)))[0]?.message;
  assert.ok(ack?.kind === 'ack' && ack.updates[0]?.member === X && ack.updates[0].incarnation === 4, JSON.stringify(ack));
});

test('membership: last call — past the timeout the suspicion is gossiped once more, and a correction then saves the member', () => {
  const m = make({ members: [A, B, C, D, X] });
  const answerAll = (out: MembershipEffect[]): void => {
    for (const s of sends(out)) if (s.message.kind === 'ping') step(m, s.to, { kind: 'ack', incarnation: 0, seq: s.message.seq, ringEpoch: 0, updates: [] });
  };
  step(m, B, ping(1, A, [suspect(X, 0, [B, C])]));
  const since = m.clockMs;
  const timeoutMs = m.suspicionTimeoutMs(2);
  // Spend the queued suspicion so that the last call is visible as a fresh send.
  for (let i = 0; i < 50; i++) step(m, D, ping(10 + i, A));
  let lastCallAt = -1;
  for (let t = since; t <= since + timeoutMs + 200 && lastCallAt < 0; t += 50) {
    const out = tick(m, t);
    // (Probes of X itself always carry the suspicion: the buddy system. Look at gossip to others.)
    if (sends(out).some((s) => s.to !== X && s.message.kind !== 'sync' && s.message.updates.some((u) => u.kind === 'suspect' && u.member === X))) lastCallAt = t;
    answerAll(out);
    if (lastCallAt < 0) {
      // Probes carry gossip only when something is queued: ask for an ack to see the queue.
      const ack = sends(step(m, D, ping(1000 + t, A)))[0]?.message;
      if (ack?.kind === 'ack' && ack.updates.some((u) => u.kind === 'suspect' && u.member === X)) lastCallAt = t;
    }
  }
  assert.ok(lastCallAt >= since + timeoutMs, `last call at ${lastCallAt}, timeout ends at ${since + timeoutMs}`);
  assert.equal(m.status(X), 'suspect', 'not dead at the timeout itself');
  // A peer holding X's refutation answers; X stays alive.
  step(m, C, { kind: 'ack', incarnation: 0, seq: 0, ringEpoch: 0, updates: [{ kind: 'alive', member: X, incarnation: 1 }] });
  for (let t = lastCallAt + 50; t <= lastCallAt + 3000; t += 50) answerAll(tick(m, t));
  assert.equal(m.status(X), 'alive');
  assert.equal(m.stats.deathsDeclared, 0);
});

test('membership: local health — unanswered probes stretch the probe period, answered ones keep it; healthMax 0 (the default) disables', () => {
  const count = (m: Membership, answer: boolean): number => {
    let pings = 0;
    for (let t = 0; t <= 20_000; t += 50) {
      for (const s of sends(tick(m, t))) {
        if (s.message.kind !== 'ping') continue;
        pings++;
        if (answer) step(m, s.to, { kind: 'ack', incarnation: 0, seq: s.message.seq, ringEpoch: 0, updates: [] });
      }
    }
    return pings;
  };
  const unanswered = make({ healthMax: 8 });
  const pingsUnanswered = count(unanswered, false);
  assert.ok(unanswered.localHealth >= 4, `health ${unanswered.localHealth}`);
  const answered = make({ healthMax: 8 });
  assert.equal(count(answered, true), 20);
  assert.equal(answered.localHealth, 0);
  const disabled = make();
  assert.equal(count(disabled, false), 20, 'full rate without local health');
  // Periods of 1, 2, 3, 4, 5 s fit 20 s: about 6 probes instead of 20.
  assert.ok(pingsUnanswered <= 7, `${pingsUnanswered} probes`);
});
