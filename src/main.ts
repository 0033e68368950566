/**
 * The composition root: the only place that builds a node from its parts.
 *
 *   config -> storage engine -> LocalKvStore -> command registry -> RespServer (+ metrics hook)
 *                                                                -> HTTP /healthz /metrics, /v1 API (src/http)
 *                                           active-expiry timer (config.hz) -> engine
 *
 * Cluster mode (config.cluster.nodeId set) composes instead:
 *
 *   config -> storage engine -> node metadata (id check, incarnation) -> NodeHost (core + peer
 *   transport) -> ClusterKvStore -> command registry -> RespServer; HTTP adds /admin, /cluster,
 *   and the /v1 API runs over the node host (siblings and contexts)
 *
 * startNode() opens everything in dependency order and, when a step fails, closes what was
 * already opened (so the rocksdb lock is released) and throws a StartupError whose message is
 * one line fit for a terminal. NodeHandle.close() is the graceful shutdown: health turns 503,
 * listeners stop accepting, in-flight commands finish (bounded by shutdownTimeoutMs), then the
 * engine closes (flush/sync). runNode() adds the process concerns: signals, exit codes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterNode } from './cluster/api.js';
import { clusterRoutes } from './cluster/host/admin-http.js';
import { NodeHost, prepareMeta, type NodeMeta } from './cluster/host/node-host.js';
import { ClusterKvStore } from './cluster/kv/cluster-kv-store.js';
import type { Config } from './config/schema.js';
import type { KvStore } from './data/kv-store.js';
import { LocalKvStore } from './data/local-kv-store.js';
import { createHttpApi } from './http/app.js';
import { HttpServer } from './server/http.js';
import { createLogger, type Logger } from './server/logger.js';
import { NodeMetrics } from './server/metrics.js';
import { RespServer } from './server/resp-server.js';
import { defaultCommandTable } from './server/commands/registry.js';
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
  /**
   * Aborts a start that waits (cluster mode: a node joining through seeds waits until it is in
   * the ring); startNode then closes what it opened and rejects with StartupError.
   */
  abort?: AbortSignal;
  /** Wall clock, Unix ms (tests inject a fake one). */
  now?: () => number;
}

export interface NodeHandle {
  readonly config: Config;
  /** The bound RESP port (differs from config.respPort when that was 0). */
  readonly respPort: number;
  /** The bound HTTP port; undefined when the HTTP listener is disabled (httpPort 0). */
  readonly httpPort: number | undefined;
  /** Cluster mode: the bound peer port and the node host. */
  readonly peerPort?: number;
  readonly cluster?: NodeHost;
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
  if (config.cluster.nodeId !== '') return startClusterNode(config, options);
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const now = options.now ?? Date.now;
  const log = logger.child({ component: 'node' });

  const engine = await openEngine(config, now);
  const store = new LocalKvStore({ engine, config, now });
  let serving = true;
  const { resp, http, respPort, httpPort, metrics } = await listenFrontEnds({
    config, store, logger, now, isServing: () => serving, api: { store }, release: () => engine.close(),
  });

  const expiryLog = logger.child({ component: 'expiry' });
  let expiry = startActiveExpiry(engine, config, now, expiryLog);
  // CONFIG SET: hz restarts the expiry timer, memory knobs go to the engine; connection-level
  // knobs (timeout, maxclients, requirepass) are applied by the RESP server itself.
  resp.onConfigChange((next, previous) => {
    if (next.hz !== previous.hz) {
      void expiry.stop();
      expiry = startActiveExpiry(engine, next, now, expiryLog);
    }
    if (next.maxmemory !== previous.maxmemory || next.maxmemoryPolicy !== previous.maxmemoryPolicy
      || next.maxmemorySamples !== previous.maxmemorySamples || next.lfuLogFactor !== previous.lfuLogFactor
      || next.lfuDecayTime !== previous.lfuDecayTime) {
      engine.reconfigure?.({
        maxmemory: next.maxmemory, maxmemoryPolicy: next.maxmemoryPolicy, maxmemorySamples: next.maxmemorySamples,
        lfuLogFactor: next.lfuLogFactor, lfuDecayTime: next.lfuDecayTime,
      });
    }
    log.info({ hz: next.hz, maxmemory: next.maxmemory, maxmemoryPolicy: next.maxmemoryPolicy }, 'runtime configuration changed');
  });

