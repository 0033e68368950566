/** `ringkv decommission ID [--no-wait]`: a live member hands its replicas to the others, then leaves the ring. */
import type { Command } from 'commander';
import { action, addCommonOptions, commonOptions, newClient, UsageError, type OpsContext } from './common.js';
import { addWaitOptions, NODE_ID_RE, waitOptions } from './join.js';
import { runRingChange } from './ring-change.js';

export function registerDecommission(program: Command, ctx: OpsContext): void {
  const cmd = program.command('decommission').description('a live member hands its replicas to the others, then leaves the ring').argument('<id>', 'node id');
  addWaitOptions(addCommonOptions(cmd, ctx.io))
    .action(action(ctx, 'decommission', async (id: string, opts: Record<string, unknown>) => {
      const o = commonOptions(opts);
      if (!NODE_ID_RE.test(id)) throw new UsageError('id: 1-64 characters of A-Z a-z 0-9 . _ -');
      const client = newClient(o);
      try {
        return await runRingChange(client, o, ctx.io, { kind: 'decommission', body: { id }, ...waitOptions(opts) });
      } finally {
        client.close();
      }
    }));
}
