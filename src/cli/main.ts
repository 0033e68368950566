#!/usr/bin/env node
/**
 * The `ringkv` command.
 *
 *   ringkv start [--config file] [--resp-port n] [--engine rocksdb|memory] ...   run a node
 *     cluster mode: --node-id ID --peer-port P --seeds host:peerport,...  (aliases of the
 *     --cluster-node-id / --peer-port / --cluster-seeds config flags)
 *   ringkv cluster --nodes N [--engine e] [--base-port p] [--data-dir d]   a local cluster of N processes
 *   ringkv admin join|decommission|remove ID [--host h] [--http-port p]    ring changes, with progress
 *   ringkv status | ring | get | put | del | join | decommission | remove | repair  [--host h:p] [--json]
 *     operator commands over any node's HTTP API (src/cli/commands/, one file each)
 *   ringkv help [command] | ringkv --help | ringkv --version
 *
 * Every schema key is a flag of `start` (derived from the schema, see config/load.ts). Exit
 * codes: 0 clean exit; 1 start-up or runtime failure (one line on stderr, never a stack trace);
 * 2 usage or configuration error (every problem listed). Unknown flags are not commander's
 * business: they are collected and reported with the other configuration problems, so one run
 * shows everything that is wrong.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { CONFIG_KEYS, ConfigError, loadConfig, type ConfigKey, type FlagValue } from '../config/load.js';
import { registerOpsCommands } from './commands/index.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function packageVersion(): string {
  // Same relative path from src/cli (tsx) and dist/cli (built).
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const v = (JSON.parse(text) as { version?: unknown }).version;
  return typeof v === 'string' ? v : '0.0.0';
}

const DESCRIPTIONS: Record<string, string> = {
  host: 'address to listen on (RESP and HTTP)',
  respPort: 'Redis protocol port',
  httpPort: 'HTTP port for /healthz and /metrics (0 = off)',
  dataDir: 'data directory (rocksdb engine)',
  engine: 'storage engine',
  maxmemory: 'memory limit, e.g. 256mb (0 = none; memory engine)',
  maxmemoryPolicy: 'what to evict at the memory limit',
  durability: 'none | batch (sync every batch-sync-interval-ms) | fsync (sync before acknowledging)',
  maxmemorySamples: 'keys sampled per eviction (Redis maxmemory-samples)',
  lfuLogFactor: 'LFU counter logarithm factor (Redis lfu-log-factor)',
  lfuDecayTime: 'LFU counter decay period in minutes (Redis lfu-decay-time)',
  batchSyncIntervalMs: 'WAL sync interval under durability batch',
  hz: 'active expiry cycles per second',
  maxclients: 'most client connections',
  protoMaxBulkLen: 'largest bulk string a client may send',
  maxKeyBytes: 'largest key',
  maxValueBytes: 'largest value',
  pipelineDepthMax: 'commands a connection may have pending before reading pauses',
  timeout: 'close idle clients after this many seconds (0 = never)',
  'rocksdb.blockCacheBytes': 'rocksdb block cache size',
  'rocksdb.writeBufferBytes': 'rocksdb memtable size',
  'rocksdb.compression': 'rocksdb compression',
  'rocksdb.bloomBitsPerKey': 'rocksdb bloom filter bits per key (0 = off)',
  logLevel: 'log level',
  shutdownTimeoutMs: 'how long shutdown waits for in-flight commands',
  requirepass: 'password clients must AUTH with (empty = none)',
};

function describeKey(key: ConfigKey): string {
  const base = DESCRIPTIONS[key.name] ?? key.name;
  const choices = key.choices ? ` [${key.choices.join(', ')}]` : '';
  return `${base}${choices} (env ${key.env})`;
}

function placeholder(key: ConfigKey): string {
  switch (key.kind) {
    case 'number': return '<n>';
    case 'size': return '<size>';
    case 'enum': return '<name>';
    case 'boolean': return '<bool>';
    case 'array': return '<list>';
    case 'string':
    case 'other':
      return '<value>';
  }
}

/**
 * Tokens commander left over after the first unknown option (it stops parsing options there):
 * every config flag takes a value, so they are read as `--name value` or `--name=value`.
 */
