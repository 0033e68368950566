/** `ringkv del KEY [--w level] [--context c] [--if-match c]`: deletes a key (a tombstone in a cluster). */
import type { Command } from 'commander';
import { action, addCommonOptions, commonOptions, EXIT_OK, newClient, printJson, type OpsContext } from './common.js';
import { writeOptions } from './put.js';

export function registerDel(program: Command, ctx: OpsContext): void {
  const cmd = program.command('del').description('delete a key').argument('<key>', 'key (UTF-8)');
  addCommonOptions(cmd, ctx.io)
    .option('--w <level>', 'write consistency: one, two, quorum, all or a count')
    .option('--context <token>', 'context from a read: delete what it saw')
    .option('--if-match <token>', 'delete only if this context is still current')
    .action(action(ctx, 'del', async (key: string, opts: Record<string, unknown>) => {
      const o = commonOptions(opts);
      const client = newClient(o);
      try {
        await client.delete(key, writeOptions(opts));
        if (o.json) printJson(ctx.io, { key, ok: true });
        else ctx.io.stdout('OK\n');
        return EXIT_OK;
      } finally {
        client.close();
      }
    }));
}
