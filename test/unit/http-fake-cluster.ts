/**
 * An in-process stand-in for a cluster behind the ClusterNode interface, for HTTP API and
 * client tests before (and besides) the real-process cluster: N node views over one shared
 * store of versioned records, using the real dotted-version-vector code (applyWrite, contexts),
 * so siblings and contexts behave as in the core. Replication, quorums and failures are not
 * modelled: every view sees every write at once.
 */
import type {
  ClusterDefaults, ClusterNode, LocalReply, LocalRequest, MemberView, NodeAddress, RingChange, RingView, TopologyProgress,
} from '../../src/cluster/api.js';
import type { KvOp, KvResult } from '../../src/core/messages.js';
import { initialRing, keySlot, withMembers, type RingState } from '../../src/core/ring/index.js';
import { nodeId, type NodeId } from '../../src/core/types.js';
import {
  applyWrite, contextHlc, decodeContextToken, emptyRecord, encodeContext, HybridClock, liveValues, type VersionedRecord,
} from '../../src/core/versioning/index.js';
import { globMatch } from '../../src/data/glob-match.js';
import { RingkvError } from '../../src/errors/index.js';

export class FakeCluster {
  readonly records = new Map<string, VersionedRecord>();
  ring: RingState;
  pending: RingState | null = null;
  progress: TopologyProgress = { change: null, phase: 'idle', slotsToMove: 0, slotsMoved: 0, keysStreamed: 0, bytesStreamed: 0, message: '' };
  readonly nodes = new Map<NodeId, FakeClusterNode>();
  /** Ops executed, with the node that coordinated each. */
  readonly executed: { node: NodeId; op: KvOp }[] = [];
  readonly down = new Set<NodeId>();
  repairs = 0;

  constructor(ids: readonly string[], replicationFactor = 3) {
    for (const id of ids) this.nodes.set(nodeId(id), new FakeClusterNode(this, nodeId(id)));
    this.ring = initialRing(ids.map((id) => ({ id: nodeId(id), weight: 1 })), replicationFactor);
  }

  node(id: string): FakeClusterNode {
    const n = this.nodes.get(nodeId(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** A ring change that completes at once (its progress stays readable as 'done'). */
  change(change: RingChange): void {
    if (this.progress.phase === 'streaming') throw new RingkvError('ERR_TOPOLOGY_BUSY', 'a ring change is in flight');
    const members = [...this.ring.members];
    if (change.kind === 'join') {
      if (!this.nodes.has(change.id)) throw new RingkvError('ERR_UNKNOWN_NODE', `no such node ${change.id}`);
      members.push({ id: change.id, weight: change.weight ?? 1 });
    } else {
      const i = members.findIndex((m) => m.id === change.id);
      if (i < 0) throw new RingkvError('ERR_UNKNOWN_NODE', `no such member ${change.id}`);
      members.splice(i, 1);
    }
    this.ring = withMembers(this.ring, members);
    this.progress = { change, phase: 'done', slotsToMove: 10, slotsMoved: 10, keysStreamed: 0, bytesStreamed: 0, message: 'done' };
  }
}

export class FakeClusterNode implements ClusterNode {
  readonly defaults: ClusterDefaults = {
    replicationFactor: 3, readConsistency: 'quorum', writeConsistency: 'quorum', strictQuorum: false, conflictMode: 'siblings',
  };
  httpPort = 0;
  private readonly clock: HybridClock;

  constructor(private readonly cluster: FakeCluster, readonly id: NodeId) {
    this.clock = new HybridClock(id);
  }

  execute(op: KvOp): Promise<KvResult> {
    this.cluster.executed.push({ node: this.id, op });
    const now = Date.now();
    const rec = this.cluster.records.get(op.key) ?? emptyRecord();
    if (op.kind === 'get') {
      return Promise.resolve({
        kind: 'values',
        values: liveValues(rec, now).map((s) => ({ value: s.value, expiresAtMs: s.expiresAtMs })),
        context: encodeContext(rec.context, contextHlc(rec)),
      });
    }
    let ctx = op.context === null ? [] : decodeContextToken(op.context).context;
    if (op.overwrite === true) ctx = rec.context;
    const hlc = this.clock.now(now);
    for (const s of rec.siblings) this.clock.observe(s.hlc, now);
    try {
      const next = applyWrite(
        rec,
        ctx,
        { value: op.kind === 'put' ? op.value : null, expiresAtMs: op.kind === 'put' ? op.expiresAtMs : 0, hlc: this.clock.now(Math.max(now, hlc.wallMs)) },
        this.id,
        { mode: 'siblings', siblingsMax: 16 },
      );
      this.cluster.records.set(op.key, next);
    } catch (e) {
      if (e instanceof RingkvError) return Promise.resolve({ kind: 'error', code: e.code, message: e.message });
      throw e;
    }
    return Promise.resolve({ kind: 'written' });
  }

  ring(): RingView {
    return { current: this.cluster.ring, pending: this.cluster.pending };
  }

  members(): MemberView[] {
    const inRing = new Set(this.cluster.ring.members.map((m) => m.id));
    return [...this.cluster.nodes.values()].map((n) => ({
      id: n.id, state: this.cluster.down.has(n.id) ? 'dead' : 'alive', incarnation: 1, address: n.address(), inRing: inRing.has(n.id),
    }));
  }

  address(): NodeAddress {
    return { id: this.id, host: '127.0.0.1', respPort: 0, peerPort: 0, httpPort: this.httpPort };
  }

  isDown(id: NodeId): boolean {
    return this.cluster.down.has(id);
  }

  request(_to: NodeId, req: LocalRequest): Promise<LocalReply> {
    const now = Date.now();
    const live = [...this.cluster.records.entries()].filter(([, r]) => liveValues(r, now).length > 0).map(([k]) => k).sort();
    switch (req.kind) {
      case 'local_keys': {
        const slots = req.slots === undefined ? null : new Set(req.slots);
        const keys = live.filter((k) => (slots === null || slots.has(keySlot(k))) && (req.after === null || k > req.after)
          && (req.pattern === undefined || globMatch(req.pattern, k)));
        const page = keys.slice(0, req.limit);
        return Promise.resolve({ kind: 'local_keys', page: { keys: page, next: keys.length > req.limit ? (page.at(-1) ?? null) : null } });
      }
      case 'local_count':
        return Promise.resolve({ kind: 'local_count', count: live.length });
      case 'local_flush':
        this.cluster.records.clear();
        return Promise.resolve({ kind: 'local_flush', removed: live.length });
    }
  }

  changeRing(change: RingChange): Promise<void> {
    try {
      this.cluster.change(change);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  topology(): TopologyProgress {
    return this.cluster.progress;
  }

  stats(): Record<string, number> {
    return { hintsHeld: 2, hintsDelivered: 5, aeSessions: 3 + this.cluster.repairs, aeKeysPushed: 1, membershipAlive: this.cluster.nodes.size };
  }

  /** Slots this node replicates: even slots synced at 1000, odd ones never (a fixed pattern tests can check). */
  antiEntropySlots(): ReadonlyMap<number, number | null> {
    const out = new Map<number, number | null>();
    this.cluster.ring.owners.forEach((list, slot) => {
      if (list.includes(this.id)) out.set(slot, slot % 2 === 0 ? 1000 : null);
    });
    return out;
  }

  startRepair(): Promise<void> {
    this.cluster.repairs++;
    return Promise.resolve();
  }
}
