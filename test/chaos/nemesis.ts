/**
 * The nemesis: injects one fault at a time on a schedule drawn from a seeded PRNG, holds it,
 * heals it, and records both ends in the history. Faults:
 *
 * - partition-halves / partition-isolated / partition-bridge / partition-ring: nftables drop
 *   rules inside the host namespaces (a "grudge": for each host, the hosts it must not hear
 *   from). Bridge: two sides that cannot reach each other and one host that reaches both.
 *   Ring: each host reaches only its two ring neighbours (every host sees a majority of 5, no
 *   two hosts see the same majority). Clients (in the bridge namespace) keep reaching every host.
 * - loss: `numgen random mod 100 < P drop` on 1-3 hosts' input, node-to-node traffic only.
 * - kill: kill -9 of 1-2 hosts (never a majority), restarted when the fault ends.
 * - pause: SIGSTOP of 1-2 hosts, SIGCONT when it ends.
 * - clock-skew: one host restarted under libfaketime with a wall-clock offset, restarted on the
 *   true clock when it ends.
 *
 * Invariants: every rule lives in table `inet rkvchaos` of a namespace we created, so healing
 * is `flush` of our chains; every wait is bounded; `healAll()` returns every host to running,
 * unpaused, unskewed and unpartitioned whatever was in flight. The PRNG draws only the
 * schedule, so a seed gives the same sequence of faults (system timings still vary).
 */
import { Prng } from '../sim/prng.js';
import type { HistoryRecorder } from './history.js';
import { sh, type HostInfo, type Topology } from './netns.js';
import type { NodeSet } from './nodes.js';

