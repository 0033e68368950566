/**
 * Membership at cluster level, on the seeded membership simulator: crash detection within a
 * bound, no false deaths, the two-source rule under broken links, refutation after restart,
 * join convergence, bounded O(log n) dissemination and determinism for a seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId, type NodeId } from '../../src/core/types.js';
import { MembershipSim } from '../sim/membership/membership-sim.js';
import { crashDetection, dissemination, falseAlarms } from '../sim/membership/scenarios.js';

test('membership sim: a crash is seen as dead by every live node within 20 probe periods (10 nodes, 8 seeds)', () => {
  for (let seed = 1; seed <= 8; seed++) {
    const r = crashDetection(seed, 10);
    assert.ok(r.allDeadPeriods <= 20, `seed ${seed}: all saw the crash after ${r.allDeadPeriods} periods`);
    // Nothing can be dead before two sources suspected and the shortest timeout ran.
    assert.ok(r.firstDeadPeriods >= 4, `seed ${seed}: first death after only ${r.firstDeadPeriods} periods`);
    assert.equal(r.falseDeaths, 0, `seed ${seed}`);
  }
});

test('membership sim: a crash is detected by all within 25 probe periods at 100 nodes', () => {
  const r = crashDetection(3, 100);
  assert.ok(r.allDeadPeriods <= 25, `all saw the crash after ${r.allDeadPeriods} periods`);
  assert.equal(r.falseDeaths, 0);
});

test('membership sim: no false suspicion and no false death in a lossless network over a simulated hour (12 nodes)', () => {
  const r = falseAlarms(11, 12, 0, 3_600_000);
  assert.equal(r.suspicionsRaised, 0);
  assert.equal(r.suspectTransitions, 0);
  assert.equal(r.deadTransitions, 0);
});

test('membership sim: under 20% message loss suspicions happen but are refuted, with no death (10 nodes, 20 min)', () => {
  const r = falseAlarms(5, 10, 0.2, 1_200_000);
  assert.ok(r.suspicionsRaised > 0, 'loss this heavy does cause suspicions (the check can fail)');
  assert.ok(r.refutations > 0);
  assert.equal(r.deadTransitions, 0);
});

test('membership sim: a broken link between two nodes does not make the cluster declare either dead', () => {
  const sim = new MembershipSim({ seed: 21, nodes: 8 });
  const [a, x] = [nodeId('n2'), nodeId('n5')];
  sim.cutLink(a, x);
  sim.cutLink(x, a);
  let deaths = 0;
  sim.onChange = (c) => { if (c.status === 'dead') deaths++; };
  sim.run(300_000);
  assert.equal(deaths, 0);
  for (const id of sim.ids) assert.equal(sim.node(id).status(x), 'alive', `${id} sees ${x}`);
  assert.ok(sim.node(a).stats.indirectProbes > 0, 'the cut node had to go through others');
});

test('membership sim: a deaf node suspects everyone, yet on its word alone nobody else is declared dead', () => {
  // Nothing reaches `deaf`; it still sends. Its probes all fail, so it raises suspicions about
  // every member — one source each. Only `deaf` itself (really unreachable) may die.
  const sim = new MembershipSim({ seed: 4, nodes: 8, config: { healthMax: 8 } });
  const deaf = nodeId('n3');
  for (const id of sim.ids) if (id !== deaf) sim.cutLink(id, deaf);
  const wronglyDead = new Set<NodeId>();
  sim.onChange = (c) => { if (c.status === 'dead' && c.member !== deaf && c.observer !== deaf) wronglyDead.add(c.member); };
  sim.run(300_000);
  assert.ok(sim.node(deaf).stats.suspicionsRaised >= 7, 'the deaf node suspected its peers');
  // Local health (on here): missing every ack, the deaf node slowed its probing to 9 x.
  const healthy = sim.node(nodeId('n0'));
  assert.equal(sim.node(deaf).localHealth, 8);
  assert.equal(healthy.localHealth, 0);
  assert.ok(sim.node(deaf).stats.probes * 4 < healthy.stats.probes, `deaf ${sim.node(deaf).stats.probes} probes vs healthy ${healthy.stats.probes}`);
  assert.ok(sim.node(deaf).stats.suspicionsConfirmed > 0, 'and kept failing to reach them');
  assert.deepEqual([...wronglyDead], []);
  for (const id of sim.ids) if (id !== deaf) assert.equal(sim.node(id).status(deaf), 'dead', `${id} sees the deaf node dead`);
});

test('membership sim: with a single other member a crash is suspected but never declared dead', () => {
  const sim = new MembershipSim({ seed: 2, nodes: 2 });
  const [a, b] = [nodeId('n0'), nodeId('n1')];
  sim.run(5_000);
  sim.crash(b);
  sim.run(120_000);
  assert.equal(sim.node(a).status(b), 'suspect');
});

test('membership sim: a restarted node refutes its death with a higher incarnation and is alive everywhere again', () => {
  const sim = new MembershipSim({ seed: 8, nodes: 8 });
  const victim = nodeId('n6');
  sim.run(5_000);
  sim.crash(victim);
  sim.run(60_000, () => sim.live().every((id) => sim.node(id).status(victim) === 'dead'));
  for (const id of sim.live()) assert.equal(sim.node(id).status(victim), 'dead');
  sim.restart(victim);
  const ok = sim.run(sim.nowMs + 30_000, () => sim.ids.every((id) => id === victim || sim.node(id).status(victim) === 'alive'));
  assert.ok(ok, 'every node sees the restarted member alive');
  for (const id of sim.ids) if (id !== victim) assert.ok((sim.node(id).incarnationOf(victim) ?? 0) >= 1);
  assert.equal(sim.node(victim).liveMembers().length, 8, 'the restarted node relearned the whole cluster');
});

test('membership sim: ten nodes joining through one seed converge to a full alive view', () => {
  const sim = new MembershipSim({ seed: 9, nodes: 10, bootstrap: 'join' });
  const ok = sim.run(30_000, () => sim.ids.every((id) => sim.node(id).liveMembers().length === 10));
  assert.ok(ok, `views: ${sim.ids.map((id) => sim.node(id).liveMembers().length).join(',')}`);
  assert.ok(sim.nowMs <= 15_000, `converged after ${sim.nowMs} ms`);
});

test('membership sim: an update reaches all nodes in O(log n) periods and no node sends it more than its retransmit limit', () => {
  for (const [n, boundPeriods] of [[10, 5], [100, 10]] as const) {
    for (const seed of [1, 2, 3]) {
      const r = dissemination(seed, n);
      assert.equal(r.missing, 0, `n=${n} seed ${seed}`);
      assert.ok(r.periods <= boundPeriods, `n=${n} seed ${seed}: ${r.periods} periods`);
      assert.ok(r.maxSendsPerNode <= r.retransmitLimit, `n=${n}: ${r.maxSendsPerNode} sends > limit ${r.retransmitLimit}`);
      assert.ok(r.maxSendsPerNode > 0);
    }
  }
});

test('membership sim: a seed determines the run — same seed, same digest; another seed, another digest', () => {
  const run = (seed: number): string => {
    const sim = new MembershipSim({ seed, nodes: 6, lossRate: 0.1 });
    sim.run(20_000);
    sim.crash(nodeId('n4'));
    sim.run(40_000);
    return `${sim.digestHex}/${sim.sent}`;
  };
  assert.equal(run(77), run(77));
  assert.notEqual(run(77), run(78));
});

test('membership sim: after a partition heals, the two sides that declared each other dead merge back', () => {
  const sim = new MembershipSim({ seed: 12, nodes: 8, config: { pushPullIntervalMs: 10_000 } });
  const left = sim.ids.slice(0, 4);
  const right = sim.ids.slice(4);
  for (const a of left) for (const b of right) { sim.cutLink(a, b); sim.cutLink(b, a); }
  sim.run(60_000);
  for (const a of left) for (const b of right) {
    assert.equal(sim.node(a).status(b), 'dead', `${a} holds ${b} dead during the partition`);
    assert.equal(sim.node(b).status(a), 'dead', `${b} holds ${a} dead during the partition`);
  }
  sim.heal();
  const merged = sim.run(sim.nowMs + 60_000, () => sim.ids.every((id) => sim.node(id).liveMembers().length === 8));
  assert.ok(merged, `views after heal: ${sim.ids.map((id) => sim.node(id).liveMembers().length).join(',')}`);
});
