/**
 * The ring as Redis Cluster clients see it (CLUSTER SLOTS / SHARDS / NODES / INFO): contiguous
 * slot ranges that share one ordered node list, where position 0 is shown as the master and the
 * rest as replicas. Pure: built from a ClusterNode's ring, members and failure view.
 *
 * Rules:
 * - a slot's list is its preference list in the current ring, live owners first (in preference
 *   order), then the ones this node routes around — so a client's "master" for a slot is a node
 *   that can answer, and it is the preference list's first node whenever that one is up;
 * - owners whose address this node has not learned yet are left out; a slot left with nobody is
 *   served by this node itself (any node coordinates any key), so all 16384 slots are always
 *   covered, which redis-py requires;
 * - node ids are 40 hex characters (sha1 of the ring id), the same in every command.
 */
import type { ClusterNode, MemberView, NodeAddress } from '../api.js';
import { SLOT_COUNT } from '../../core/ring/index.js';
import type { NodeId, Slot } from '../../core/types.js';
import { clusterHexId } from './cluster-kv-store.js';

export interface SlotNode {
  readonly id: NodeId;
  readonly hexId: string;
  readonly host: string;
  readonly respPort: number;
  readonly peerPort: number;
  readonly down: boolean;
}

export interface SlotRange {
  readonly start: Slot;
  /** Inclusive. */
  readonly end: Slot;
  /** [0] = master, the rest replicas. */
  readonly nodes: readonly SlotNode[];
}

export interface SlotMap {
  readonly epoch: number;
  readonly ranges: readonly SlotRange[];
  /** Slots with no live owner in the ring. */
  readonly slotsFailed: number;
  /** Slots whose first owner is down (served by a later one). */
  readonly slotsDegraded: number;
}

function slotNode(a: NodeAddress, down: boolean): SlotNode {
  return { id: a.id, hexId: clusterHexId(a.id), host: a.host, respPort: a.respPort, peerPort: a.peerPort, down };
}

export function buildSlotMap(node: ClusterNode): SlotMap {
  const ring = node.ring().current;
  const addresses = new Map<NodeId, NodeAddress>();
  // Clients are steered away from suspected members too (they serve as last replicas), even
  // while requests are still routed to them until the suspicion is confirmed.
  const suspected = new Set<NodeId>();
  for (const m of node.members()) {
    if (m.address !== undefined) addresses.set(m.id, m.address);
    if (m.state !== 'alive') suspected.add(m.id);
  }
  const isDown = (id: NodeId): boolean => node.isDown(id) || suspected.has(id);
  const self = node.address();
  addresses.set(self.id, self);
  const selfNode = slotNode(self, false);

  // Lists are interned by the ring, so each distinct list is resolved once.
  const resolved = new Map<readonly NodeId[], { key: string; nodes: SlotNode[]; failed: boolean; degraded: boolean }>();
  const resolve = (owners: readonly NodeId[]) => {
    let r = resolved.get(owners);
    if (r !== undefined) return r;
    const live: SlotNode[] = [];
    const dead: SlotNode[] = [];
    for (const id of owners) {
      const a = addresses.get(id);
      const down = id !== self.id && isDown(id);
      if (a === undefined) continue;
      (down ? dead : live).push(slotNode(a, down));
    }
    let nodes = [...live, ...dead];
    if (nodes.length === 0) nodes = [selfNode];
    const first = owners[0];
    r = {
      key: nodes.map((n) => n.id).join('\u0000'),
      nodes,
      failed: owners.length > 0 && owners.every((o) => o !== self.id && isDown(o)),
      degraded: first !== undefined && first !== self.id && isDown(first),
    };
    resolved.set(owners, r);
    return r;
  };

  const ranges: SlotRange[] = [];
  let slotsFailed = 0;
  let slotsDegraded = 0;
  let start = 0;
  let current: ReturnType<typeof resolve> | undefined;
  for (let s = 0; s < SLOT_COUNT; s++) {
    const r = resolve(ring.owners[s] ?? []);
    if (r.failed) slotsFailed++;
    if (r.degraded) slotsDegraded++;
    if (current !== undefined && r.key !== current.key) {
      ranges.push({ start, end: s - 1, nodes: current.nodes });
      start = s;
    }
    current = r;
  }
  if (current !== undefined) ranges.push({ start, end: SLOT_COUNT - 1, nodes: current.nodes });
  return { epoch: ring.epoch, ranges, slotsFailed, slotsDegraded };
}

/** Members shown by CLUSTER NODES: those in the ring or alive, with a known address. */
export function visibleMembers(node: ClusterNode): MemberView[] {
  const self = node.address();
  const out: MemberView[] = [];
  let sawSelf = false;
  for (const m of node.members()) {
    if (m.id === self.id) {
      sawSelf = true;
      out.push({ ...m, address: self });
      continue;
    }
    if (m.address === undefined) continue;
    if (!m.inRing && m.state !== 'alive') continue;
    out.push(m);
  }
  if (!sawSelf) out.push({ id: self.id, state: 'alive', incarnation: 0, address: self, inRing: false });
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Redis's CLUSTER NODES slot list: "0-5460 5462 ..." for the ranges a node is master of. */
export function masterSlotsOf(map: SlotMap, id: NodeId): string[] {
  // Adjacent ranges with the same master (different replicas) read as one range.
  const spans: [number, number][] = [];
  for (const r of map.ranges) {
    if (r.nodes[0]?.id !== id) continue;
    const last = spans[spans.length - 1];
    if (last !== undefined && last[1] + 1 === r.start) last[1] = r.end;
    else spans.push([r.start, r.end]);
  }
  return spans.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`));
}