export const FAULT_KINDS = [
  'partition-halves', 'partition-isolated', 'partition-bridge', 'partition-ring', 'loss', 'kill', 'pause', 'clock-skew',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const TABLE = 'rkvchaos';

function nft(host: HostInfo, script: string): void {
  sh('ip', ['netns', 'exec', host.ns, 'nft', '-f', '-'], { input: script });
}

/** Creates our (empty) table and chains in every host. */
export function setupFirewall(topo: Topology): void {
  for (const h of topo.hosts) {
    nft(h, [
      `table inet ${TABLE} {`,
      '  chain input { type filter hook input priority 0; policy accept; }',
      '  chain output { type filter hook output priority 0; policy accept; }',
      '}',
    ].join('\n'));
  }
}

export function healFirewall(topo: Topology): void {
  for (const h of topo.hosts) nft(h, `flush chain inet ${TABLE} input\nflush chain inet ${TABLE} output\n`);
}

/** For each host, the hosts whose packets it drops (both directions are cut by rules on both ends). */
export type Grudge = Map<number, Set<number>>;

export function applyGrudge(topo: Topology, grudge: Grudge): void {
  for (const h of topo.hosts) {
    const blocked = [...(grudge.get(h.index) ?? [])].map((i) => topo.hosts[i - 1]?.addr).filter((a): a is string => a !== undefined);
    if (blocked.length === 0) continue;
    const set = `{ ${blocked.join(', ')} }`;
    nft(h, `add rule inet ${TABLE} input ip saddr ${set} drop\nadd rule inet ${TABLE} output ip daddr ${set} drop\n`);
  }
}

function shuffled(prng: Prng, xs: readonly number[]): number[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a;
}

function sidesGrudge(sides: readonly (readonly number[])[]): Grudge {
  const g: Grudge = new Map();
  for (const side of sides) {
    const others = sides.filter((s) => s !== side).flat();
    for (const i of side) g.set(i, new Set(others));
  }
  return g;
}

export function partitionGrudge(kind: 'halves' | 'isolated' | 'bridge' | 'ring', indexes: readonly number[], prng: Prng): { grudge: Grudge; detail: string } {
  const order = shuffled(prng, indexes);
  const n = order.length;
  switch (kind) {
    case 'halves': {
      const cut = Math.floor(n / 2);
      const a = order.slice(0, cut), b = order.slice(cut);
      return { grudge: sidesGrudge([a, b]), detail: `[${a.join(',')}] | [${b.join(',')}]` };
    }
    case 'isolated': {
      const a = order.slice(0, 1), b = order.slice(1);
      return { grudge: sidesGrudge([a, b]), detail: `[${a.join(',')}] | [${b.join(',')}]` };
    }
    case 'bridge': {
      const bridge = order[0] as number;
      const rest = order.slice(1);
      const cut = Math.floor(rest.length / 2);
      const a = rest.slice(0, cut), b = rest.slice(cut);
      const g = sidesGrudge([a, b]);
      return { grudge: g, detail: `[${a.join(',')}] <${bridge}> [${b.join(',')}]` };
    }
    case 'ring': {
      const g: Grudge = new Map();
      for (let p = 0; p < n; p++) {
        const me = order[p] as number;
        const sees = new Set([me, order[(p + 1) % n] as number, order[(p + n - 1) % n] as number]);
        g.set(me, new Set(order.filter((x) => !sees.has(x))));
      }
      return { grudge: g, detail: `ring ${order.join('-')}` };
    }
    default: {
      const never: never = kind;
      throw new RangeError(`unknown partition ${String(never)}`);
    }
  }
}

export interface NemesisOptions {
  readonly topo: Topology;
  readonly nodes: NodeSet;
  readonly history: HistoryRecorder;
  readonly seed: number;
  readonly kinds: readonly FaultKind[];
  /** Quiet time between faults and how long a fault is held, ms (uniform in [min, max]). */
  readonly quietMs: readonly [number, number];
  readonly holdMs: readonly [number, number];
  /** Largest clock offset, seconds (drawn in ±[1, max]). */
  readonly skewMaxS: number;
  /**
   * Resolves true once a restarted host serves again (bounded by the caller). A skewed node must
   * be up before its hold starts: a node that takes longer to start than the hold would never
   * run on the skewed clock.
   */
  readonly awaitServing: (index: number) => Promise<boolean>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Nemesis {
  private readonly prng: Prng;
  private stopped = false;
  private wake: (() => void) | null = null;
  faultEvents = 0;

  constructor(private readonly o: NemesisOptions) {
    if (o.kinds.length === 0) throw new RangeError('nemesis needs at least one fault kind');
    this.prng = new Prng(o.seed);
  }

  /** Sleeps up to `ms`, returning early when stop() is called. */
  private async pause(ms: number): Promise<void> {
    if (this.stopped) return;
    await Promise.race([sleep(ms), new Promise<void>((r) => { this.wake = r; })]);
    this.wake = null;
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Runs faults until stop(); each fault is healed before the next begins. */
  async run(): Promise<void> {
    while (!this.stopped) {
      await this.pause(this.prng.between(this.o.quietMs[0], this.o.quietMs[1]));
      if (this.stopped) break;
      const kind = this.prng.pick(this.o.kinds);
      const hold = this.prng.between(this.o.holdMs[0], this.o.holdMs[1]);
      const heal = await this.inject(kind);
      await this.pause(hold);
      await heal();
    }
  }

  private running(): number[] {
    return this.o.nodes.runningIndexes();
  }

  /** Starts one fault; returns the function that heals it (and records the stop). */
  async inject(kind: FaultKind): Promise<() => Promise<void>> {
    const { topo, nodes, history } = this.o;
    const indexes = topo.hosts.map((h) => h.index);
    const minority = Math.max(1, Math.floor((indexes.length - 1) / 2));
    const record = (detail: string) => {
      this.faultEvents++;
      history.nemesis('start', kind, detail);
    };
    const done = (detail: string) => history.nemesis('stop', kind, detail);
    switch (kind) {
      case 'partition-halves':
      case 'partition-isolated':
      case 'partition-bridge':
      case 'partition-ring': {
        const p = partitionGrudge(kind.slice('partition-'.length) as 'halves' | 'isolated' | 'bridge' | 'ring', indexes, this.prng);
        applyGrudge(topo, p.grudge);
        record(p.detail);
        return async () => {
          healFirewall(topo);
          done(p.detail);
        };
      }
      case 'loss': {
        const victims = shuffled(this.prng, indexes).slice(0, this.prng.between(1, Math.min(3, indexes.length)));
        const pct = this.prng.between(5, 40);
        const net = topo.hosts.map((h) => h.addr);
        for (const i of victims) {
          const h = topo.hosts[i - 1] as HostInfo;
          nft(h, `add rule inet ${TABLE} input ip saddr { ${net.join(', ')} } numgen random mod 100 < ${pct} drop\n`);
        }
        const detail = `${pct}% on [${victims.join(',')}]`;
        record(detail);
        return async () => {
          healFirewall(topo);
          done(detail);
        };
      }
      case 'kill': {
        const victims = shuffled(this.prng, this.running()).slice(0, this.prng.between(1, minority));
        for (const i of victims) await nodes.kill(i);
        const detail = `kill -9 [${victims.join(',')}]`;
        record(detail);
        return async () => {
          for (const i of victims) if (nodes.state(i) === 'killed') nodes.start(i, nodes.skew(i));
          done(`restart [${victims.join(',')}]`);
        };
      }
      case 'pause': {
        const victims = shuffled(this.prng, this.running()).slice(0, this.prng.between(1, minority));
        for (const i of victims) nodes.pause(i);
        const detail = `SIGSTOP [${victims.join(',')}]`;
        record(detail);
        return async () => {
          for (const i of victims) nodes.resume(i);
          done(`SIGCONT [${victims.join(',')}]`);
        };
      }
      case 'clock-skew': {
        const victim = this.prng.pick(this.running().length > 0 ? this.running() : indexes);
        const magnitude = this.prng.between(1, this.o.skewMaxS);
        const skewS = this.prng.chance(0.5) ? magnitude : -magnitude;
        await nodes.kill(victim);
        nodes.start(victim, skewS);
        const serving = await this.o.awaitServing(victim);
        const detail = `host ${victim} restarted at ${skewS >= 0 ? '+' : ''}${skewS}s${serving ? '' : ' (not serving yet when the hold began)'}`;
        record(detail);
        return async () => {
          if (nodes.state(victim) === 'running' && nodes.skew(victim) !== 0) {
            await nodes.kill(victim);
            nodes.start(victim, 0);
          }
          done(`host ${victim} back on the true clock`);
        };
      }
      default: {
        const never: never = kind;
        throw new RangeError(`unknown fault ${String(never)}`);
      }
    }
  }

  /** Heals everything: firewall flushed, every host resumed, restarted if dead, back on the true clock. */
  async healAll(): Promise<string[]> {
    const { topo, nodes } = this.o;
    healFirewall(topo);
    const restarted: string[] = [];
    for (const h of topo.hosts) if (await nodes.heal(h.index)) restarted.push(String(h.index));
    return restarted;
  }
}
