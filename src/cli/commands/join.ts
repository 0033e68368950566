/** `ringkv join ID [--weight w] [--rack r] [--zone z] [--no-wait]`: add a running node to the ring. */
import type { Command } from 'commander';
import { action, addCommonOptions, commonOptions, newClient, UsageError, type OpsContext } from './common.js';
import { runRingChange } from './ring-change.js';

export const NODE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function addWaitOptions(cmd: Command): Command {
  return cmd
    .option('--no-wait', 'return once the change started')
    .option('--wait-ms <ms>', 'give up following the change after this long', '600000')
    .option('--poll-ms <ms>', 'progress poll interval', '250');
}

export function waitOptions(opts: Record<string, unknown>): { wait: boolean; waitMs: number; pollMs: number } {
  const waitMs = Number(opts['waitMs']);
  const pollMs = Number(opts['pollMs']);
  if (!Number.isInteger(waitMs) || waitMs < 1) throw new UsageError('--wait-ms must be a positive integer');
  if (!Number.isInteger(pollMs) || pollMs < 10) throw new UsageError('--poll-ms must be an integer >= 10');
  return { wait: opts['wait'] !== false, waitMs, pollMs };
}

export function registerJoin(program: Command, ctx: OpsContext): void {
  const cmd = program.command('join').description('add a running node to the ring and follow the data streaming to it').argument('<id>', 'node id');
  addWaitOptions(addCommonOptions(cmd, ctx.io))
    .option('--weight <w>', 'capacity weight (a node with 2 holds twice the replicas)')
    .option('--rack <rack>', 'rack label')
    .option('--zone <zone>', 'zone label')
    .action(action(ctx, 'join', async (id: string, opts: Record<string, unknown>) => {
      const o = commonOptions(opts);
      if (!NODE_ID_RE.test(id)) throw new UsageError('id: 1-64 characters of A-Z a-z 0-9 . _ -');
      const body: Record<string, unknown> = { id };
      if (opts['weight'] !== undefined) {
        const w = Number(opts['weight']);
        if (!(w > 0 && w <= 1000)) throw new UsageError('--weight must be in (0, 1000]');
        body['weight'] = w;
      }
      if (typeof opts['rack'] === 'string') body['rack'] = opts['rack'];
      if (typeof opts['zone'] === 'string') body['zone'] = opts['zone'];
      const client = newClient(o);
      try {
        return await runRingChange(client, o, ctx.io, { kind: 'join', body, ...waitOptions(opts) });
      } finally {
        client.close();
      }
    }));
}
