/**
 * CLUSTER SLOTS / SHARDS / NODES / INFO / KEYSLOT / MYID / COUNTKEYSINSLOT / GETKEYSINSLOT /
 * HELP, and READONLY / READWRITE / ASKING, answered from the ring (src/cluster/kv/slot-map.ts):
 * each slot range's first node is shown as master and the rest as replicas, so Redis Cluster
 * clients (ioredis Cluster, node-redis createCluster, redis-py RedisCluster) send each key
 * straight to one of its replicas. Any node coordinates any key, so ringkv never answers MOVED
 * or ASK: a client with a stale map still gets served.
 *
 * CLUSTER NODES cannot say "replica of several masters", so every member is listed as a master
 * of the slots where it comes first; replicas are visible in SLOTS and SHARDS.
 *
 * Standalone mode (no cluster node id) answers as Redis does with cluster support disabled.
 */
import { ClusterKvStore, clusterHexId } from '../../../cluster/kv/cluster-kv-store.js';
import { buildSlotMap, masterSlotsOf, visibleMembers, type SlotNode } from '../../../cluster/kv/slot-map.js';
import type { ClusterNode } from '../../../cluster/api.js';
import { SLOT_COUNT, keySlot } from '../../../core/ring/index.js';
import { RingkvError } from '../../../errors/index.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArg, keyArg } from '../strings/common.js';

type Handler = CommandSpec['handler'];

export function clusterDisabled(): RingkvError {
  return new RingkvError('ERR_CLUSTER_DISABLED', 'ERR This instance has cluster support disabled');
}

/** The cluster node behind this connection's store; throws "cluster support disabled" if none. */
export function clusterStoreOf(ctx: CommandContext): ClusterKvStore {
  if (ctx.store instanceof ClusterKvStore) return ctx.store;
  throw clusterDisabled();
}

function clusterOf(ctx: CommandContext): ClusterNode {
  return clusterStoreOf(ctx).node;
}

function slotArg(b: Buffer): number {
  const v = intArg(b);
  if (typeof v !== 'number' || v < 0 || v >= SLOT_COUNT) throw ERRORS.invalid('Invalid or out of range slot');
  return v;
}

function writeSlotNode(ctx: CommandContext, n: SlotNode): void {
  ctx.reply.array(3);
  ctx.reply.bulk(n.host);
  ctx.reply.integer(n.respPort);
  ctx.reply.bulk(n.hexId);
}

function slots(ctx: CommandContext): void {
  const map = buildSlotMap(clusterOf(ctx));
  ctx.reply.array(map.ranges.length);
  for (const r of map.ranges) {
    ctx.reply.array(2 + r.nodes.length);
    ctx.reply.integer(r.start);
    ctx.reply.integer(r.end);
    for (const n of r.nodes) writeSlotNode(ctx, n);
  }
}

function shards(ctx: CommandContext): void {
  const map = buildSlotMap(clusterOf(ctx));
  // One shard per distinct ordered node list (a "master with its replicas").
  const byList = new Map<string, { nodes: readonly SlotNode[]; slots: number[] }>();
  for (const r of map.ranges) {
    const key = r.nodes.map((n) => n.id).join('\u0000');
    let shard = byList.get(key);
    if (shard === undefined) byList.set(key, (shard = { nodes: r.nodes, slots: [] }));
    shard.slots.push(r.start, r.end);
  }
  ctx.reply.array(byList.size);
  for (const shard of byList.values()) {
    ctx.reply.map(2);
    ctx.reply.bulk('slots');
    ctx.reply.array(shard.slots.length);
    for (const s of shard.slots) ctx.reply.integer(s);
    ctx.reply.bulk('nodes');
    ctx.reply.array(shard.nodes.length);
    shard.nodes.forEach((n, i) => {
      ctx.reply.map(7);
      ctx.reply.bulk('id');
      ctx.reply.bulk(n.hexId);
      ctx.reply.bulk('port');
      ctx.reply.integer(n.respPort);
      ctx.reply.bulk('ip');
      ctx.reply.bulk(n.host);
      ctx.reply.bulk('endpoint');
      ctx.reply.bulk(n.host);
      ctx.reply.bulk('role');
      ctx.reply.bulk(i === 0 ? 'master' : 'replica');
      ctx.reply.bulk('replication-offset');
      ctx.reply.integer(0);
      ctx.reply.bulk('health');
      ctx.reply.bulk(n.down ? 'fail' : 'online');
    });
  }
}

/** CLUSTER NODES text, one line per member, Redis's format. */
export function clusterNodesText(node: ClusterNode, nowMs: number): string {
  const map = buildSlotMap(node);
  const self = node.id;
  let out = '';
  for (const m of visibleMembers(node)) {
    const a = m.address;
    if (a === undefined) continue;
    const down = m.id !== self && node.isDown(m.id);
    const flags = [m.id === self ? 'myself' : '', 'master', m.state === 'suspect' ? 'fail?' : down ? 'fail' : '']
      .filter((f) => f !== '').join(',');
    const fields = [
      clusterHexId(m.id), `${a.host}:${a.respPort}@${a.peerPort}`, flags, '-', '0', String(down ? 0 : nowMs),
      String(map.epoch), down ? 'disconnected' : 'connected', ...masterSlotsOf(map, m.id),
    ];
    out += fields.join(' ') + '\n';
  }
  return out;
}

function nodes(ctx: CommandContext): void {
  ctx.reply.verbatim(clusterNodesText(clusterOf(ctx), ctx.now()));
}

