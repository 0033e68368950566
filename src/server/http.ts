/**
 * The node's HTTP listener (node:http) and its fallback routes:
 *   GET /healthz  200 {"status":"ok"}; 503 {"status":"shutting_down"} once shutdown began
 *   GET /metrics  Prometheus text from the node's registry
 * `extraRoutes` mounts the rest: the /v1 API (src/http/app.ts) and the cluster admin routes.
 * Anything else is a JSON error from the registry: 404 ERR_NOT_FOUND, 405 ERR_METHOD_NOT_ALLOWED.
 *
 * The handler is separate from listen() so it can be tested without a socket. These fallback
 * routes never read request bodies; connections and header sizes are bounded. close() stops
 * accepting, lets in-flight responses finish, and destroys what is left after the timeout.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERROR_CODES, RingkvError, toClientError, type ErrorCode } from '../errors/index.js';
import type { Logger } from './logger.js';
import type { NodeMetrics } from './metrics.js';

export interface HttpAppOptions {
  metrics: NodeMetrics;
  logger: Logger;
  /** False once the node is shutting down (health turns 503 so balancers drain it). */
  isServing(): boolean;
  /**
   * Extra routes (cluster mode: /admin/*, /cluster/*): called first with the path; returns
   * true when it handled (answered, or will answer) the request.
   */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
  /** Concurrent connections accepted (the node passes config.maxclients: the port serves API traffic). */
  connectionsMax?: number;
}

/** Default bound on concurrent HTTP connections. */
const HTTP_CONNECTIONS_MAX = 256;

export function sendJson(res: ServerResponse, status: number, body: unknown, head: boolean): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : text);
}

export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string; retryable: boolean } } {
  return { error: { code, message, retryable: ERROR_CODES[code].retryable } };
}

function sendError(res: ServerResponse, e: RingkvError, head: boolean, extraHeaders: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
  sendJson(res, e.httpStatus, errorBody(e.code, e.message), head);
}

const ROUTES = new Set(['/healthz', '/metrics']);

/** The request handler: pure routing over the options, usable without a listening socket. */
export function createHttpHandler(options: HttpAppOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const log = options.logger;
  return (req, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const head = method === 'HEAD';
    if (options.extraRoutes?.(req, res, path) === true) return;
    if (!ROUTES.has(path)) {
      sendError(res, new RingkvError('ERR_NOT_FOUND', `no route ${path}`), head);
      return;
    }
    if (method !== 'GET' && !head) {
      sendError(res, new RingkvError('ERR_METHOD_NOT_ALLOWED', `${method} not allowed on ${path}`), false, { allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      if (options.isServing()) sendJson(res, 200, { status: 'ok' }, head);
      else sendJson(res, 503, { status: 'shutting_down' }, head);
      return;
    }
    // /metrics
    options.metrics.text().then(
      (text) => {
        res.writeHead(200, { 'content-type': options.metrics.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(head ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        if (!res.headersSent) sendError(res, toClientError(err), head);
        else res.destroy();
      },
    );
  };
}

export class HttpServer {
  private readonly server: Server;
  private listening = false;

  constructor(options: HttpAppOptions) {
    this.server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 16 * 1024 }, createHttpHandler(options));
    this.server.maxConnections = options.connectionsMax ?? HTTP_CONNECTIONS_MAX;
    this.server.keepAliveTimeout = 5_000;
  }

  /** Resolves with the bound address; rejects with the listen error (e.g. EADDRINUSE). */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        this.listening = true;
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | undefined {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  /** Stops accepting, waits for in-flight responses up to `timeoutMs`, then destroys the rest. Idempotent. */
  close(timeoutMs: number): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), timeoutMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }
}
