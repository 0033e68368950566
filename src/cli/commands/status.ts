/**
 * `ringkv status`: the cluster as one node sees it, like `nodetool status`: per member its
 * up/down and ring state (U/D + N normal, J joining, L leaving, - not in the ring), address,
 * load (live records held), ownership (share of slot-replicas), primaries and pending hints
 * (asked from each member's own HTTP port; '?' when it does not answer). Against a standalone
 * node it says so. Exit 1 when any ring member is down.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import type { RingkvClient } from '../../client/client.js';
import { RingkvClientError } from '../../client/errors.js';
import type { loadSchema, membersSchema, ownershipSchema, statsSectionSchema } from '../../http/schemas.js';
import type { Topology } from './ring-change.js';
import { action, addCommonOptions, commonOptions, EXIT_FAILURE, EXIT_OK, newClient, percent, printJson, table, type OpsContext } from './common.js';

type Members = z.infer<typeof membersSchema>;
type Ownership = z.infer<typeof ownershipSchema>;
type Load = z.infer<typeof loadSchema>;
type Section = z.infer<typeof statsSectionSchema>;

export interface NodeStatus {
  id: string;
  up: boolean;
  state: 'normal' | 'joining' | 'leaving' | 'not_in_ring';
  membership: string;
  address: string | null;
  keys: number | null;
  owns_percent: number;
  primaries: number;
  hints_pending: number | null;
}

async function hintsOf(client: RingkvClient, address: string | null): Promise<number | null> {
  if (address === null) return null;
  try {
    const s = await client.call<Section>('GET', '/v1/cluster/hints', undefined, address);
    return s.stats['hints_held'] ?? 0;
  } catch {
    return null;
  }
}

export function registerStatus(program: Command, ctx: OpsContext): void {
  const cmd = program.command('status').description('members, up/down, ownership, load and pending hints (like nodetool status)');
  addCommonOptions(cmd, ctx.io).action(action(ctx, 'status', async (opts: Record<string, unknown>) => {
    const o = commonOptions(opts);
    const client = newClient(o);
    try {
      let members: Members;
      try {
        members = await client.call<Members>('GET', '/v1/cluster/members');
      } catch (e) {
        if (e instanceof RingkvClientError && e.code === 'ERR_NOT_FOUND') {
          const health = await client.call<{ status: string }>('GET', '/healthz');
          if (o.json) printJson(ctx.io, { mode: 'standalone', host: o.host, health: health.status });
          else ctx.io.stdout(`standalone node at ${o.host}: ${health.status}\n`);
          return EXIT_OK;
        }
        throw e;
      }
      const [own, load, topo] = await Promise.all([
        client.call<Ownership>('GET', '/v1/cluster/ownership'),
        // Load is informative: a failure shows '?' rather than failing the command.
        client.call<Load>('GET', '/v1/cluster/load').catch((): Load => ({ nodes: [] })),
        client.call<Topology>('GET', '/v1/cluster/topology'),
      ]);
      const ownBy = new Map(own.nodes.map((n) => [n.id, n]));
      const loadBy = new Map(load.nodes.map((n) => [n.id, n.keys]));
      const busy = topo.phase === 'streaming' || topo.phase === 'committing';
      const nodes: NodeStatus[] = await Promise.all(members.members.map(async (m) => {
        const address = m.address === null || m.address.http_port === 0 ? null : `${m.address.host}:${m.address.http_port}`;
        const changing = busy && topo.change?.id === m.id ? topo.change.kind : null;
        const state: NodeStatus['state'] = changing === 'join' ? 'joining' : changing !== null ? 'leaving' : m.in_ring ? 'normal' : 'not_in_ring';
        return {
          id: m.id, up: m.state === 'alive' && !m.down, state, membership: m.state, address,
          keys: loadBy.get(m.id) ?? null, owns_percent: ownBy.get(m.id)?.percent ?? 0, primaries: ownBy.get(m.id)?.primaries ?? 0,
          hints_pending: m.state === 'left' ? null : await hintsOf(client, address),
        };
      }));
      nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const anyDown = nodes.some((n) => n.state !== 'not_in_ring' && !n.up);
      if (o.json) {
        printJson(ctx.io, { mode: 'cluster', self: members.self, ring_epoch: own.epoch, topology: topo, nodes });
      } else {
        const code = (n: NodeStatus): string => `${n.up ? 'U' : 'D'}${n.state === 'normal' ? 'N' : n.state === 'joining' ? 'J' : n.state === 'leaving' ? 'L' : '-'}`;
        ctx.io.stdout(`Cluster seen from ${members.self} (ring epoch ${own.epoch})\nStatus=Up/Down  State=Normal/Joining/Leaving/- (not in ring)\n`);
        ctx.io.stdout(table([
          ['--', 'Node', 'Address', 'Load(keys)', 'Owns', 'Primaries', 'Hints', 'Membership'],
          ...nodes.map((n) => [code(n), n.id, n.address ?? '?', n.keys === null ? '?' : String(n.keys), percent(n.owns_percent), String(n.primaries),
            n.hints_pending === null ? '?' : String(n.hints_pending), n.membership]),
        ]));
        if (topo.change !== null && (busy || topo.phase === 'failed')) {
          ctx.io.stdout(`Ring change: ${topo.change.kind} ${topo.change.id} ${topo.phase} (slots ${topo.slots_moved}/${topo.slots_to_move})\n`);
        }
      }
      return anyDown ? EXIT_FAILURE : EXIT_OK;
    } finally {
      client.close();
    }
  }));
}