function leftoverFlags(tokens: readonly string[], problems: string[]): FlagValue[] {
  const out: FlagValue[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (!t.startsWith('--')) {
      problems.push(t.startsWith('-') ? `unknown flag ${t}` : `unexpected argument ${JSON.stringify(t)}`);
      continue;
    }
    const eq = t.indexOf('=');
    if (eq > 2) {
      out.push({ name: t.slice(2, eq), value: t.slice(eq + 1) });
      continue;
    }
    const next = tokens[i + 1];
    if (next === undefined || next.startsWith('--')) {
      out.push({ name: t.slice(2), value: '' });
    } else {
      out.push({ name: t.slice(2), value: next });
      i++;
    }
  }
  return out;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** stdout is a terminal (progress bars redraw in place). */
  isTty?: boolean;
  /** Raw bytes to stdout (`ringkv get --raw`). */
  stdoutBytes?(bytes: Buffer): void;
}

const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  isTty: process.stdout.isTTY === true,
  stdoutBytes: (b) => process.stdout.write(b),
};

/** Runs the CLI; resolves with the exit code (the node's, for `start`). */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = new Command('ringkv')
    .description('ringkv: a Dynamo-style key-value store that speaks the Redis protocol')
    .version(packageVersion(), '-v, --version', 'print the version')
    .helpCommand('help [command]', 'show help for a command')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run "ringkv help" for usage)');

  const start = program
    .command('start')
    .description('start a node (flags override RINGKV_* env, which overrides the config file)')
    .option('-c, --config <path>', 'YAML or JSON config file (env RINGKV_CONFIG)')
    .allowUnknownOption()
    .allowExcessArguments();
  const byAttribute = new Map<string, ConfigKey>();
  for (const key of CONFIG_KEYS) {
    const opt = new Option(`--${key.flag} ${placeholder(key)}`, describeKey(key));
    byAttribute.set(opt.attributeName(), key);
    start.addOption(opt);
  }
  // Short cluster aliases of config flags (--peer-port is a config flag already).
  start.addOption(new Option('--node-id <id>', 'alias of --cluster-node-id: run in cluster mode as this node'));
  start.addOption(new Option('--seeds <list>', 'alias of --cluster-seeds: host:peerPort,... to join through'));
  const ALIASES: Record<string, string> = { nodeId: 'cluster-node-id', seeds: 'cluster-seeds' };
  start.addHelpText('after', '\nSizes accept units: 64mb, 1gb, 10k. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration.');

  start.action(async (opts: Record<string, unknown>, cmd: Command) => {
    const usageProblems: string[] = [];
    const flags: FlagValue[] = [];
    for (const [attr, key] of byAttribute) {
      const v = opts[attr];
      if (cmd.getOptionValueSource(attr) === 'cli' && typeof v === 'string') flags.push({ name: key.flag, value: v });
    }
    for (const [attr, flag] of Object.entries(ALIASES)) {
      const v = opts[attr];
      if (cmd.getOptionValueSource(attr) === 'cli' && typeof v === 'string') flags.push({ name: flag, value: v });
    }
    flags.push(...leftoverFlags(cmd.args, usageProblems));
    const configPath = typeof opts['config'] === 'string' ? opts['config'] : undefined;

    let config;
    try {
      config = loadConfig({ configPath, env: io.env, flags });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const lines = [...usageProblems.map((p) => `  ${p}`), ...e.message.split('\n').slice(1)];
      const n = lines.length;
      io.stderr(`ringkv: invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${lines.join('\n')}\n`);
      exitCode = EXIT_USAGE;
      return;
    }
    if (usageProblems.length > 0) {
      io.stderr(`ringkv: invalid arguments:\n${usageProblems.map((p) => `  ${p}`).join('\n')}\n`);
      exitCode = EXIT_USAGE;
      return;
    }

    // Loaded only now so help, version and config errors do not load the storage engines.
    const { runNode, StartupError } = await import('../main.js');
    try {
      exitCode = await runNode(config);
    } catch (e) {
      const line = e instanceof StartupError ? e.message : `start-up failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}`;
      io.stderr(`ringkv: ${line}\n`);
      exitCode = EXIT_FAILURE;
    }
  });

  program
    .command('cluster')
    .description('run a local cluster of N ringkv processes on 127.0.0.1 (Ctrl-C stops them all)')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--engine <name>', 'storage engine of every node [rocksdb, memory]', 'rocksdb')
    .option('--base-port <n>', 'RESP base+i, HTTP base+100+i, peer base+200+i (0 = free ports)', '7000')
    .option('--data-dir <dir>', 'data of node i goes to <dir>/node-<i>', './data')
    .option('--host <host>', 'address every node listens on', '127.0.0.1')
    .option('--ready-timeout-ms <ms>', 'how long each node may take to start', '60000')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (opts: Record<string, string>, cmd: Command) => {
      const nodes = Number(opts['nodes']);
      const basePort = Number(opts['basePort']);
      const readyTimeoutMs = Number(opts['readyTimeoutMs']);
      const engine = opts['engine'] ?? 'rocksdb';
      const problems: string[] = [];
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) problems.push('--nodes must be an integer in 1..64');
      if (!Number.isInteger(basePort) || basePort < 0 || basePort + 264 > 65535) problems.push('--base-port must be 0 or leave room for base+264');
      if (!Number.isInteger(readyTimeoutMs) || readyTimeoutMs < 1000) problems.push('--ready-timeout-ms must be at least 1000');
      if (engine !== 'rocksdb' && engine !== 'memory') problems.push('--engine must be rocksdb or memory');
      if (problems.length > 0) {
        io.stderr(`ringkv cluster: invalid arguments:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
        exitCode = EXIT_USAGE;
        return;
      }
      const { runLocalCluster } = await import('./local-cluster.js');
      exitCode = await runLocalCluster({
        nodes, basePort, engine, readyTimeoutMs, dataDir: opts['dataDir'] ?? './data', host: opts['host'] ?? '127.0.0.1',
        extraArgs: cmd.args, entry: fileURLToPath(import.meta.url), execArgv: process.execArgv, out: io.stdout, err: io.stderr,
      });
    });

  program
    .command('admin')
    .description('ring changes through a node\'s HTTP admin API, printing progress until done')
    .argument('<action>', 'join | decommission | remove')
    .argument('<id>', 'the node id to change')
    .option('--host <host>', 'a node\'s HTTP host', '127.0.0.1')
    .option('--http-port <port>', 'that node\'s HTTP port', '7379')
    .option('--weight <w>', 'join: capacity weight of the new member')
    .option('--timeout-ms <ms>', 'give up waiting after this long', '600000')
    .action(async (action: string, id: string, opts: Record<string, string | undefined>) => {
      const httpPort = Number(opts['httpPort']);
      const timeoutMs = Number(opts['timeoutMs']);
      const weight = opts['weight'] === undefined ? undefined : Number(opts['weight']);
      const problems: string[] = [];
      if (action !== 'join' && action !== 'decommission' && action !== 'remove') problems.push(`unknown action ${JSON.stringify(action)} (join, decommission, remove)`);
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) problems.push('id: 1-64 characters of A-Z a-z 0-9 . _ -');
      if (!Number.isInteger(httpPort) || httpPort < 1 || httpPort > 65535) problems.push('--http-port must be a port number');
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) problems.push('--timeout-ms must be a positive integer');
      if (weight !== undefined && !(weight > 0 && weight <= 1000)) problems.push('--weight must be in (0, 1000]');
      if (problems.length > 0) {
        io.stderr(`ringkv admin: invalid arguments:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
        exitCode = EXIT_USAGE;
        return;
      }
      const { runAdmin } = await import('./admin.js');
      exitCode = await runAdmin({
        action: action as 'join' | 'decommission' | 'remove', id, host: opts['host'] ?? '127.0.0.1', httpPort, timeoutMs,
        ...(weight === undefined ? {} : { weight }), out: io.stdout, err: io.stderr,
      });
    });

  // Operator commands (status, ring, get, put, del, join, decommission, remove, repair).
  registerOpsCommands(program, { io: { ...io, isTty: io.isTty ?? false }, setExit: (code) => { exitCode = code; } });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version "errors" are normal exits; anything else is a usage error.
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    io.stderr(`ringkv: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}\n`);
    return EXIT_FAILURE;
  }
  return exitCode;
}

/** True when this file is the process's entry (the `ringkv` bin, possibly via a symlink). */
function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (arg === undefined) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`ringkv: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
}
