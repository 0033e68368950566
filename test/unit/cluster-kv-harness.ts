/**
 * An in-process cluster for front-end tests: real core Nodes on a real ring (initialRing), with
 * in-memory disks and a network that delivers every message and storage completion on a later
 * macrotask (so concurrent operations interleave), stepped by a real-time tick timer. Each node
 * is served to the code under test as a ClusterNode (src/cluster/api.ts), the contract the real
 * node host implements, including the fan-out LocalRequests (local_keys, local_count,
 * local_flush) answered from the node's own disk.
 *
 * `stop(id)` makes a node unreachable: messages to and from it are dropped, its requests
 * fail, and the others route around it (setDown), as membership would after detecting it.
 * Call `close()` at the end of a test: it stops the tick timer.
 */
import { globMatch } from '../../src/data/glob-match.js';
import type {
  ClusterDefaults, ClusterNode, LocalReply, LocalRequest, MemberView, NodeAddress, RingView, TopologyProgress,
} from '../../src/cluster/api.js';
import type { KvOp, KvResult, PeerMessage, StorageOp, StorageResult, StoredHint } from '../../src/core/messages.js';
import { Node, NODE_DEFAULTS } from '../../src/core/node/node.js';
import { fallbackList, initialRing, keySlot, preferenceList, type RingState } from '../../src/core/ring/index.js';
import { nodeId, requestId, type NodeId, type RequestId } from '../../src/core/types.js';
import { RingkvError } from '../../src/errors/index.js';

/** The largest local_keys page the real host accepts. */
export const LOCAL_KEYS_LIMIT_MAX = 10_000;

export interface InProcessClusterOptions {
  ids?: readonly string[];
  replicationFactor?: number;
  requestTimeoutMs?: number;
  tickMs?: number;
  mode?: 'siblings' | 'lww';
}

interface Member {
  id: NodeId;
  node: Node;
  disk: Map<string, Buffer>;
  hints: Map<string, StoredHint>;
  address: NodeAddress;
  pending: Map<RequestId, (r: KvResult) => void>;
}

export class InProcessCluster {
  readonly ring: RingState;
  readonly defaults: ClusterDefaults;
  private readonly members = new Map<NodeId, Member>();
  private readonly stopped = new Set<NodeId>();
  private readonly timer: NodeJS.Timeout;
  private rid = 0;
  /** Writes a non-replica coordinator handed to a replica (a client that routes well sends none). */
  forwardedWrites = 0;
  /** local_keys requests served (tests check how much a scan asks). */
  localKeysRequests = 0;
  /** Records one local_keys page examines at most (the host bounds its work the same way). */
  localKeysExaminedMax = Number.MAX_SAFE_INTEGER;
  /** Messages delivered, for tests that check traffic happened. */
  delivered = 0;

