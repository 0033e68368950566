/**
 * `ringkv repair [--sessions n] [--wait-ms ms]`: asks every ring member to start an
 * anti-entropy round now (POST /v1/admin/repair; a node without an on-demand trigger keeps its
 * own schedule) and watches until each member has completed `sessions` more synced Merkle
 * sessions than when the command started (default: one per other ring member), with a progress
 * bar. Exit 0 when every member got there; 1 on timeout or when a member cannot be asked.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import type { RingkvClient } from '../../client/client.js';
import type { membersSchema, repairSchema, statsSectionSchema } from '../../http/schemas.js';
import { action, addCommonOptions, commonOptions, EXIT_FAILURE, EXIT_OK, newClient, printJson, ProgressBar, sleep, UsageError, type OpsContext } from './common.js';

type Members = z.infer<typeof membersSchema>;
type Section = z.infer<typeof statsSectionSchema>;
type Repair = z.infer<typeof repairSchema>;

async function synced(client: RingkvClient, address: string): Promise<number> {
  const s = await client.call<Section>('GET', '/v1/cluster/antientropy', undefined, address);
  return s.stats['ae_sessionsSynced'] ?? 0;
}

export function registerRepair(program: Command, ctx: OpsContext): void {
  const cmd = program.command('repair').description('start anti-entropy on every member and watch it complete');
  addCommonOptions(cmd, ctx.io)
    .option('--sessions <n>', 'synced sessions each member must complete (default: other ring members)')
    .option('--wait-ms <ms>', 'give up after this long', '300000')
    .option('--poll-ms <ms>', 'progress poll interval', '250')
    .action(action(ctx, 'repair', async (opts: Record<string, unknown>) => {
      const o = commonOptions(opts);
      const waitMs = Number(opts['waitMs']);
      const pollMs = Number(opts['pollMs']);
      if (!Number.isInteger(waitMs) || waitMs < 1) throw new UsageError('--wait-ms must be a positive integer');
      if (!Number.isInteger(pollMs) || pollMs < 10) throw new UsageError('--poll-ms must be an integer >= 10');
      const client = newClient(o);
      try {
        const members = (await client.call<Members>('GET', '/v1/cluster/members')).members.filter((m) => m.in_ring);
        const nodes = members.map((m) => ({ id: m.id, address: m.address === null || m.address.http_port === 0 ? null : `${m.address.host}:${m.address.http_port}` }));
        const missing = nodes.filter((n) => n.address === null).map((n) => n.id);
        if (missing.length > 0) throw new UsageError(`no HTTP address known for ${missing.join(', ')}`);
        const target = opts['sessions'] === undefined ? Math.max(1, nodes.length - 1) : Number(opts['sessions']);
        if (!Number.isInteger(target) || target < 1) throw new UsageError('--sessions must be a positive integer');
        const base = new Map<string, number>();
        const started = new Map<string, boolean>();
        for (const n of nodes) {
          base.set(n.id, await synced(client, n.address!));
          started.set(n.id, (await client.call<Repair>('POST', '/v1/admin/repair', undefined, n.address!)).started);
        }
        const bar = new ProgressBar(ctx.io, o.json);
        const deadline = Date.now() + waitMs;
        let progress = new Map<string, number>();
        for (;;) {
          progress = new Map(await Promise.all(nodes.map(async (n) => [n.id, Math.min(target, (await synced(client, n.address!)) - (base.get(n.id) ?? 0))] as const)));
          const done = [...progress.values()].reduce((a, b) => a + Math.max(0, b), 0);
          const complete = [...progress.values()].filter((v) => v >= target).length;
          bar.update(done, target * nodes.length, `sessions ${done}/${target * nodes.length}  nodes ${complete}/${nodes.length}`);
          if (complete === nodes.length || Date.now() > deadline) break;
          await sleep(pollMs);
        }
        bar.done();
        const ok = [...progress.values()].every((v) => v >= target);
        const perNode = nodes.map((n) => ({ id: n.id, started: started.get(n.id) ?? false, sessions_synced: Math.max(0, progress.get(n.id) ?? 0) }));
        if (o.json) printJson(ctx.io, { ok, target_sessions: target, nodes: perNode });
        else if (ok) ctx.io.stdout(`repair: every member completed ${target} anti-entropy session${target === 1 ? '' : 's'}\n`);
        if (!ok) {
          ctx.io.stderr(`ringkv repair: not complete after ${waitMs} ms (${perNode.filter((n) => n.sessions_synced < target).map((n) => n.id).join(', ')} behind)\n`);
          return EXIT_FAILURE;
        }
        return EXIT_OK;
      } finally {
        client.close();
      }
    }));
}
