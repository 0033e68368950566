/**
 * Cluster routes on the node's HTTP port (added to src/server/http.ts through `extraRoutes`):
 *
 *   POST /admin/join          {"id", "weight"?, "rack"?, "zone"?}  adds a member to the ring
 *   POST /admin/decommission  {"id"}   a live member leaves the ring
 *   POST /admin/remove        {"id"}   a dead member is dropped from the ring
 *   GET  /admin/topology      the progress of the current (or last) ring change
 *   GET  /cluster/members     every member this node knows, with state and address
 *   GET  /cluster/ring        ring epoch, N, members with their replica and primary counts
 *   GET  /cluster/stats       the node's cluster counters (ClusterNode.stats())
 *
 * The POST routes stream progress as NDJSON: one TopologyProgress line when the change starts
 * and whenever it changes (polled every PROGRESS_INTERVAL_MS), then a last line {result: done |
 * failed | timeout, epoch, members} once this node's ring reflects the change (no change in
 * flight), so a terminal shows it live; a refused change is a plain JSON error with the
 * registry's status (ERR_TOPOLOGY_BUSY while another change runs).
 * Bodies are bounded (BODY_BYTES_MAX) and validated; errors never carry stack traces.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ownership } from '../../core/ring/index.js';
import { nodeId } from '../../core/types.js';
import { RingkvError, toClientError } from '../../errors/index.js';
import { errorBody, sendJson } from '../../server/http.js';
import type { ClusterNode, RingChange, TopologyProgress } from '../api.js';

const BODY_BYTES_MAX = 16 * 1024;
const PROGRESS_INTERVAL_MS = 250;
/** A streamed change is followed at most this long (the change itself goes on). */
const FOLLOW_MS_MAX = 10 * 60_000;

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > BODY_BYTES_MAX) {
        reject(new RingkvError('ERR_INVALID_ARGUMENT', `request body over ${BODY_BYTES_MAX} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (bytes === 0) return resolve({});
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        reject(new RingkvError('ERR_SYNTAX', 'request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

function changeOf(kind: RingChange['kind'], body: unknown): RingChange {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RingkvError('ERR_SYNTAX', 'body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.id !== 'string' || !ID_RE.test(b.id)) throw new RingkvError('ERR_INVALID_ARGUMENT', 'id: 1-64 characters of A-Z a-z 0-9 . _ -');
  const id = nodeId(b.id);
  if (kind !== 'join') return { kind, id };
  const change: RingChange = { kind: 'join', id };
  if (b.weight !== undefined) {
    if (typeof b.weight !== 'number' || !(b.weight > 0) || b.weight > 1000) throw new RingkvError('ERR_INVALID_ARGUMENT', 'weight: a number in (0, 1000]');
    change.weight = b.weight;
  }
  for (const k of ['rack', 'zone'] as const) {
    const v = b[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > 255) throw new RingkvError('ERR_INVALID_ARGUMENT', `${k}: a string of at most 255 characters`);
    change[k] = v;
  }
  return change;
}

function sendError(res: ServerResponse, e: unknown): void {
  const err = toClientError(e);
  if (res.headersSent) {
    res.end(`${JSON.stringify(errorBody(err.code, err.message))}\n`);
    return;
  }
  sendJson(res, err.httpStatus, errorBody(err.code, err.message), false);
}

const sameChange = (a: RingChange | null, b: RingChange): boolean => a !== null && a.kind === b.kind && a.id === b.id;

/** The ring this node holds reflects the change and no change is in flight. */
function applied(node: ClusterNode, change: RingChange): boolean {
  const v = node.ring();
  if (v.pending !== null) return false;
  const member = v.current.members.some((m) => m.id === change.id);
  return change.kind === 'join' ? member : !member;
}

async function runChange(node: ClusterNode, kind: RingChange['kind'], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const change = changeOf(kind, await readBody(req));
  await node.changeRing(change);
  res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
  const started = Date.now();
  let result: 'done' | 'failed' | 'timeout' = 'timeout';
  let last: TopologyProgress | undefined;
  for (;;) {
    const p = node.topology();
    if (last === undefined || JSON.stringify(p) !== JSON.stringify(last)) res.write(`${JSON.stringify(p)}\n`);
    last = p;
    if (applied(node, change)) {
      result = 'done';
      break;
    }
    if (p.phase === 'failed' && sameChange(p.change, change)) {
      result = 'failed';
      break;
    }
    if (Date.now() - started > FOLLOW_MS_MAX || res.destroyed) break;
    await new Promise((r) => setTimeout(r, PROGRESS_INTERVAL_MS));
  }
  const v = node.ring().current;
  res.end(`${JSON.stringify({ result, epoch: v.epoch, members: v.members.map((m) => m.id), message: last?.message ?? '' })}\n`);
}

function ringBody(node: ClusterNode): unknown {
  const view = node.ring();
  const own = ownership(view.current);
  return {
    epoch: view.current.epoch,
    replicationFactor: view.current.replicationFactor,
    members: view.current.members.map((m) => ({ id: m.id, weight: m.weight, rack: m.rack ?? null, zone: m.zone ?? null, ...own.get(m.id) })),
    pending: view.pending === null ? null : { epoch: view.pending.epoch, members: view.pending.members.map((m) => m.id) },
  };
}

/** The route handler for HttpAppOptions.extraRoutes. */
export function clusterRoutes(node: ClusterNode): (req: IncomingMessage, res: ServerResponse, path: string) => boolean {
  return (req, res, path) => {
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    const wrongMethod = (allow: string): true => {
      res.setHeader('allow', allow);
      sendJson(res, 405, errorBody('ERR_METHOD_NOT_ALLOWED', `${method} not allowed on ${path}`), false);
      return true;
    };
    switch (path) {
      case '/admin/join':
      case '/admin/decommission':
      case '/admin/remove': {
        if (method !== 'POST') return wrongMethod('POST');
        const kind = path.slice('/admin/'.length) as RingChange['kind'];
        runChange(node, kind, req, res).catch((e: unknown) => sendError(res, e));
        return true;
      }
      case '/admin/topology':
        if (!get) return wrongMethod('GET, HEAD');
        sendJson(res, 200, node.topology(), method === 'HEAD');
        return true;
      case '/cluster/members':
        if (!get) return wrongMethod('GET, HEAD');
        sendJson(res, 200, { self: node.id, members: node.members() }, method === 'HEAD');
        return true;
      case '/cluster/ring':
        if (!get) return wrongMethod('GET, HEAD');
        sendJson(res, 200, ringBody(node), method === 'HEAD');
        return true;
      case '/cluster/stats':
        if (!get) return wrongMethod('GET, HEAD');
        sendJson(res, 200, { self: node.id, stats: node.stats() }, method === 'HEAD');
        return true;
      default:
        return false;
    }
  };
}
