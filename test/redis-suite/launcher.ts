/**
 * A ringkv node for Redis's test suite without a build step (scripts/redis-suite.sh with
 * REDIS_SUITE_SERVER=launcher), composed like the composition root: engine → LocalKvStore →
 * command table → RespServer, active expiry at `hz`. The suite's harness sends FUNCTION FLUSH
 * before every test file; a shim answers it only if the real command table lacks FUNCTION, so
 * the suite always tests the real implementation when one exists.
 *
 * Usage: node --import tsx test/redis-suite/launcher.ts --engine memory|rocksdb --port P --data-dir D
 * Prints "ready <port>" once listening; SIGTERM closes gracefully.
 */
import { parseArgs } from 'node:util';
import { configSchema } from '../../src/config/schema.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { RingkvError } from '../../src/errors/index.js';
import type { CommandSpec } from '../../src/server/commands/command.js';
import { defaultCommandTable } from '../../src/server/commands/registry.js';
import { RespServer } from '../../src/server/resp-server.js';
import { createEngine } from '../../src/storage/index.js';
import { isPromise } from '../../src/util/maybe-promise.js';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'memory' },
    port: { type: 'string', default: '0' },
    'data-dir': { type: 'string', default: './data' },
  },
});

const functionShim: CommandSpec = {
  name: 'function',
  arity: -2,
  flags: ['noscript'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  summary: 'A container for function commands (suite shim: only FLUSH)',
  since: '7.0.0',
  group: 'scripting',
  handler(ctx, args) {
    const sub = (args[1] as Buffer).toString('latin1').toLowerCase();
    if (sub !== 'flush') {
      throw new RingkvError('ERR_SYNTAX', `ERR unknown subcommand '${sub}'. Try FUNCTION HELP.`);
    }
    ctx.reply.simple('OK');
  },
};

async function main(): Promise<void> {
  const config = configSchema.parse({
    engine: values.engine,
    respPort: Number(values.port),
    httpPort: 0,
    dataDir: values['data-dir'],
    logLevel: 'warn',
  });
  const engine = createEngine(config);
  await engine.open();
  const store = new LocalKvStore({ engine, config });
  const commands = defaultCommandTable();
  if (!commands.has('function')) commands.set('function', functionShim);
  const resp = new RespServer({ config, store, commands });
  const { port } = await resp.listen();
  const timer = setInterval(() => {
    const r = engine.expireCycle(Date.now());
    if (isPromise(r)) r.catch(() => undefined);
  }, Math.floor(1000 / config.hz));
  timer.unref();
  process.stdout.write(`ready ${port}\n`);
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await resp.close(1000);
    await engine.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e: unknown) => {
  process.stderr.write(`launcher failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
