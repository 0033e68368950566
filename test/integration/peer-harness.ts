/**
 * Helpers for peer transport tests: transports on 127.0.0.1 with port 0, captured log lines,
 * and polling with a deadline so every wait is bounded.
 */
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { PeerTransport, type PeerConfig, type PeerTransportOptions } from '../../src/server/peer/index.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface Node {
  t: PeerTransport;
  id: string;
  port: number;
  logs: LogLine[];
  messages: { from: string; msg: unknown }[];
}

export function peerConfig(overrides: Partial<Record<keyof PeerConfig, number | string>> = {}): PeerConfig {
  return configSchema.parse({
    peer: { port: 0, connectTimeoutMs: 1000, requestTimeoutMs: 2000, backoffBaseMs: 20, backoffMaxMs: 200, ...overrides },
  }).peer;
}

export async function startNode(
  id: string,
  opts: {
    config?: PeerConfig;
    port?: number;
    onRequest?: PeerTransportOptions['onRequest'];
    onMessage?: PeerTransportOptions['onMessage'];
    protocolMinor?: number;
    random?: () => number;
  } = {},
): Promise<Node> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const messages: Node['messages'] = [];
  const t = new PeerTransport({
    nodeId: id,
    host: '127.0.0.1',
    port: opts.port ?? 0,
    config: opts.config ?? peerConfig(),
    logger,
    onMessage: opts.onMessage ?? ((from, msg) => void messages.push({ from, msg })),
    onRequest: opts.onRequest ?? (async (from, msg) => ({ echo: msg, by: id, from })),
    ...(opts.protocolMinor !== undefined ? { protocolMinor: opts.protocolMinor } : {}),
    ...(opts.random !== undefined ? { random: opts.random } : {}),
  });
  const { port } = await t.listen();
  return { t, id, port, logs, messages };
}

export function mesh(nodes: readonly Node[]): void {
  const book = Object.fromEntries(nodes.map((n) => [n.id, { host: '127.0.0.1', port: n.port }]));
  for (const n of nodes) n.t.setPeers(book);
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function closeAll(nodes: readonly Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.close(500)));
}