/** CLUSTER INFO text (Redis 7.0's fields). */
export function clusterInfoText(node: ClusterNode): string {
  const map = buildSlotMap(node);
  const masters = new Set(map.ranges.map((r) => r.nodes[0]?.id));
  const known = visibleMembers(node).length;
  const ok = SLOT_COUNT - map.slotsFailed;
  const stats = node.stats();
  const lines: [string, string | number][] = [
    ['cluster_state', map.slotsFailed === 0 ? 'ok' : 'fail'],
    ['cluster_slots_assigned', SLOT_COUNT],
    ['cluster_slots_ok', ok - map.slotsDegraded],
    ['cluster_slots_pfail', map.slotsDegraded],
    ['cluster_slots_fail', map.slotsFailed],
    ['cluster_known_nodes', known],
    ['cluster_size', masters.size],
    ['cluster_current_epoch', map.epoch],
    ['cluster_my_epoch', map.epoch],
    ['cluster_stats_messages_sent', Math.floor(stats['peer_messagesSent'] ?? 0)],
    ['cluster_stats_messages_received', Math.floor(stats['peer_messagesReceived'] ?? 0)],
    ['total_cluster_links_buffer_limit_exceeded', 0],
  ];
  return lines.map(([k, v]) => `${k}:${v}\r\n`).join('');
}

function info(ctx: CommandContext): void {
  ctx.reply.verbatim(clusterInfoText(clusterOf(ctx)));
}

function keyslot(ctx: CommandContext, args: Buffer[]): void {
  clusterOf(ctx);
  ctx.reply.integer(keySlot(keyArg(args, 2)));
}

function myid(ctx: CommandContext): void {
  ctx.reply.bulk(clusterHexId(clusterOf(ctx).id));
}

async function countkeysinslot(ctx: CommandContext, args: Buffer[]): Promise<void> {
  const store = clusterStoreOf(ctx);
  ctx.reply.integer(await store.countInSlot(slotArg(arg(args, 2))));
}

async function getkeysinslot(ctx: CommandContext, args: Buffer[]): Promise<void> {
  const store = clusterStoreOf(ctx);
  const slot = slotArg(arg(args, 2));
  const count = intArg(arg(args, 3));
  if (count < 0) throw ERRORS.invalid('Invalid number of keys');
  const keys = await store.keysInSlot(slot, Math.min(Number(count), 100_000));
  ctx.reply.array(keys.length);
  for (const k of keys) ctx.reply.bulk(Buffer.from(k, 'latin1'));
}

const HELP = [
  'CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'COUNTKEYSINSLOT <slot>',
  '    Return the number of keys in <slot>.',
  'GETKEYSINSLOT <slot> <count>',
  '    Return key names stored by current node in a slot.',
  'INFO',
  '    Return information about the cluster.',
  'KEYSLOT <key>',
  '    Return the hash slot for <key>.',
  'MYID',
  '    Return the node id.',
  'NODES',
  '    Return cluster configuration seen by node. Output format:',
  '    <id> <ip:port@cport> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...',
  'SHARDS',
  '    Return information about slot range mappings and the nodes associated with them.',
  'SLOTS',
  '    Return information about slots range mappings. Each range is made of:',
  '    start, end, master and replicas IP addresses, ports and ids',
  'HELP',
  '    Print this help.',
];

function help(ctx: CommandContext): void {
  ctx.reply.array(HELP.length);
  for (const line of HELP) ctx.reply.simple(line);
}

function sub(name: string, arity: number, summary: string, handler: Handler, since = '3.0.0'): CommandSpec {
  return {
    name: `cluster|${name}`,
    arity,
    flags: ['loading', 'stale'],
    firstKey: 0, lastKey: 0, keyStep: 0,
    categories: ['@slow'],
    summary,
    since,
    group: 'cluster',
    handler,
  };
}

export const cluster: CommandSpec = {
  name: 'cluster',
  arity: -2,
  flags: [],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow'],
  summary: 'A container for Redis Cluster commands',
  since: '3.0.0',
  group: 'cluster',
  handler() {
    // The dispatcher runs a subcommand; the container alone is "wrong number of arguments".
    throw ERRORS.wrongArgs('cluster');
  },
  subcommands: [
    sub('slots', 2, 'Get array of Cluster slot to node mappings', slots),
    sub('shards', 2, 'Get array of cluster slots to node mappings', shards, '7.0.0'),
    sub('nodes', 2, 'Get Cluster config for the node', nodes),
    sub('info', 2, 'Provides info about Redis Cluster node state', info),
    sub('keyslot', 3, 'Returns the hash slot of the specified key', keyslot),
    sub('myid', 2, 'Return the node id', myid),
    sub('countkeysinslot', 3, 'Return the number of local keys in the specified hash slot', countkeysinslot),
    sub('getkeysinslot', 4, 'Return local key names in the specified hash slot', getkeysinslot),
    sub('help', 2, 'Show helpful text about the different subcommands', help, '5.0.0'),
  ],
};

function clusterOk(name: string, summary: string, since: string): CommandSpec {
  return {
    name,
    arity: 1,
    flags: ['loading', 'stale', 'fast'],
    firstKey: 0, lastKey: 0, keyStep: 0,
    categories: ['@fast', '@connection'],
    summary,
    since,
    group: 'cluster',
    handler(ctx) {
      // Any node serves reads and writes for any key, so these only acknowledge.
      clusterOf(ctx);
      ctx.reply.simple('OK');
    },
  };
}

export const clusterCommands: CommandSpec[] = [
  cluster,
  clusterOk('readonly', 'Enables read queries for a connection to a cluster replica node', '3.0.0'),
  clusterOk('readwrite', 'Disables read queries for a connection to a cluster replica node', '3.0.0'),
  clusterOk('asking', 'Sent by cluster clients after an -ASK redirect', '3.0.0'),
];
