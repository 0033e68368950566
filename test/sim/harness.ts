/**
 * A tiny hand-driven harness for coordinator scenarios: real Node instances, in-memory disks,
 * and every message / storage completion held in a list until the test delivers, drops or
 * duplicates it. Nothing happens unless the test says so, which is what makes a scenario like
 * "c's ack is lost, then the deadline passes" a few readable lines.
 */
import { Node, NODE_DEFAULTS, type NodeOptions, type Placement } from '../../src/core/node/node.js';
import type { KvOp, KvResult, PeerMessage, StorageOp, StorageResult, StoredHint } from '../../src/core/messages.js';
import { nodeId, requestId, type NodeId, type RequestId } from '../../src/core/types.js';
import type { RingState } from '../../src/core/ring/ring.js';

export interface InFlightMessage {
  from: NodeId;
  to: NodeId;
  message: PeerMessage;
}

export interface InFlightIo {
  node: NodeId;
  ioId: number;
  op: StorageOp;
}

export interface Reply {
  node: NodeId;
  requestId: RequestId;
  result: KvResult;
}

export const T0 = 1_000_000;

export class Harness {
  readonly nodes = new Map<NodeId, Node>();
  readonly disks = new Map<NodeId, Map<string, Buffer>>();
  /** Each node's hint namespace, `${owner}|${key}` -> stored hint (durable like the disk). */
  readonly hintDisks = new Map<NodeId, Map<string, StoredHint>>();
  readonly incarnations = new Map<NodeId, number>();
  messages: InFlightMessage[] = [];
  io: InFlightIo[] = [];
  readonly replies: Reply[] = [];
  /** The last ring each node reported adopting (ring_changed effects). */
  readonly rings = new Map<string, { current: RingState; pending: RingState | null }>();
  private rid = 0;
  nowMs = T0;

  constructor(ids: readonly string[], private readonly placement: Placement, private readonly overrides: Partial<NodeOptions> = {}) {
    for (const s of ids) {
      const id = nodeId(s);
      this.disks.set(id, new Map());
      this.hintDisks.set(id, new Map());
      this.incarnations.set(id, 0);
      this.boot(id);
    }
  }

  /** Starts a node's next incarnation over its disks and completes its hint reload scan. */
  private boot(id: NodeId): void {
    const incarnation = (this.incarnations.get(id) ?? 0) + 1;
    this.incarnations.set(id, incarnation);
    this.nodes.set(id, new Node({ ...NODE_DEFAULTS, id, incarnation, placement: this.placement, startMs: this.nowMs, ...this.overrides }));
    this.collect(id);
    this.completeIo((x) => x.node === id && x.op.kind === 'hint_scan');
  }

  /** Crash and restart: pending IO and messages to or from the node vanish; disks are kept. */
  restart(at: string): void {
    const id = nodeId(at);
    this.io = this.io.filter((x) => x.node !== id);
    this.messages = this.messages.filter((m) => m.to !== id && m.from !== id);
    this.boot(id);
  }

  hintDisk(id: string): Map<string, StoredHint> {
    const d = this.hintDisks.get(nodeId(id));
    if (d === undefined) throw new Error(`no hint disk ${id}`);
    return d;
  }

