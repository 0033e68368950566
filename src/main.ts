/**
 * The composition root: the only place that builds a node from its parts.
 *
 *   config -> storage engine -> LocalKvStore -> command registry -> RespServer (+ metrics hook)
 *                                                                -> HTTP /healthz /metrics
 *                                           active-expiry timer (config.hz) -> engine
 *
 * startNode() opens everything in dependency order and, when a step fails, closes what was
 * already opened (so the rocksdb lock is released) and throws a StartupError whose message is
 * one line fit for a terminal. NodeHandle.close() is the graceful shutdown: health turns 503,
 * listeners stop accepting, in-flight commands finish (bounded by shutdownTimeoutMs), then the
 * engine closes (flush/sync). runNode() adds the process concerns: signals, exit codes.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.js';
import { LocalKvStore } from './data/local-kv-store.js';
import { HttpServer } from './server/http.js';
import { createLogger, type Logger } from './server/logger.js';
import { NodeMetrics } from './server/metrics.js';
import { RespServer } from './server/resp-server.js';
import { createCommandRegistry } from './server/commands/registry.js';
import { createEngine } from './storage/index.js';
import type { StorageEngine } from './storage/engine.js';
import { isPromise } from './util/maybe-promise.js';

/** A failure to start, with a one-line message for the operator (no stack trace). */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export interface StartNodeOptions {
  logger?: Logger;
  /** Wall clock, Unix ms (tests inject a fake one). */
  now?: () => number;
}

export interface NodeHandle {
  readonly config: Config;
  readonly respAddress: AddressInfo;
  /** Undefined when the HTTP listener is disabled (httpPort 0). */
  readonly httpAddress: AddressInfo | undefined;
  readonly metrics: NodeMetrics;
  /** Graceful shutdown; idempotent (later calls return the same promise). */
  close(): Promise<void>;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n')[0] ?? '').trim();
}

/** Deepest cause's message: the rocksdb/fs reason behind a wrapped error. */
function rootReason(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 8; i++) {
    const next = cur instanceof Error ? cur.cause : undefined;
    if (next === undefined) break;
    cur = next;
  }
  const code = (cur as { code?: unknown } | null)?.code;
  const line = firstLine(cur);
  return typeof code === 'string' && !line.includes(code) ? `${line} (${code})` : line;
}

function listenError(what: string, host: string, port: number, e: unknown): StartupError {
  const code = (e as { code?: unknown } | null)?.code;
  const where = `${host}:${port}`;
  switch (code) {
    case 'EADDRINUSE': return new StartupError(`${what} port ${where} is already in use (EADDRINUSE)`, { cause: e });
    case 'EACCES': return new StartupError(`permission denied to listen on ${where} for ${what} (EACCES)`, { cause: e });
    case 'EADDRNOTAVAIL': return new StartupError(`cannot listen on ${where} for ${what}: address not available on this machine (EADDRNOTAVAIL)`, { cause: e });
    case 'ENOTFOUND': return new StartupError(`cannot listen for ${what}: host ${host} not found (ENOTFOUND)`, { cause: e });
    default: return new StartupError(`cannot listen on ${where} for ${what}: ${rootReason(e)}`, { cause: e });
  }
}

/**
 * Runs config.hz bounded expiry cycles per second. A cycle that is still running (async engine)
 * makes the next tick skip rather than pile up.
 */
function startActiveExpiry(engine: StorageEngine, config: Config, now: () => number, log: Logger): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  let failures = 0;
  const timer = setInterval(() => {
    if (running !== undefined) return;
    try {
      const r = engine.expireCycle(now());
      if (isPromise(r)) {
        running = r.then(
          () => { running = undefined; },
          (err: unknown) => {
            running = undefined;
            if (failures++ < 3) log.error({ err }, 'active expiry cycle failed');
          },
        );
      }
    } catch (err) {
      if (failures++ < 3) log.error({ err }, 'active expiry cycle failed');
    }
  }, Math.max(1, Math.floor(1000 / config.hz)));
  // The listeners keep the process alive; this timer must not.
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      if (running !== undefined) await running;
    },
  };
}

