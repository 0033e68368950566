/**
 * Membership scenarios measured on the simulator, shared by the tests (small sizes, assertions)
 * and bench/membership-figures.ts (the reported figures). Each takes a seed and returns numbers;
 * times are in probe periods (probeIntervalMs) unless the name says otherwise.
 */
import { nodeId, type NodeId } from '../../../src/core/types.js';
import { MembershipSim, type MemberSimOptions } from './membership-sim.js';

type SimOverrides = Partial<Omit<MemberSimOptions, 'seed' | 'nodes'>>;

export interface DetectionResult {
  /** Crash until the first live node declared (or adopted) dead. */
  firstDeadPeriods: number;
  /** Crash until every live node sees the crashed member dead; Infinity if not within the cap. */
  allDeadPeriods: number;
  /** Live members wrongly marked dead meanwhile (must be 0 on a lossless network). */
  falseDeaths: number;
}

/**
 * Crash one random node after a warm-up and measure how long until every live node sees it dead.
 * The crash lands at a random point within a period so phases do not line up.
 */
export function crashDetection(seed: number, nodes: number, overrides: SimOverrides = {}, capPeriods = 200): DetectionResult {
  const sim = new MembershipSim({ seed, nodes, checkInvariants: nodes <= 20, digestSends: false, ...overrides });
  const period = sim.probeIntervalMs;
  const victim = sim.ids[1 + (seed % (nodes - 1))] as NodeId;
  const crashAtMs = 5 * period + ((seed * 7919) % period);
  const deadSeen = new Map<NodeId, number>();
  let falseDeaths = 0;
  sim.onChange = (c) => {
    if (c.status !== 'dead') return;
    if (c.member === victim) {
      if (!deadSeen.has(c.observer)) deadSeen.set(c.observer, c.atMs);
    } else if (!sim.crashed.has(c.member)) falseDeaths++;
  };
  sim.run(crashAtMs);
  sim.crash(victim);
  const live = sim.live();
  sim.run(crashAtMs + capPeriods * period, () => live.every((id) => sim.node(id).status(victim) === 'dead'));
  const times = live.map((id) => deadSeen.get(id) ?? Number.POSITIVE_INFINITY);
  return {
    firstDeadPeriods: (Math.min(...times) - crashAtMs) / period,
    allDeadPeriods: (Math.max(...times) - crashAtMs) / period,
    falseDeaths,
  };
}

export interface FalseAlarmResult {
  nodeHours: number;
  /** Suspicions raised by a node's own failed probe of a live member. */
  suspicionsRaised: number;
  /** Transitions to suspect (any observer, any cause) of a live member. */
  suspectTransitions: number;
  /** Transitions to dead of a live member (every node is live here). */
  deadTransitions: number;
  /** Members declared dead by a node's own rule (a subset of the transitions' causes). */
  deathsDeclared: number;
  refutations: number;
  sent: number;
}

/** No crashes, lossy links: every suspicion and every death is false. */
export function falseAlarms(seed: number, nodes: number, lossRate: number, durationMs: number, overrides: SimOverrides = {}): FalseAlarmResult {
  const sim = new MembershipSim({ seed, nodes, lossRate, checkInvariants: false, digestSends: false, ...overrides });
  let suspectTransitions = 0;
  let deadTransitions = 0;
  sim.onChange = (c) => {
    if (c.status === 'suspect' && c.previous !== 'suspect') suspectTransitions++;
    if (c.status === 'dead') deadTransitions++;
  };
  sim.run(durationMs);
  let suspicionsRaised = 0;
  let deathsDeclared = 0;
  let refutations = 0;
  for (const id of sim.ids) {
    const s = sim.node(id).stats;
    suspicionsRaised += s.suspicionsRaised;
    deathsDeclared += s.deathsDeclared;
    refutations += s.refutations;
  }
  return { nodeHours: (nodes * durationMs) / 3_600_000, suspicionsRaised, suspectTransitions, deadTransitions, deathsDeclared, refutations, sent: sim.sent };
}

export interface DisseminationResult {
  /** Probe periods from the announcement until every node holds it. */
  periods: number;
  /** The most times any one node sent the update on a piggyback (ping, ack, ping_req). */
  maxSendsPerNode: number;
  retransmitLimit: number;
  /** Nodes still missing the update when the cap was hit (0 = reached all). */
  missing: number;
}

/**
 * One node raises its incarnation (a fresh alive update) at a random point after warm-up; count
 * periods until every node has it. Lossless unless overridden.
 */
export function dissemination(seed: number, nodes: number, overrides: SimOverrides = {}, capPeriods = 100): DisseminationResult {
  const sim = new MembershipSim({ seed, nodes, checkInvariants: nodes <= 20, digestSends: false, ...overrides });
  const period = sim.probeIntervalMs;
  const origin = nodeId(`n${seed % nodes}`);
  const startMs = 3 * period + ((seed * 104729) % period);
  sim.run(startMs);
  const originNode = sim.node(origin);
  originNode.announce();
  const incarnation = originNode.ownIncarnation;
  const sends = new Map<NodeId, number>();
  sim.onSend = (s) => {
    if (s.message.kind === 'sync') return;
    for (const u of s.message.updates) {
      if (u.member === origin && u.kind === 'alive' && u.incarnation === incarnation) sends.set(s.from, (sends.get(s.from) ?? 0) + 1);
    }
  };
  const has = (id: NodeId): boolean => (sim.node(id).incarnationOf(origin) ?? -1) >= incarnation;
  const t0 = sim.nowMs;
  sim.run(t0 + capPeriods * period, () => sim.ids.every(has));
  const reachedAt = sim.nowMs;
  // Keep running until the queues drain so every node's sends of the update are counted.
  sim.run(reachedAt + 40 * period);
  return {
    periods: (reachedAt - t0) / period,
    maxSendsPerNode: Math.max(0, ...sends.values()),
    retransmitLimit: originNode.retransmitLimit,
    missing: sim.ids.filter((id) => !has(id)).length,
  };
}