  const respAt = `${config.host}:${respPort}`;
  const httpAt = httpPort !== undefined ? `${config.host}:${httpPort}` : 'off';
  log.info(
    { resp: respAt, http: httpAt, engine: config.engine, dataDir: config.dataDir, durability: config.durability },
    `ringkv listening resp=${respAt} http=${httpAt} engine=${config.engine}` + (config.engine === 'rocksdb' ? ` data=${config.dataDir}` : ''),
  );

  const close = gracefulClose(log, config, resp, http, () => { serving = false; }, async () => {
    await expiry.stop();
    // Last: the engine flushes and syncs what it buffered.
    await engine.close();
  });

  return { config, respPort, httpPort, metrics, close };
}

/**
 * The RESP and HTTP listeners over a KvStore, shared by both modes. On a listen failure it
 * closes what it opened, then `release` (the engine or the node host), and throws a one-line
 * StartupError.
 */
async function listenFrontEnds(o: {
  config: Config;
  store: KvStore;
  logger: Logger;
  now: () => number;
  isServing: () => boolean;
  /** The HTTP API's data layer: the store (standalone) or the node host (cluster). */
  api: { store: KvStore } | { cluster: ClusterNode };
  /** Cluster mode's /admin and /cluster routes, tried before the API. */
  adminRoutes?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
  release: () => Promise<unknown>;
}): Promise<{ resp: RespServer; http: HttpServer; respPort: number; httpPort: number | undefined; metrics: NodeMetrics }> {
  const { config, store, logger, now, isServing } = o;
  const commands = defaultCommandTable();
  const knownCommands = [...commands.values()].flatMap((spec) => [spec.name, ...(spec.subcommands ?? []).map((sub) => sub.name)]);
  const metrics = new NodeMetrics({ knownCommands });
  const resp = new RespServer({ config, store, commands, logger: logger.child({ component: 'resp' }), now, metrics });
  let respPort: number;
  try {
    respPort = (await resp.listen()).port;
  } catch (e) {
    await resp.close(0).catch(() => undefined);
    await o.release().catch(() => undefined);
    throw listenError('resp', config.host, config.respPort, e);
  }
  metrics.setSources({ kvStats: () => store.stats(), connectedClients: () => resp.connectedClients() });
  const api = createHttpApi({
    logger: logger.child({ component: 'http-api' }), metrics, isServing, now, ...o.api,
    maxKeyBytes: config.maxKeyBytes, valueBytesMax: Math.min(config.maxValueBytes, 64 * 1024 * 1024),
  });
  const admin = o.adminRoutes;
  const http = new HttpServer({
    metrics, logger: logger.child({ component: 'http' }), isServing, connectionsMax: config.maxclients,
    extraRoutes: admin === undefined ? api.tryHandle : (req, res, path) => admin(req, res, path) || api.tryHandle(req, res),
  });
  let httpPort: number | undefined;
  try {
    if (config.httpPort !== 0) httpPort = (await http.listen(config.httpPort, config.host)).port;
  } catch (e) {
    await resp.close(0).catch(() => undefined);
    await o.release().catch(() => undefined);
    throw listenError('http', config.host, config.httpPort, e);
  }
  return { resp, http, respPort, httpPort, metrics };
}

/**
 * The idempotent graceful shutdown of both modes: health turns 503, both listeners stop
 * accepting at once (RESP waits for in-flight commands), then `release` (expiry and engine, or
 * the node host). Once the listeners are closed nothing else may keep the event loop alive
 * while the engine flushes (a native close need not hold a handle); without the hold timer the
 * process could exit 0 in the middle of shutdown.
 */
function gracefulClose(
  log: Logger, config: Config, resp: RespServer, http: HttpServer, stopServing: () => void, release: () => Promise<unknown>,
): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      stopServing();
      const started = Date.now();
      const hold = setInterval(() => undefined, 60_000);
      try {
        log.info({ timeoutMs: config.shutdownTimeoutMs }, 'shutting down: no new connections, finishing in-flight commands');
        await Promise.all([resp.close(config.shutdownTimeoutMs), http.close(Math.min(1000, config.shutdownTimeoutMs))]);
        await release();
      } finally {
        clearInterval(hold);
      }
      log.info({ elapsedMs: Date.now() - started }, 'shutdown complete');
    })();
    return closing;
  };
}

async function openEngine(config: Config, now: () => number): Promise<StorageEngine> {
  const engine = createEngine(config, { now });
  try {
    await engine.open();
  } catch (e) {
    await engine.close().catch(() => undefined);
    const where = config.engine === 'rocksdb' ? `data directory ${config.dataDir}` : `${config.engine} engine`;
    const reason = rootReason(e);
    const hint = /LOCK|LEVEL_LOCKED/.test(reason) ? ' (is another ringkv using it?)' : '';
    throw new StartupError(`cannot open ${where}: ${reason}${hint}`, { cause: e });
  }
  return engine;
}

