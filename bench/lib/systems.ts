/**
 * The systems a scenario measures: ringkv in its configurations, redis-server in its
 * persistence modes, and the ceiling server. Each starts on 127.0.0.1 with random free ports and
 * its own data directory under the run's work directory, and is ready (answers PING) when
 * `start` resolves.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, processCpuSeconds, processRssBytes, startProcess, stopProcess, waitForPort, type ServerProcess } from './process.js';
import { command } from './resp-client.js';

export const HOST = '127.0.0.1';

export interface StartContext {
  /** Directory for this run's data dirs and logs (on disk, not tmpfs: fsync must mean something). */
  workDir: string;
  repoRoot: string;
  /** Where ringkv's build lives (its dist/); default repoRoot. --ringkv-root points elsewhere. */
  ringkvRoot?: string;
  startTimeoutMs: number;
}

export interface RunningSystem {
  readonly spec: SystemSpec;
  readonly proc: ServerProcess;
  readonly port: number;
  /** ringkv's HTTP port (/metrics), when it has one. */
  readonly httpPort: number | undefined;
  cpuSeconds(): number;
  rssBytes(): number;
  stop(): Promise<void>;
}

export type SystemKind = 'ringkv' | 'redis' | 'ceiling';

export interface SystemSpec {
  /** Short id used in tables and file names: ringkv-memory, redis-aof-always, ... */
  readonly id: string;
  /** What the row means, for the results file. */
  readonly label: string;
  readonly kind: SystemKind;
  start(ctx: StartContext): Promise<RunningSystem>;
}

let instanceSeq = 0;

async function launch(spec: SystemSpec, ctx: StartContext, build: (dir: string, port: number, httpPort: number) => { cmd: string; args: string[] }, withHttp: boolean): Promise<RunningSystem> {
  const dir = join(ctx.workDir, `${spec.id}-${++instanceSeq}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const httpPort = withHttp ? await freePort() : 0;
  const { cmd, args } = build(dir, port, httpPort);
  const proc = startProcess({ name: spec.id, cmd, args, logPath: join(dir, 'server.log'), cwd: ctx.repoRoot });
  try {
    await waitForPort(proc, HOST, port, ctx.startTimeoutMs);
    const pong = await command(HOST, port, ['PING']);
    if (pong.kind !== 'status' || pong.text !== 'PONG') throw new Error(`${spec.id}: PING answered ${JSON.stringify(pong)}`);
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return {
    spec, proc, port,
    httpPort: withHttp ? httpPort : undefined,
    cpuSeconds: () => processCpuSeconds(proc.pid),
    rssBytes: () => processRssBytes(proc.pid),
    stop: () => stopProcess(proc),
  };
}

export const RINGKV_ENTRY = 'dist/cli/main.js';

/** The ringkv entry point a run starts: this checkout's dist/, or the one --ringkv-root names. */
export function ringkvEntry(ctx: StartContext): string {
  return join(ctx.ringkvRoot ?? ctx.repoRoot, RINGKV_ENTRY);
}

export function ringkvSystem(opts: { id: string; label: string; engine: 'memory' | 'rocksdb'; durability: 'none' | 'batch' | 'fsync' }): SystemSpec {
  const spec: SystemSpec = {
    id: opts.id, label: opts.label, kind: 'ringkv',
    start: (ctx) => launch(spec, ctx, (dir, port, httpPort) => ({
      cmd: process.execPath,
      args: [
        ringkvEntry(ctx), 'start', '--host', HOST, '--resp-port', String(port),
        '--http-port', String(httpPort), '--data-dir', join(dir, 'data'), '--engine', opts.engine,
        '--durability', opts.durability, '--log-level', 'warn',
      ],
    }), true),
  };
  return spec;
}

export function redisSystem(opts: { id: string; label: string; persistence: readonly string[] }): SystemSpec {
  const spec: SystemSpec = {
    id: opts.id, label: opts.label, kind: 'redis',
    start: (ctx) => launch(spec, ctx, (dir, port) => ({
      cmd: 'redis-server',
      args: ['--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no', '--logfile', '', ...opts.persistence],
    }), false),
  };
  return spec;
}

export const REDIS_NO_PERSISTENCE = ['--save', '', '--appendonly', 'no'] as const;
export const REDIS_AOF_ALWAYS = ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'] as const;

export function ceilingSystem(): SystemSpec {
  const spec: SystemSpec = {
    id: 'ceiling', label: 'bench/ceiling-server.ts: GET returns a constant, SET returns +OK, nothing stored', kind: 'ceiling',
    start: (ctx) => launch(spec, ctx, (_dir, port) => ({
      cmd: process.execPath,
      args: ['--import', 'tsx', join(ctx.repoRoot, 'bench/ceiling-server.ts'), '--host', HOST, '--port', String(port)],
    }), false),
  };
  return spec;
}

export const SYSTEMS = {
  ringkvMemory: ringkvSystem({ id: 'ringkv-memory', label: 'ringkv, memory engine, --durability none', engine: 'memory', durability: 'none' }),
  ringkvRocksdb: ringkvSystem({ id: 'ringkv-rocksdb', label: 'ringkv, rocksdb engine, --durability none', engine: 'rocksdb', durability: 'none' }),
  ringkvFsync: ringkvSystem({ id: 'ringkv-fsync', label: 'ringkv, rocksdb engine, --durability fsync', engine: 'rocksdb', durability: 'fsync' }),
  redis: redisSystem({ id: 'redis', label: 'redis-server, persistence off (--save "" --appendonly no)', persistence: REDIS_NO_PERSISTENCE }),
  redisAof: redisSystem({ id: 'redis-aof-always', label: 'redis-server --appendonly yes --appendfsync always', persistence: REDIS_AOF_ALWAYS }),
  ceiling: ceilingSystem(),
} as const;