  node(id: string): Node {
    const n = this.nodes.get(nodeId(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  disk(id: string): Map<string, Buffer> {
    const d = this.disks.get(nodeId(id));
    if (d === undefined) throw new Error(`no disk ${id}`);
    return d;
  }

  private collect(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    n.invariants();
    for (const e of n.takeEffects()) {
      switch (e.kind) {
        case 'send': this.messages.push({ from: id, to: e.to, message: e.message }); break;
        case 'storage': this.io.push({ node: id, ioId: e.ioId, op: e.op }); break;
        case 'reply': this.replies.push({ node: id, requestId: e.requestId, result: e.result }); break;
        case 'ring_changed': this.rings.set(id, { current: e.current, pending: e.pending }); break;
        default: { const never: never = e; throw new TypeError(String(never)); }
      }
    }
  }

  request(at: string, op: KvOp): RequestId {
    const r = requestId(++this.rid);
    this.node(at).step({ kind: 'client_request', requestId: r, op });
    this.collect(nodeId(at));
    return r;
  }

  reply(r: RequestId): KvResult | undefined {
    return this.replies.find((x) => x.requestId === r)?.result;
  }

  /** Completes pending storage IO matching `pred` (all by default), applying writes to the disk. */
  completeIo(pred: (io: InFlightIo) => boolean = () => true): number {
    const now = this.io.filter(pred);
    this.io = this.io.filter((x) => !pred(x));
    for (const x of now) {
      const disk = this.disks.get(x.node) as Map<string, Buffer>;
      const hints = this.hintDisks.get(x.node) as Map<string, StoredHint>;
      const done = (result: StorageResult): void => this.node(x.node).step({ kind: 'storage_done', ioId: x.ioId, result });
      switch (x.op.kind) {
        case 'write': disk.set(x.op.key, x.op.record); done({ kind: 'written' }); break;
        case 'read': done({ kind: 'read', record: disk.get(x.op.key) ?? null }); break;
        case 'hint_put': hints.set(`${x.op.owner}|${x.op.key}`, { owner: x.op.owner, key: x.op.key, entry: x.op.entry }); done({ kind: 'written' }); break;
        case 'hint_delete': hints.delete(`${x.op.owner}|${x.op.key}`); done({ kind: 'written' }); break;
        case 'hint_scan': done({ kind: 'hints', hints: [...hints.values()] }); break;
        case 'scan': done(scanPage(disk, x.op.afterKey, x.op.limit)); break;
        case 'purge': if (disk.get(x.op.key)?.equals(x.op.record) === true) disk.delete(x.op.key); done({ kind: 'written' }); break;
        default: { const never: never = x.op; throw new TypeError(String(never)); }
      }
      this.collect(x.node);
    }
    return now.length;
  }

  /** Completes storage IO, including IO that completions start, until none is pending. */
  drainIo(): void {
    for (let i = 0; i < 1000 && this.io.length > 0; i++) this.completeIo();
  }

  /** Delivers in-flight messages matching `pred`; `drop` ones are discarded instead. */
  deliver(pred: (m: InFlightMessage) => boolean = () => true, drop: (m: InFlightMessage) => boolean = () => false): number {
    const now = this.messages.filter((m) => pred(m) || drop(m));
    this.messages = this.messages.filter((m) => !(pred(m) || drop(m)));
    let n = 0;
    for (const m of now) {
      if (drop(m)) continue;
      this.node(m.to).step({ kind: 'peer_message', from: m.from, message: m.message });
      this.collect(m.to);
      n++;
    }
    return n;
  }

  /** Runs IO and message delivery to quiescence; `drop` discards matching messages. */
  settle(drop: (m: InFlightMessage) => boolean = () => false): void {
    for (let i = 0; i < 10_000; i++) {
      const progressed = this.completeIo() + this.deliver(() => true, drop);
      if (progressed === 0 && this.messages.length === 0 && this.io.length === 0) return;
    }
    throw new Error('harness did not settle');
  }

  tick(advanceMs: number): void {
    this.nowMs += advanceMs;
    for (const id of this.nodes.keys()) {
      this.node(id).step({ kind: 'tick', nowMs: this.nowMs });
      this.collect(id);
    }
  }
}

/**
 * Every key lives on `replicas`; other nodes coordinate but hold nothing. `fallbacks`, when
 * given, are the sloppy-quorum stand-ins in order (none = no sloppy quorum).
 */
export function fixedPlacement(replicas: readonly string[], fallbacks: readonly string[] = []): Placement {
  const list = replicas.map(nodeId);
  const spare = fallbacks.map(nodeId);
  return { replicationFactor: list.length, preferenceList: () => list, fallbackList: () => spare, slotPreferenceList: () => list };
}

/** One page of a storage `scan`: records in ascending key order strictly after `afterKey`. */
export function scanPage(disk: ReadonlyMap<string, Buffer>, afterKey: string | null, limit: number): StorageResult {
  const keys = [...disk.keys()].filter((k) => afterKey === null || k > afterKey).sort();
  const page = keys.slice(0, limit);
  return { kind: 'records', records: page.map((key) => ({ key, record: disk.get(key) as Buffer })), done: page.length === keys.length };
}

export const values = (r: KvResult | undefined): string[] => {
  if (r?.kind !== 'values') throw new Error(`expected values, got ${JSON.stringify(r)}`);
  return r.values.map((v) => v.value.toString()).sort();
};
