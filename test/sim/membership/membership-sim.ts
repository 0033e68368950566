/**
 * A focused deterministic simulator for membership alone: N `Membership` state machines on a
 * simulated network with seeded loss, delay, one-way link cuts, crashes and restarts. A run is
 * a pure function of its seed (one Prng drives the network; each node gets a forked stream), and
 * the digest of every send and status change identifies the run.
 *
 * Time: every node is ticked every `tickMs`; a message is delivered at its own arrival time,
 * after ticking the receiver to that time, so timers fire at message granularity too.
 * Crashed nodes are not stepped; messages to them are lost.
 */
import { Membership, MEMBERSHIP_DEFAULTS, type MembershipOptions } from '../../../src/core/membership/index.js';
import type { MemberStatus, MembershipEffect, MembershipMessage } from '../../../src/core/membership/index.js';
import { nodeId, type NodeId } from '../../../src/core/types.js';
import { Digest } from '../digest.js';
import { EventQueue } from '../event-queue.js';
import { Prng } from '../prng.js';

export type MembershipConfig = Omit<MembershipOptions, 'self' | 'incarnation' | 'random' | 'startMs' | 'seeds' | 'members'>;

export interface MemberSimOptions {
  readonly seed: number;
  readonly nodes: number;
  /** 'static': every node starts knowing all others; 'join': each joins through node n0. */
  readonly bootstrap: 'static' | 'join';
  readonly tickMs: number;
  /** Probability each message is lost, independently. */
  readonly lossRate: number;
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  readonly config: Partial<MembershipConfig>;
  /** Run every node's invariants after each step (O(n) each: off for large runs). */
  readonly checkInvariants: boolean;
  /** Fold every send into the digest (costly for large runs). */
  readonly digestSends: boolean;
}

export const SIM_DEFAULTS = {
  bootstrap: 'static',
  tickMs: 50,
  lossRate: 0,
  delayMinMs: 1,
  delayMaxMs: 10,
  config: {},
  checkInvariants: true,
  digestSends: true,
} as const satisfies Partial<MemberSimOptions>;

export interface ChangeRecord {
  readonly atMs: number;
  readonly observer: NodeId;
  readonly member: NodeId;
  readonly status: MemberStatus;
  readonly previous: MemberStatus | null;
  readonly incarnation: number;
}

export interface SendRecord {
  readonly atMs: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: MembershipMessage;
}

interface Delivery {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: MembershipMessage;
}

export class MembershipSim {
  readonly opts: MemberSimOptions;
  readonly ids: readonly NodeId[];
  readonly nodes = new Map<NodeId, Membership>();
  readonly crashed = new Set<NodeId>();
  private readonly cut = new Set<string>();
  private readonly net: Prng;
  private readonly queue = new EventQueue<Delivery>();
  private readonly digest = new Digest();
  private nextTickMs = 0;
  nowMs = 0;
  sent = 0;
  lost = 0;
  /** Observers, called for every status change and (if set) every send. */
  onChange: ((c: ChangeRecord) => void) | null = null;
  onSend: ((s: SendRecord) => void) | null = null;
  private readonly incarnations = new Map<NodeId, number>();

  constructor(options: Partial<MemberSimOptions> & { seed: number; nodes: number }) {
    this.opts = { ...SIM_DEFAULTS, ...options };
    if (this.opts.nodes < 1) throw new RangeError('at least one node');
    this.net = new Prng(this.opts.seed);
    this.ids = Array.from({ length: this.opts.nodes }, (_, i) => nodeId(`n${i}`));
    for (const id of this.ids) this.start(id, 0);
  }

  private start(id: NodeId, incarnation: number): void {
    const config = { ...MEMBERSHIP_DEFAULTS, ...this.opts.config };
    const first = this.ids[0] as NodeId;
    const m = new Membership({
      ...config,
      self: id,
      incarnation,
      random: this.net.fork(),
      startMs: this.nowMs,
      seeds: this.opts.bootstrap === 'join' ? [first] : [],
      members: this.opts.bootstrap === 'static' && incarnation === 0 ? this.ids : [],
    });
    this.incarnations.set(id, incarnation);
    this.nodes.set(id, m);
    this.drain(id, m);
  }

  node(id: NodeId): Membership {
    const m = this.nodes.get(id);
    if (m === undefined) throw new RangeError(`no node ${id}`);
    return m;
  }

  get probeIntervalMs(): number {
    return this.opts.config.probeIntervalMs ?? MEMBERSHIP_DEFAULTS.probeIntervalMs;
  }