  constructor(options: InProcessClusterOptions = {}) {
    const ids = (options.ids ?? ['a', 'b', 'c']).map(nodeId);
    const n = options.replicationFactor ?? 3;
    this.ring = initialRing(ids.map((id) => ({ id, weight: 1 })), n);
    const ring = this.ring;
    this.defaults = { replicationFactor: n, readConsistency: 'quorum', writeConsistency: 'quorum', strictQuorum: false, conflictMode: options.mode ?? 'siblings' };
    const placement = {
      replicationFactor: n,
      preferenceList: (key: string) => preferenceList(ring, keySlot(key)),
      fallbackList: (key: string) => fallbackList(ring, keySlot(key)),
      slotPreferenceList: (slot: number) => preferenceList(ring, slot),
    };
    ids.forEach((id, i) => {
      const node = new Node({
        ...NODE_DEFAULTS, id, incarnation: 1, placement, startMs: Date.now(), mode: options.mode ?? 'siblings',
        requestTimeoutMs: options.requestTimeoutMs ?? 500,
      });
      const m: Member = {
        id, node, disk: new Map(), hints: new Map(), pending: new Map(),
        address: { id, host: '127.0.0.1', respPort: 17000 + i, peerPort: 18000 + i, httpPort: 0 },
      };
      this.members.set(id, m);
    });
    for (const m of this.members.values()) this.collect(m);
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const m of this.members.values()) {
        if (this.stopped.has(m.id)) continue;
        m.node.step({ kind: 'tick', nowMs: now });
        this.collect(m);
      }
    }, options.tickMs ?? 10);
  }

  close(): void {
    clearInterval(this.timer);
  }

  ids(): NodeId[] {
    return [...this.members.keys()];
  }

  member(id: string): Member {
    const m = this.members.get(nodeId(id));
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  /** Sets the RESP port a member advertises (tests that listen on port 0). */
  setRespPort(id: string, port: number): void {
    const m = this.member(id);
    m.address = { ...m.address, respPort: port };
  }

  /** The member becomes unreachable; the others route around it. */
  stop(id: string): void {
    const target = nodeId(id);
    this.stopped.add(target);
    for (const m of this.members.values()) if (m.id !== target) m.node.setDown(target, true);
  }

  /** Live record count on a member's disk (tombstones and expired excluded). */
  liveKeys(id: string): string[] {
    const m = this.member(id);
    const now = Date.now();
    return [...m.disk].filter(([, rec]) => m.node.versions.live(m.node.versions.decode(rec), now).length > 0).map(([k]) => k).sort();
  }

  /** The ClusterNode view of one member (what a node host would hand to the front ends). */
  clusterNode(id: string): ClusterNode {
    const self = this.member(id);
    const cluster = this;
    return {
      id: self.id,
      defaults: this.defaults,
      execute: (op) => cluster.execute(self, op),
      ring: (): RingView => ({ current: cluster.ring, pending: null }),
      members: (): MemberView[] => [...cluster.members.values()].map((m) => ({
        id: m.id,
        state: m.id !== self.id && self.node.downMembers.includes(m.id) ? 'dead' : 'alive',
        incarnation: 1,
        address: m.address,
        inRing: true,
      })),
      address: () => self.address,
      isDown: (other) => self.node.downMembers.includes(other),
      request: (to, req) => cluster.serveLocal(self, to, req),
      changeRing: () => Promise.reject(new RingkvError('ERR_TOPOLOGY_BUSY', 'TRYAGAIN ring changes are not simulated here')),
      topology: (): TopologyProgress => ({ change: null, phase: 'idle', slotsToMove: 0, slotsMoved: 0, keysStreamed: 0, bytesStreamed: 0, message: '' }),
      stats: () => ({ peer_messagesSent: cluster.delivered, peer_messagesReceived: cluster.delivered }),
    };
  }

  private execute(m: Member, op: KvOp): Promise<KvResult> {
    if (this.stopped.has(m.id)) return Promise.resolve({ kind: 'error', code: 'ERR_UNAVAILABLE', message: 'node stopped' });
    return new Promise((resolve) => {
      const r = requestId(++this.rid);
      m.pending.set(r, resolve);
      m.node.step({ kind: 'client_request', requestId: r, op });
      this.collect(m);
    });
  }

  private async serveLocal(from: Member, to: NodeId, req: LocalRequest): Promise<LocalReply> {
    await new Promise((r) => setImmediate(r));
    const m = this.members.get(to);
    if (m === undefined) throw new RingkvError('ERR_UNKNOWN_NODE', `ERR unknown node ${to}`);
    if (this.stopped.has(to) || this.stopped.has(from.id)) throw new RingkvError('ERR_UNAVAILABLE', `UNAVAILABLE node ${to} unreachable`);
    const now = Date.now();
    const slots = req.kind === 'local_flush' || req.slots === undefined ? undefined : new Set(req.slots);
    const live = [...m.disk.keys()].filter((k) => {
      if (slots !== undefined && !slots.has(keySlot(k))) return false;
      const rec = m.disk.get(k) as Buffer;
      return m.node.versions.live(m.node.versions.decode(rec), now).length > 0;
    }).sort();
    switch (req.kind) {
      case 'local_count':
        return { kind: 'local_count', count: live.length };
      case 'local_flush': {
        const removed = m.disk.size;
        m.disk.clear();
        return { kind: 'local_flush', removed };
      }
      case 'local_keys': {
        // As the real host: pages of at most LOCAL_KEYS_LIMIT_MAX matching keys.
        if (req.limit < 1 || req.limit > LOCAL_KEYS_LIMIT_MAX) throw new RingkvError('ERR_PROTOCOL', 'malformed request');
        // Like the host, a page examines at most `localKeysExaminedMax` records, so a selective
        // pattern can answer an empty page that still has a next position.
        this.localKeysRequests++;
        const after = req.after;
        const pattern = req.pattern;
        const candidates = live.filter((k) => after === null || k > after);
        const keys: string[] = [];
        let examined = 0;
        for (const k of candidates) {
          if (keys.length >= req.limit || examined >= this.localKeysExaminedMax) {
            const last = candidates[examined - 1];
            return { kind: 'local_keys', page: { keys, next: last ?? null } };
          }
          examined++;
          if (pattern === undefined || globMatch(pattern, k)) keys.push(k);
        }
        return { kind: 'local_keys', page: { keys, next: null } };
      }
      default: {
        const never: never = req;
        throw new TypeError(String(never));
      }
    }
  }

  private collect(m: Member): void {
    m.node.invariants();
    for (const e of m.node.takeEffects()) {
      switch (e.kind) {
        case 'send': this.send(m.id, e.to, e.message); break;
        case 'storage': this.storage(m, e.ioId, e.op); break;
        case 'reply': {
          const resolve = m.pending.get(e.requestId);
          m.pending.delete(e.requestId);
          resolve?.(e.result);
          break;
        }
        case 'ring_changed': break;
        default: { const never: never = e; throw new TypeError(String(never)); }
      }
    }
  }

  private send(from: NodeId, to: NodeId, message: PeerMessage): void {
    if (message.kind === 'forward_write') this.forwardedWrites++;
    setImmediate(() => {
      if (this.stopped.has(from) || this.stopped.has(to)) return;
      const target = this.members.get(to);
      if (target === undefined) return;
      this.delivered++;
      target.node.step({ kind: 'peer_message', from, message });
      this.collect(target);
    });
  }

  private storage(m: Member, ioId: number, op: StorageOp): void {
    setImmediate(() => {
      if (this.stopped.has(m.id)) return;
      const done = (result: StorageResult): void => {
        m.node.step({ kind: 'storage_done', ioId, result });
        this.collect(m);
      };
      switch (op.kind) {
        case 'write': m.disk.set(op.key, op.record); return done({ kind: 'written' });
        case 'read': return done({ kind: 'read', record: m.disk.get(op.key) ?? null });
        case 'hint_put': m.hints.set(`${op.owner}|${op.key}`, { owner: op.owner, key: op.key, entry: op.entry }); return done({ kind: 'written' });
        case 'hint_delete': m.hints.delete(`${op.owner}|${op.key}`); return done({ kind: 'written' });
        case 'hint_scan': return done({ kind: 'hints', hints: [...m.hints.values()] });
        case 'scan': {
          const keys = [...m.disk.keys()].filter((k) => op.afterKey === null || k > op.afterKey).sort();
          const page = keys.slice(0, op.limit);
          return done({ kind: 'records', records: page.map((key) => ({ key, record: m.disk.get(key) as Buffer })), done: page.length === keys.length });
        }
        case 'purge':
          if (m.disk.get(op.key)?.equals(op.record) === true) m.disk.delete(op.key);
          return done({ kind: 'written' });
        default: { const never: never = op; throw new TypeError(String(never)); }
      }
    });
  }
}
