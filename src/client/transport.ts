/**
 * One HTTP exchange with one node over a keep-alive pool (a node:http Agent per node, bounded
 * sockets), with a deadline. It classifies failures the way callers must react to them:
 *
 * - the connection could not be made (nothing sent): ERR_UNAVAILABLE, retryable;
 * - the request went out and then the connection broke or the deadline passed: `sent` is
 *   true, and the caller decides (a read retries, a write is "may have happened");
 * - an answer arrived: returned as is, whatever its status.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { CLIENT_CODES, RingkvClientError } from './errors.js';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpCall {
  readonly method: 'GET' | 'PUT' | 'DELETE' | 'POST';
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | string;
  readonly timeoutMs: number;
}

/** A failure with no answer; `sent` tells whether the request may have reached the server. */
export class TransportError extends RingkvClientError {
  constructor(code: string, message: string, readonly sent: boolean, node: string, cause?: unknown) {
    super(code, message, { retryable: !sent, node, cause });
    this.name = 'TransportError';
  }
}

/** Largest answer body accepted (a guard against a misbehaving peer). */
const ANSWER_BYTES_MAX = 1024 * 1024 * 1024;

export class Transport {
  private readonly agents = new Map<string, Agent>();
  private closed = false;

  constructor(private readonly maxSocketsPerNode: number) {}

  /** `base` is 'http://host:port'. */
  send(base: string, call: HttpCall): Promise<HttpAnswer> {
    if (this.closed) return Promise.reject(new RingkvClientError(CLIENT_CODES.closed, 'client is closed'));
    let agent = this.agents.get(base);
    if (agent === undefined) {
      agent = new Agent({ keepAlive: true, maxSockets: this.maxSocketsPerNode, maxFreeSockets: this.maxSocketsPerNode });
      this.agents.set(base, agent);
    }
    const url = new URL(call.path, base);
    const body = call.body === undefined ? undefined : typeof call.body === 'string' ? Buffer.from(call.body, 'utf8') : call.body;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      let sent = false;
      const fail = (e: unknown, timedOut: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const code = (e as { code?: unknown } | null)?.code;
        if (timedOut) {
          reject(new TransportError(CLIENT_CODES.readTimeout, `no answer from ${base} within ${call.timeoutMs} ms`, sent, base, e));
        } else if (!sent) {
          reject(new TransportError(CLIENT_CODES.connect, `cannot reach ${base}: ${String(code ?? (e as Error).message)}`, false, base, e));
        } else {
          reject(new TransportError(CLIENT_CODES.connect, `connection to ${base} broke: ${String(code ?? (e as Error).message)}`, true, base, e));
        }
      };
      const req = httpRequest(url, {
        method: call.method,
        agent,
        headers: { ...call.headers, ...(body !== undefined ? { 'content-length': String(body.length) } : {}) },
      });
      const timer = setTimeout(() => {
        fail(new Error('timeout'), true);
        req.destroy();
      }, call.timeoutMs);
      req.on('socket', (socket) => {
        // A reused keep-alive socket is already connected: the request goes out on it at once.
        if (!socket.connecting) sent = true;
        else socket.once('connect', () => { sent = true; });
      });
      req.on('error', (e) => fail(e, false));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > ANSWER_BYTES_MAX) {
            req.destroy(new Error('answer too large'));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size) });
        });
        res.on('error', (e) => fail(e, false));
      });
      req.end(body);
    });
  }

  close(): void {
    this.closed = true;
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