  /** Stop stepping a node; its in-flight messages to it are lost. */
  crash(id: NodeId): void {
    this.crashed.add(id);
  }

  /** A fresh process with a higher incarnation, joining through the other nodes as seeds. */
  restart(id: NodeId): void {
    this.crashed.delete(id);
    const config = { ...MEMBERSHIP_DEFAULTS, ...this.opts.config };
    const incarnation = (this.incarnations.get(id) ?? 0) + 1;
    const m = new Membership({
      ...config,
      self: id,
      incarnation,
      random: this.net.fork(),
      startMs: this.nowMs,
      seeds: this.ids.filter((x) => x !== id),
      members: [],
    });
    this.incarnations.set(id, incarnation);
    this.nodes.set(id, m);
    this.drain(id, m);
  }

  /** Drop every message from `from` to `to` (one direction) until `heal`. */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  live(): NodeId[] {
    return this.ids.filter((id) => !this.crashed.has(id));
  }

  /** Run until `untilMs`, or until `stop()` holds after a step (checked after every tick round). */
  run(untilMs: number, stop?: () => boolean): boolean {
    while (this.nowMs < untilMs) {
      const nextMsg = this.queue.peekTime();
      if (nextMsg !== undefined && nextMsg <= this.nextTickMs) {
        const ev = this.queue.pop();
        if (ev === undefined) break;
        this.nowMs = ev.atMs;
        this.deliver(ev.event);
        continue;
      }
      this.nowMs = this.nextTickMs;
      for (const id of this.ids) {
        if (this.crashed.has(id)) continue;
        const m = this.node(id);
        m.step({ kind: 'tick', nowMs: this.nowMs });
        this.drain(id, m);
      }
      this.nextTickMs += this.opts.tickMs;
      if (stop !== undefined && stop()) return true;
    }
    return stop !== undefined && stop();
  }

  get digestHex(): string {
    return this.digest.hex();
  }

  private deliver(d: Delivery): void {
    if (this.crashed.has(d.to)) {
      this.lost++;
      return;
    }
    const m = this.node(d.to);
    m.step({ kind: 'tick', nowMs: this.nowMs });
    m.step({ kind: 'message', from: d.from, message: d.message });
    this.drain(d.to, m);
  }

  private drain(id: NodeId, m: Membership): void {
    const effects = m.takeEffects();
    for (const e of effects) this.execute(id, e);
    if (this.opts.checkInvariants) m.invariants();
  }

  private execute(from: NodeId, e: MembershipEffect): void {
    switch (e.kind) {
      case 'send': {
        this.sent++;
        if (this.opts.digestSends) this.digest.str(`|${this.nowMs}:${from}>${e.to}:${e.message.kind}:${digestMessage(e.message)}`);
        this.onSend?.({ atMs: this.nowMs, from, to: e.to, message: e.message });
        // Loss is drawn for every send, cut or not, so cutting a link does not shift other draws.
        const lostHere = this.net.chance(this.opts.lossRate);
        const delay = this.net.between(this.opts.delayMinMs, this.opts.delayMaxMs);
        if (lostHere || this.cut.has(`${from}>${e.to}`)) {
          this.lost++;
          return;
        }
        this.queue.push(this.nowMs + delay, { from, to: e.to, message: e.message });
        return;
      }
      case 'change':
        this.digest.str(`|${this.nowMs}:${from}:${e.member}=${e.status}@${e.incarnation}`);
        this.onChange?.({ atMs: this.nowMs, observer: from, member: e.member, status: e.status, previous: e.previous, incarnation: e.incarnation });
        return;
      case 'ring_epoch':
        this.digest.str(`|${this.nowMs}:${from}:ring ${e.peer}@${e.ringEpoch}`);
        return;
      default: {
        const never: never = e;
        throw new TypeError(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }
}

function digestMessage(m: MembershipMessage): string {
  const updates = m.kind === 'sync' ? m.members : m.updates;
  let s: string;
  switch (m.kind) {
    case 'sync': s = `${m.reply}`; break;
    case 'gossip': s = `${m.incarnation}`; break;
    case 'ping': case 'ack': case 'ping_req': s = `${m.seq}:${m.incarnation}`; break;
    default: { const never: never = m; throw new TypeError(`unknown message ${JSON.stringify(never)}`); }
  }
  for (const u of updates) s += `,${u.kind[0]}${u.member}@${u.incarnation}`;
  return s;
}

/** p-quantile (0..1) of a sample by nearest rank; NaN for an empty sample. */
export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] as number;
}
