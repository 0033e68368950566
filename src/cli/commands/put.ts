/**
 * `ringkv put KEY VALUE [--ttl-ms n] [--w level] [--context c] [--if-match c] [--if-none-match]
 * [--overwrite]`: writes a value (VALUE literal, '-' for stdin, @file for a file's bytes).
 */
import type { Command } from 'commander';
import type { WriteOptions } from '../../client/client.js';
import { action, addCommonOptions, commonOptions, EXIT_OK, newClient, printJson, readValueArg, UsageError, type OpsContext } from './common.js';
import { parseLevel } from './get.js';

export function writeOptions(opts: Record<string, unknown>): WriteOptions {
  const w = parseLevel(opts['w'], '--w');
  const out: WriteOptions = {};
  if (w !== undefined) out.w = w;
  if (typeof opts['context'] === 'string') out.context = opts['context'];
  if (typeof opts['ifMatch'] === 'string') out.ifMatch = opts['ifMatch'];
  if (opts['overwrite'] === true) out.overwrite = true;
  if (opts['strict'] === true) out.strict = true;
  return out;
}

export function registerPut(program: Command, ctx: OpsContext): void {
  const cmd = program.command('put').description('write a key').argument('<key>', 'key (UTF-8)').argument('<value>', "value: text, '-' for stdin, @file");
  addCommonOptions(cmd, ctx.io)
    .option('--ttl-ms <ms>', 'time to live')
    .option('--w <level>', 'write consistency: one, two, quorum, all or a count')
    .option('--context <token>', 'context from a read: supersede what it saw (resolves siblings)')
    .option('--if-match <token>', 'write only if this context is still current')
    .option('--if-none-match', 'create only: fail if the key exists', false)
    .option('--overwrite', 'plain SET semantics: supersede what the coordinating replica holds', false)
    .option('--strict', 'strict quorum: only preference-list replicas count', false)
    .action(action(ctx, 'put', async (key: string, value: string, opts: Record<string, unknown>) => {
      const o = commonOptions(opts);
      const wo = writeOptions(opts);
      if (opts['ttlMs'] !== undefined) {
        const t = Number(opts['ttlMs']);
        if (!Number.isInteger(t) || t < 1) throw new UsageError('--ttl-ms must be a positive integer');
        wo.ttlMs = t;
      }
      if (opts['ifNoneMatch'] === true) wo.ifNoneMatch = true;
      const bytes = await readValueArg(value);
      const client = newClient(o);
      try {
        await client.put(key, bytes, wo);
        if (o.json) printJson(ctx.io, { key, ok: true, bytes: bytes.length });
        else ctx.io.stdout('OK\n');
        return EXIT_OK;
      } finally {
        client.close();
      }
    }));
}
