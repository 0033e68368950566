/**
 * `ringkv ring [--slot n | --key k]`: the ring's slot ranges and their preference lists (the
 * pending ring too during a change), or the preference list of one slot or key.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import { SLOT_COUNT, keySlot } from '../../core/ring/key-slot.js';
import type { ringSchema } from '../../http/schemas.js';
import { action, addCommonOptions, commonOptions, EXIT_OK, newClient, printJson, table, UsageError, type OpsContext } from './common.js';

type Ring = z.infer<typeof ringSchema>;

function listOf(ring: Ring['current'], slot: number): string[] {
  return ring.ranges.find((r) => r.first <= slot && slot <= r.last)?.replicas ?? [];
}

export function registerRing(program: Command, ctx: OpsContext): void {
  const cmd = program.command('ring').description('slot ranges and their preference lists');
  addCommonOptions(cmd, ctx.io)
    .option('--slot <n>', 'only this slot')
    .option('--key <key>', 'only the slot of this key (UTF-8)')
    .action(action(ctx, 'ring', async (opts: Record<string, unknown>) => {
      const o = commonOptions(opts);
      let slot: number | undefined;
      if (opts['slot'] !== undefined) {
        slot = Number(opts['slot']);
        if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) throw new UsageError(`--slot must be in 0..${SLOT_COUNT - 1}`);
      }
      if (typeof opts['key'] === 'string') slot = keySlot(Buffer.from(opts['key'], 'utf8').toString('latin1'));
      const client = newClient(o);
      try {
        const ring = await client.call<Ring>('GET', '/v1/cluster/ring');
        if (slot !== undefined) {
          const current = listOf(ring.current, slot);
          const pending = ring.pending === null ? null : listOf(ring.pending, slot);
          if (o.json) printJson(ctx.io, { slot, epoch: ring.current.epoch, replicas: current, pending_replicas: pending });
          else ctx.io.stdout(`slot ${slot}: ${current.join(' ')}${pending !== null ? `  (pending: ${pending.join(' ')})` : ''}\n`);
          return EXIT_OK;
        }
        if (o.json) {
          printJson(ctx.io, ring);
          return EXIT_OK;
        }
        ctx.io.stdout(`epoch ${ring.current.epoch}, replication factor ${ring.current.replication_factor}, members ${ring.current.members.map((m) => m.id).join(' ')}\n`);
        ctx.io.stdout(table([['Slots', 'Preference list'], ...ring.current.ranges.map((r) => [`${r.first}-${r.last}`, r.replicas.join(' ')])]));
        if (ring.pending !== null) ctx.io.stdout(`pending ring: epoch ${ring.pending.epoch}, ${ring.pending.ranges.length} ranges (--json for all)\n`);
        return EXIT_OK;
      } finally {
        client.close();
      }
    }));
}
