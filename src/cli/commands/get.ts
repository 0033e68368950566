/**
 * `ringkv get KEY [--r level] [--raw]`: prints the value (UTF-8), or every sibling with the
 * context to resolve them. A missing key prints one line on stderr and exits 1.
 * --raw writes the value's bytes to stdout unchanged (one value only).
 */
import type { Command } from 'commander';
import type { Consistency } from '../../client/client.js';
import { action, addCommonOptions, commonOptions, EXIT_FAILURE, EXIT_OK, newClient, printJson, UsageError, type OpsContext } from './common.js';

export function parseLevel(v: unknown, flag: string): Consistency | undefined {
  if (v === undefined) return undefined;
  const s = String(v).toLowerCase();
  if (s === 'one' || s === 'two' || s === 'quorum' || s === 'all') return s;
  const n = Number(s);
  if (Number.isInteger(n) && n >= 1 && n <= 64) return n;
  throw new UsageError(`${flag} must be one, two, quorum, all or 1..64`);
}

export function valueJson(b: Buffer): { text?: string; base64: string } {
  const text = b.toString('utf8');
  return Buffer.from(text, 'utf8').equals(b) ? { text, base64: b.toString('base64') } : { base64: b.toString('base64') };
}

export function registerGet(program: Command, ctx: OpsContext): void {
  const cmd = program.command('get').description('read a key (siblings are listed with their context)').argument('<key>', 'key (UTF-8)');
  addCommonOptions(cmd, ctx.io)
    .option('--r <level>', 'read consistency: one, two, quorum, all or a count')
    .option('--raw', 'write the value bytes to stdout as they are', false)
    .action(action(ctx, 'get', async (key: string, opts: Record<string, unknown>) => {
      const o = commonOptions(opts);
      const r = parseLevel(opts['r'], '--r');
      const client = newClient(o);
      try {
        const v = await client.get(key, { resolve: false, ...(r !== undefined ? { r } : {}) });
        if (v === null) {
          if (o.json) printJson(ctx.io, { key, found: false });
          else ctx.io.stderr(`ringkv get: ERR_NO_SUCH_KEY no such key ${JSON.stringify(key)}\n`);
          return EXIT_FAILURE;
        }
        if (o.json) {
          printJson(ctx.io, { key, found: true, conflict: v.conflict, context: v.context, expires_at_ms: v.expiresAtMs, values: v.values.map(valueJson) });
        } else if (opts['raw'] === true) {
          if (v.conflict) throw new UsageError(`${v.values.length} siblings: --raw needs a single value (use --json)`);
          if (ctx.io.stdoutBytes !== undefined) ctx.io.stdoutBytes(v.value);
          else ctx.io.stdout(v.value.toString('latin1'));
        } else if (!v.conflict) {
          ctx.io.stdout(`${v.value.toString('utf8')}\n`);
        } else {
          v.values.forEach((s, i) => ctx.io.stdout(`sibling ${i + 1}: ${s.toString('utf8')}\n`));
          ctx.io.stdout(`context: ${v.context}\n(resolve with: ringkv put ${JSON.stringify(key)} VALUE --context ${v.context})\n`);
        }
        return EXIT_OK;
      } finally {
        client.close();
      }
    }));
}