export async function startNode(config: Config, options: StartNodeOptions = {}): Promise<NodeHandle> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const now = options.now ?? Date.now;
  const log = logger.child({ component: 'node' });

  const engine = createEngine(config, { now });
  try {
    await engine.open();
  } catch (e) {
    await engine.close().catch(() => undefined);
    const where = config.engine === 'rocksdb' ? `data directory ${config.dataDir}` : `${config.engine} engine`;
    throw new StartupError(`cannot open ${where}: ${rootReason(e)}`, { cause: e });
  }

  const store = new LocalKvStore({ engine, config, now });
  const commands = createCommandRegistry();
  const metrics = new NodeMetrics({ knownCommands: [...commands.keys()] });
  let serving = true;

  const resp = new RespServer({ config, store, commands, logger: logger.child({ component: 'resp' }), now, metrics });
  let respAddress: AddressInfo;
  try {
    respAddress = await resp.listen();
  } catch (e) {
    await resp.close(0).catch(() => undefined);
    await engine.close().catch(() => undefined);
    throw listenError('resp', config.host, config.respPort, e);
  }
  metrics.setSources({ kvStats: () => store.stats(), connectedClients: () => resp.connectedClients() });

  const http = new HttpServer({ metrics, logger: logger.child({ component: 'http' }), isServing: () => serving });
  let httpAddress: AddressInfo | undefined;
  try {
    if (config.httpPort !== 0) httpAddress = await http.listen(config.httpPort, config.host);
  } catch (e) {
    await resp.close(0).catch(() => undefined);
    await engine.close().catch(() => undefined);
    throw listenError('http', config.host, config.httpPort, e);
  }

  const expiry = startActiveExpiry(engine, config, now, logger.child({ component: 'expiry' }));

  const respAt = `${respAddress.address}:${respAddress.port}`;
  const httpAt = httpAddress ? `${httpAddress.address}:${httpAddress.port}` : 'off';
  log.info(
    { resp: respAt, http: httpAt, engine: config.engine, dataDir: config.dataDir, durability: config.durability },
    `ringkv listening resp=${respAt} http=${httpAt} engine=${config.engine}` + (config.engine === 'rocksdb' ? ` data=${config.dataDir}` : ''),
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      serving = false;
      const started = Date.now();
      log.info({ timeoutMs: config.shutdownTimeoutMs }, 'shutting down: no new connections, finishing in-flight commands');
      // Stop accepting on both ports at once; RESP waits for in-flight commands.
      await Promise.all([resp.close(config.shutdownTimeoutMs), http.close(Math.min(1000, config.shutdownTimeoutMs))]);
      await expiry.stop();
      // Last: the engine flushes and syncs what it buffered.
      await engine.close();
      log.info({ elapsedMs: Date.now() - started }, 'shutdown complete');
    })();
    return closing;
  };

  return { config, respAddress, httpAddress, metrics, close };
}

export interface RunNodeOptions extends StartNodeOptions {
  /** Signals that start a graceful shutdown; a second one forces exit. */
  signals?: readonly NodeJS.Signals[];
}

/**
 * Runs a node until SIGTERM/SIGINT. Resolves with the process exit code: 0 after a clean
 * shutdown, 1 when closing failed. A second signal exits at once with code 1 (forced).
 * Start-up failures reject (StartupError); the caller prints them.
 */
export async function runNode(config: Config, options: RunNodeOptions = {}): Promise<number> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const log = logger.child({ component: 'process' });
  const node = await startNode(config, { ...options, logger });
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];

  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        log.warn({ signal }, 'second signal: forcing exit without finishing shutdown');
        process.exit(1);
      }
      signalled = true;
      log.info({ signal }, 'signal received: graceful shutdown (send again to force)');
      node.close().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    for (const s of signals) process.on(s, onSignal);
    process.on('uncaughtException', (err) => {
      log.fatal({ err }, 'uncaught exception');
      process.exit(1);
    });
    process.on('unhandledRejection', (err) => {
      log.fatal({ err }, 'unhandled rejection');
      process.exit(1);
    });
  });
}