/**
 * Cluster mode: the node's metadata is read and its new incarnation made durable before the
 * core exists (a durable engine that does not sync every write is closed and reopened: close
 * syncs the WAL), then the peer port, the RESP and HTTP listeners, and last the node host, which
 * resolves once the node holds a ring (a joining node waits for a seed to add it).
 */
async function startClusterNode(config: Config, options: StartNodeOptions): Promise<NodeHandle> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const now = options.now ?? Date.now;
  const log = logger.child({ component: 'node' });

  let engine = await openEngine(config, now);
  let meta: NodeMeta;
  try {
    meta = await prepareMeta(engine, config, now);
    if (engine.capabilities.durable && config.durability !== 'fsync') {
      await engine.close();
      engine = await openEngine(config, now);
    }
  } catch (e) {
    await engine.close().catch(() => undefined);
    if (e instanceof StartupError) throw e;
    throw new StartupError(firstLine(e), { cause: e });
  }

  const host = new NodeHost({ config, engine, meta, logger: logger.child({ component: 'cluster' }), now });
  let peerPort: number;
  try {
    peerPort = await host.listenPeer();
  } catch (e) {
    await host.close(0).catch(() => undefined);
    throw listenError('peer', config.host, config.peer.port, e);
  }

  const store = new ClusterKvStore(host, config, { now });
  let serving = true;
  const { resp, http, respPort, httpPort, metrics } = await listenFrontEnds({
    config, store, logger, now, isServing: () => serving, api: { cluster: host }, adminRoutes: clusterRoutes(host), release: () => host.close(0),
  });

  // The host answers what is in flight, closes the transport, persists and closes the engine.
  const close = gracefulClose(log, config, resp, http, () => { serving = false; }, () => host.close(config.shutdownTimeoutMs));

  const onAbort = (): void => void close();
  options.abort?.addEventListener('abort', onAbort, { once: true });
  try {
    log.info({ nodeId: meta.nodeId, incarnation: meta.incarnation, peerPort, seeds: config.cluster.seeds }, 'cluster node starting');
    if (options.abort?.aborted === true) throw new StartupError('start aborted');
    await host.start({ respPort, httpPort: httpPort ?? 0 });
    options.abort?.removeEventListener('abort', onAbort);
  } catch (e) {
    options.abort?.removeEventListener('abort', onAbort);
    await close().catch(() => undefined);
    throw new StartupError(`cluster start failed: ${firstLine(e)}`, { cause: e });
  }

  const respAt = `${config.host}:${respPort}`;
  const httpAt = httpPort !== undefined ? `${config.host}:${httpPort}` : 'off';
  const peerAt = `${config.host}:${peerPort}`;
  log.info(
    { resp: respAt, http: httpAt, peer: peerAt, nodeId: meta.nodeId, incarnation: meta.incarnation, engine: config.engine, dataDir: config.dataDir,
      durability: config.durability, ringEpoch: host.ring().current.epoch },
    `ringkv listening resp=${respAt} http=${httpAt} peer=${peerAt} node=${meta.nodeId} engine=${config.engine}`
      + (config.engine === 'rocksdb' ? ` data=${config.dataDir}` : ''),
  );
  return { config, respPort, httpPort, peerPort, cluster: host, metrics, close };
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
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];

  // Handlers go in before start-up, so a signal that arrives the moment the node logs that it
  // listens (or while it is still opening) is a graceful shutdown, not the default kill.
  let node: NodeHandle | undefined;
  let signalled = false;
  // A signal during a start that waits (a cluster node joining) cancels the start.
  const startAbort = new AbortController();
  let resolveExit: (code: number) => void = () => undefined;
  const exitCode = new Promise<number>((resolve) => { resolveExit = resolve; });
  const shutdown = (n: NodeHandle): void => {
    n.close().then(
      () => resolveExit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        resolveExit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn({ signal }, 'second signal: forcing exit without finishing shutdown');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'signal received: graceful shutdown (send again to force)');
    if (node !== undefined) shutdown(node);
    else startAbort.abort();
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

  try {
    node = await startNode(config, { ...options, logger, abort: startAbort.signal });
  } catch (e) {
    for (const s of signals) process.off(s, onSignal);
    // Stopped on purpose before it was ready: a clean exit, not a start-up failure.
    if (signalled && startAbort.signal.aborted) {
      log.info('stopped before start-up completed');
      return 0;
    }
    throw e;
  }
  if (signalled) shutdown(node);
  return exitCode;
}
