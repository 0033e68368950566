/**
 * A small hand-driven cluster for topology tests: real `Node`s in ring mode without membership
 * (announcements travel as topology messages), in-memory disks, a FIFO of messages and storage
 * completions, and a filter that can drop or hold messages to script a scenario.
 */
import { Node, NODE_DEFAULTS, type NodeRing } from '../../src/core/node/node.js';
import type { Effect, KvOp, KvResult, PeerMessage, StorageOp, StorageResult } from '../../src/core/messages.js';
import { initialRing, type RingState } from '../../src/core/ring/index.js';
import type { RingChange } from '../../src/core/topology/types.js';
import { nodeId, requestId, type NodeId, type RequestId } from '../../src/core/types.js';

export type Filter = (from: NodeId, to: NodeId, m: PeerMessage) => boolean;

interface Member {
  node: Node | null;
  readonly disk: Map<string, Buffer>;
  incarnation: number;
  ring: NodeRing;
  readonly rings: Effect[];
}

type Work = { kind: 'msg'; from: NodeId; to: NodeId; m: PeerMessage } | { kind: 'io'; to: NodeId; incarnation: number; ioId: number; result: StorageResult };

export class TopoCluster {
  readonly members = new Map<NodeId, Member>();
  readonly replies = new Map<RequestId, KvResult>();
  /** Every peer message sent (delivered, or dropped at a crashed receiver), in order. */
  readonly sent: { from: NodeId; to: NodeId; m: PeerMessage }[] = [];
  /** Storage ops executed per node (purges in particular). */
  readonly storageOps: { node: NodeId; op: StorageOp; atMs: number }[] = [];
  nowMs = 1_000_000;
  private seq = 0;
  private work: Work[] = [];
  filter: Filter = () => true;
  private readonly seed: NodeId;

  constructor(ids: readonly string[], inRing: readonly string[], readonly replicationFactor = 3, readonly requestTimeoutMs = 200) {
    this.seed = nodeId(inRing[0] ?? 'n1');
    const ring = initialRing(inRing.map((id) => ({ id: nodeId(id), weight: 1 })), replicationFactor);
    for (const id of ids) {
      const n = nodeId(id);
      this.members.set(n, { node: null, disk: new Map(), incarnation: 0, ring: { current: inRing.includes(id) ? ring : null, pending: null }, rings: [] });
      this.start(n);
    }
  }

  get ring(): RingState {
    for (const m of this.members.values()) if (m.ring.current !== null) return m.ring.current;
    throw new Error('no ring');
  }

  start(id: NodeId): void {
    const m = this.mustMember(id);
    m.incarnation++;
    m.node = new Node({
      ...NODE_DEFAULTS, id, incarnation: m.incarnation, ring: m.ring, startMs: this.nowMs, requestTimeoutMs: this.requestTimeoutMs,
      topology: { retryMs: 50, pullPageMax: 4, seeds: [this.seed] },
    });
    this.drain(id);
  }

  crash(id: NodeId): void {
    this.mustMember(id).node = null;
    this.work = this.work.filter((w) => w.to !== id);
  }

  node(id: string): Node {
    const n = this.mustMember(nodeId(id)).node;
    if (n === null) throw new Error(`${id} is down`);
    return n;
  }

  disk(id: string): Map<string, Buffer> {
    return this.mustMember(nodeId(id)).disk;
  }

  client(at: string, op: KvOp): RequestId {
    const rid = requestId(++this.seq);
    this.node(at).step({ kind: 'client_request', requestId: rid, op });
    this.drain(nodeId(at));
    return rid;
  }

  change(at: string, change: RingChange): RequestId {
    const rid = requestId(++this.seq);
    this.node(at).changeRing(rid, change);
    this.drain(nodeId(at));
    return rid;
  }

  private mustMember(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`unknown node ${id}`);
    return m;
  }

  private drain(id: NodeId): void {
    const m = this.mustMember(id);
    const node = m.node;
    if (node === null) return;
    for (const e of node.takeEffects()) {
      switch (e.kind) {
        case 'send':
          if (this.filter(id, e.to, e.message)) this.work.push({ kind: 'msg', from: id, to: e.to, m: e.message });
          break;
        case 'reply':
          this.replies.set(e.requestId, e.result);
          break;
        case 'ring_changed':
          m.ring = { current: e.current, pending: e.pending, change: e.change ?? null, origin: e.origin ?? null, ...(e.id !== undefined ? { id: e.id } : {}) };
          m.rings.push(e);
          break;
        case 'storage':
          this.storageOps.push({ node: id, op: e.op, atMs: this.nowMs });
          this.work.push({ kind: 'io', to: id, incarnation: m.incarnation, ioId: e.ioId, result: this.exec(m.disk, e.op) });
          break;
        default: {
          const never: never = e;
          throw new TypeError(`unknown effect ${JSON.stringify(never)}`);
        }
      }
    }
  }

  private exec(disk: Map<string, Buffer>, op: StorageOp): StorageResult {
    switch (op.kind) {
      case 'read': return { kind: 'read', record: disk.get(op.key) ?? null };
      case 'write': disk.set(op.key, op.record); return { kind: 'written' };
      case 'purge': if (disk.get(op.key)?.equals(op.record) === true) disk.delete(op.key); return { kind: 'written' };
      case 'scan': {
        const keys = [...disk.keys()].filter((k) => op.afterKey === null || k > op.afterKey).sort();
        const page = keys.slice(0, op.limit);
        return { kind: 'records', records: page.map((key) => ({ key, record: disk.get(key)! })), done: page.length === keys.length };
      }
      case 'hint_scan': return { kind: 'hints', hints: [] };
      case 'hint_put': case 'hint_delete': return { kind: 'written' };
      default: {
        const never: never = op;
        throw new TypeError(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Delivers queued work until none is left (bounded). */
  settle(): void {
    for (let i = 0; i < 1_000_000 && this.work.length > 0; i++) {
      const w = this.work.shift()!;
      const m = this.mustMember(w.to);
      if (w.kind === 'msg') this.sent.push({ from: w.from, to: w.to, m: w.m });
      if (m.node === null) continue;
      if (w.kind === 'msg') {
        m.node.step({ kind: 'peer_message', from: w.from, message: w.m });
      } else {
        if (w.incarnation !== m.incarnation) continue;
        m.node.step({ kind: 'storage_done', ioId: w.ioId, result: w.result });
      }
      m.node.invariants();
      this.drain(w.to);
    }
    if (this.work.length > 0) throw new Error('cluster did not settle');
  }

  /** Advances time in 10 ms ticks, settling after each. */
  run(ms: number): void {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      this.nowMs += 10;
      for (const [id, m] of this.members) {
        if (m.node === null) continue;
        m.node.step({ kind: 'tick', nowMs: this.nowMs });
        this.drain(id);
      }
      this.settle();
    }
  }

  /** Runs until `cond` holds (or throws after `maxMs`). */
  until(cond: () => boolean, maxMs = 20_000): void {
    const end = this.nowMs + maxMs;
    while (!cond()) {
      if (this.nowMs >= end) throw new Error('condition not reached in time');
      this.run(10);
    }
  }

  put(at: string, key: string, value: string, writeQuorum: 'one' | 'quorum' | 'all' = 'quorum'): RequestId {
    return this.client(at, { kind: 'put', key, value: Buffer.from(value), expiresAtMs: 0, context: null, writeQuorum });
  }
}
