/**
 * Ring placement figures: balance (max/mean ownership per weight, replicas and primaries),
 * replica movement on a join vs the ideal (the joiner's weight share, 1/(n+1) at equal
 * weights) and on a leave, and compute times. Prints a markdown table.
 *
 * Run: node --import tsx bench/ring-figures.ts
 */
import {
  SLOT_COUNT,
  initialRing,
  ownership,
  withMemberAdded,
  withMemberRemoved,
  type RingMember,
  type RingState,
} from '../src/core/ring/index.js';
import { nodeId, type NodeId } from '../src/core/types.js';

interface Case {
  name: string;
  members: RingMember[];
  joiner: RingMember;
}

const equal = (n: number): Case => ({
  name: `${n} nodes, equal weights`,
  members: Array.from({ length: n }, (_, i) => ({ id: nodeId(`n${String(i).padStart(4, '0')}`), weight: 1 })),
  joiner: { id: nodeId('joiner'), weight: 1 },
});

const racked: Case = {
  name: '60 nodes, 6 racks, weights 1-4',
  members: Array.from({ length: 60 }, (_, i) => ({
    id: nodeId(`r${String(i).padStart(3, '0')}`),
    weight: 1 + (Math.floor(i / 6) % 4),
    rack: `rack${i % 6}`,
  })),
  joiner: { id: nodeId('joiner'), weight: 3, rack: 'rack2' },
};

const zoned: Case = {
  name: '36 nodes, 3 zones x 3 racks, weights 1-3',
  members: Array.from({ length: 36 }, (_, i) => ({
    id: nodeId(`z${String(i).padStart(3, '0')}`),
    weight: 1 + (Math.floor(i / 9) % 3),
    zone: `zone${i % 3}`,
    rack: `rack${Math.floor(i / 3) % 3}`,
  })),
  joiner: { id: nodeId('joiner'), weight: 2, zone: 'zone1', rack: 'rack0' },
};

function balance(ring: RingState): { replicas: number; primaries: number } {
  const own = ownership(ring);
  const W = ring.members.reduce((a, m) => a + m.weight, 0);
  const L = ring.owners[0]!.length;
  let r = 0;
  let p = 0;
  for (const m of ring.members) {
    const o = own.get(m.id)!;
    r = Math.max(r, o.replicas / m.weight);
    p = Math.max(p, o.primaries / m.weight);
  }
  return { replicas: r / ((SLOT_COUNT * L) / W), primaries: p / (SLOT_COUNT / W) };
}

function movement(a: RingState, b: RingState): { moved: number; receivers: Set<NodeId>; givers: Set<NodeId> } {
  let moved = 0;
  const receivers = new Set<NodeId>();
  const givers = new Set<NodeId>();
  for (let s = 0; s < SLOT_COUNT; s++) {
    const from = a.owners[s]!;
    const to = b.owners[s]!;
    if (from === to) continue;
    for (const id of to) if (!from.includes(id)) (moved++, receivers.add(id));
    for (const id of from) if (!to.includes(id)) givers.add(id);
  }
  return { moved, receivers, givers };
}

const time = <T>(f: () => T): [T, number] => {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
};

const rows: string[] = [];
rows.push('| case | build ms | replicas max/mean | primaries max/mean | join: moved / ideal | join: only to joiner | join ms | leave: moved / its replicas | leave: only its replicas | leave ms |');
rows.push('|---|---|---|---|---|---|---|---|---|---|');
for (const c of [equal(3), equal(10), equal(100), equal(1000), racked, zoned]) {
  const [ring, buildMs] = time(() => initialRing(c.members, 3));
  const b = balance(ring);
  const [grown, joinMs] = time(() => withMemberAdded(ring, c.joiner));
  const join = movement(ring, grown);
  const W = c.members.reduce((a, m) => a + m.weight, 0) + c.joiner.weight;
  const ideal = (SLOT_COUNT * 3 * c.joiner.weight) / W;
  const victim = c.members[Math.floor(c.members.length / 2)]!.id;
  const [shrunk, leaveMs] = time(() => withMemberRemoved(ring, victim));
  const leave = movement(ring, shrunk);
  const held = ownership(ring).get(victim)!.replicas;
  const bg = balance(grown);
  const bs = balance(shrunk);
  rows.push(
    `| ${c.name} | ${buildMs.toFixed(0)} | ${b.replicas.toFixed(3)} (join ${bg.replicas.toFixed(3)}, leave ${bs.replicas.toFixed(3)}) | ${b.primaries.toFixed(3)} (join ${bg.primaries.toFixed(3)}, leave ${bs.primaries.toFixed(3)}) | ${(join.moved / (SLOT_COUNT * 3)).toFixed(4)} / ${(ideal / (SLOT_COUNT * 3)).toFixed(4)} = ${(join.moved / ideal).toFixed(3)} | ${join.receivers.size === 1 && join.receivers.has(c.joiner.id) ? 'yes' : `no (${join.receivers.size} receivers)`} | ${joinMs.toFixed(0)} | ${leave.moved} / ${held} | ${leave.givers.size === 1 && leave.givers.has(victim) ? 'yes' : `no (${leave.givers.size} givers)`}, to ${leave.receivers.size} members | ${leaveMs.toFixed(0)} |`,
  );
}
console.log(rows.join('\n'));
