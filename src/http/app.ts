/**
 * The HTTP/JSON API of a node (node:http, no framework: measured faster here, see README), as a
 * request handler separate from listen() so tests drive it on a loopback port or in-process.
 *
 *   /v1/kv/{key}          GET (200 value | 300 siblings | 404), PUT, DELETE
 *   /v1/batch/get, /v1/batch/put, /v1/keys, /v1/hotkeys
 *   /v1/cluster/*         members, ring, ownership, load, hints, antientropy, topology, stats (cluster mode)
 *   /v1/admin/*           join, decommission, remove, repair (cluster mode)
 *   /healthz /readyz /metrics /openapi.json
 *
 * Invariants: every error is JSON from the registry (code, message, retryable) with the code's
 * HTTP status, never a stack trace; bodies are bounded (content-length checked before reading,
 * the stream cut past the limit); query and header options are validated by the same zod
 * schemas /openapi.json is generated from; unknown options are refused.
 *
 * Headers: X-Ringkv-Context (and ETag) carries the causal context of a read; a write may send
 * it back (X-Ringkv-Context: supersede exactly what was read, resolving its siblings; If-Match:
 * the same, refused with 412 unless still current; If-None-Match: * create only). A write with
 * none of them is a plain SET (supersedes what the coordinating replica holds); overwrite=false
 * makes it a blind write that adds a sibling. In cluster mode every /v1 response carries
 * X-Ringkv-Coordinator (the node that took the request; a replica of the key coordinates it
 * itself, any other node forwards writes) and X-Ringkv-Ring-Epoch (clients refresh their ring
 * when it grows).
 */
import { mapLimit } from '../util/map-limit.js';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { ClusterNode, MemberView, NodeAddress } from '../cluster/api.js';
import type { Consistency } from '../core/messages.js';
import { ownership, SLOT_COUNT, type RingState } from '../core/ring/index.js';
import type { NodeId } from '../core/types.js';
import { decodeContextToken } from '../core/versioning/index.js';
import type { KvStore } from '../data/kv-store.js';
import { ERROR_CODES, RingkvError, toClientError, type ErrorCode } from '../errors/index.js';
import type { Logger } from '../server/logger.js';
import { HotKeys } from './hot-keys.js';
import { ClusterBackend, StandaloneBackend, type KvBackend, type ReadResult } from './kv-backend.js';
import { buildOpenApi } from './openapi.js';
import { Router, type RequestContext, type RouteSpec } from './router.js';
import * as S from './schemas.js';

export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

export interface HttpApiOptions {
  logger: Logger;
  metrics: MetricsSource;
  /** False once the node is shutting down (health turns 503 so balancers drain it). */
  isServing(): boolean;
  /** Standalone data layer; absent (and no cluster) = only health/metrics/openapi routes work. */
  store?: KvStore | undefined;
  /** Cluster mode: the data layer and the cluster routes. */
  cluster?: ClusterNode | undefined;
  /** Largest key, bytes (config maxKeyBytes). */
  maxKeyBytes?: number;
  /** Largest PUT body, bytes (min of config maxValueBytes and 64 MiB by default). */
  valueBytesMax?: number;
  /** Largest JSON body of batch and admin routes. */
  jsonBytesMax?: number;
  /** Hot-key counters kept (Space-Saving). */
  hotKeysCapacity?: number;
  version?: string;
  now?: () => number;
}

export const HEADER_CONTEXT = 'x-ringkv-context';
export const HEADER_COORDINATOR = 'x-ringkv-coordinator';
export const HEADER_RING_EPOCH = 'x-ringkv-ring-epoch';
export const HEADER_EXPIRES_AT = 'x-ringkv-expires-at-ms';

const VALUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
const JSON_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
/** How long /v1/cluster/load waits for one member's count. */
const LOAD_TIMEOUT_MS = 1500;
/** Concurrent backend operations one batch request runs. */
const BATCH_CONCURRENCY = 64;

type Json = Record<string, unknown>;

export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string; retryable: boolean } } {
  return { error: { code, message, retryable: ERROR_CODES[code].retryable } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, head: boolean, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : text);
}

function sendError(res: ServerResponse, e: RingkvError, head: boolean, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.httpStatus, errorBody(e.code, e.message), head, headers);
}

function invalid(message: string): RingkvError {
  return new RingkvError('ERR_INVALID_ARGUMENT', message);
}

function zodMessage(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const r = schema.safeParse(input);
  if (!r.success) throw invalid(`bad ${what}: ${zodMessage(r.error)}`);
  return r.data;
}

/** Percent-decodes a path segment to its bytes, as a latin1 key string (the RESP key form). */
export function decodeKeyPath(raw: string): string {
  if (!raw.includes('%')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c !== 37) {
      out += raw[i];
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new RingkvError('ERR_SYNTAX', 'bad percent-encoding in key');
    out += String.fromCharCode(parseInt(hex, 16));
    i += 2;
  }
  return out;
}

/** A latin1 key for JSON output: its bytes as UTF-8 text. */
function keyText(key: string): string {
  return Buffer.from(key, 'latin1').toString('utf8');
}

/** A JSON key (UTF-8 text) as the latin1 key form. */
function keyFromText(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

function decodeToken(text: string, what: string): Buffer {
  const t = text.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  if (!/^[A-Za-z0-9_-]*$/.test(t) || t.length > 65_536) throw invalid(`bad ${what}: expected a base64url context token`);
  return Buffer.from(t, 'base64url');
}

/** Reads a request body up to `limit` bytes; past it, 413 and the connection is closed. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new RingkvError('ERR_VALUE_TOO_LARGE', `request body of ${declared} bytes is over the ${limit}-byte limit`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        req.pause();
        reject(new RingkvError('ERR_VALUE_TOO_LARGE', `request body is over the ${limit}-byte limit`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (e) => {
      if (!failed) reject(new RingkvError('ERR_SYNTAX', `request body could not be read: ${e.message}`));
    });
  });
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const ct = req.headers['content-type'] ?? 'application/json';
  if (!/^application\/json\b/i.test(ct)) throw invalid(`content-type must be application/json, got ${ct}`);
  const body = await readBody(req, limit);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new RingkvError('ERR_SYNTAX', 'request body is not valid JSON');
  }
}

const OPTION_HEADERS: Record<string, string> = {
  'x-ringkv-r': 'r',
  'x-ringkv-w': 'w',
  'x-ringkv-ttl-ms': 'ttl_ms',
  'x-ringkv-strict': 'strict',
  'x-ringkv-overwrite': 'overwrite',
};

/** Query options merged with their X-Ringkv-* header forms; a repeated or conflicting option is refused. */
function collectOptions(ctx: RequestContext): Record<string, string> {
  // No prototype: option names like "constructor" or "__proto__" are plain (refused) keys.
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of ctx.query) {
    if (k in out) throw invalid(`option ${k} given twice`);
    out[k] = v;
  }
  for (const [h, name] of Object.entries(OPTION_HEADERS)) {
    const v = ctx.req.headers[h];
    if (typeof v !== 'string') continue;
    if (name in out && out[name] !== v) throw invalid(`option ${name} given as query ${out[name]} and header ${v}`);
    out[name] = v;
  }
  return out;
}

function levelOf(v: 'one' | 'two' | 'quorum' | 'all' | number | undefined): Consistency | undefined {
  return v;
}

function flag(v: 'true' | 'false' | '1' | '0' | undefined): boolean | undefined {
  return v === undefined ? undefined : v === 'true' || v === '1';
}

function ringBody(ring: RingState): z.infer<typeof S.ringSchema>['current'] {
  const ranges: { first: number; last: number; replicas: string[] }[] = [];
  let start = 0;
  for (let s = 1; s <= SLOT_COUNT; s++) {
    const prev = ring.owners[s - 1] ?? [];
    const cur = s < SLOT_COUNT ? ring.owners[s] : undefined;
    if (cur !== prev) {
      // Lists are interned: equal lists share one array, so identity is equality.
      ranges.push({ first: start, last: s - 1, replicas: [...prev] });
      start = s;
    }
  }
  return {
    epoch: ring.epoch,
    replication_factor: ring.replicationFactor,
    members: ring.members.map((m) => ({ id: m.id, weight: m.weight, rack: m.rack ?? '', zone: m.zone ?? '' })),
    ranges,
  };
}

function addressBody(a: NodeAddress): z.infer<typeof S.ringSchema>['nodes'][string] {
  return { host: a.host, resp_port: a.respPort, peer_port: a.peerPort, http_port: a.httpPort };
}


/** Counter names of the anti-entropy driver (the host prefixes them ae_). */
const AE_STATS = /(^|[._])ae([._A-Z]|$)|^ae|anti.?entropy|merkle/i;
const aeQuery = z.strictObject({ detail: z.enum(['0', '1', 'true', 'false']).optional() });

function partitionsBody(node: ClusterNode, detail: boolean): z.infer<typeof S.antiEntropySchema>['partitions'] {
  const marks = node.antiEntropySlots?.();
  if (marks === undefined) return null;
  let never = 0;
  let oldest: number | null = null;
  let newest: number | null = null;
  const ranges: { first: number; last: number; last_synced_ms: number | null }[] = [];
  for (const slot of [...marks.keys()].sort((a, b) => a - b)) {
    const at = marks.get(slot) ?? null;
    if (at === null) never++;
    else {
      oldest = oldest === null ? at : Math.min(oldest, at);
      newest = newest === null ? at : Math.max(newest, at);
    }
    const last = ranges.at(-1);
    if (last !== undefined && last.last === slot - 1 && last.last_synced_ms === at) last.last = slot;
    else ranges.push({ first: slot, last: slot, last_synced_ms: at });
  }
  return { slots: marks.size, never_synced: never, oldest_synced_ms: oldest, newest_synced_ms: newest, ...(detail ? { ranges } : {}) };
}

function statsMatching(node: ClusterNode, re: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(node.stats())) if (re.test(k)) out[k] = v;
  return out;
}

function packageVersion(): string {
  try {
    // Same relative path from src/http (tsx) and dist/http (built).
    const v = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export interface HttpApi {
  /** Serves every request: unknown paths are 404 ERR_NOT_FOUND. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** For mounting under another handler: serves and returns true only for this API's paths. */
  tryHandle: (req: IncomingMessage, res: ServerResponse) => boolean;
  routes: readonly RouteSpec[];
  openapi(): Json;
  hotKeys: HotKeys;
}

export function createHttpApi(options: HttpApiOptions): HttpApi {
  const log = options.logger;
  const now = options.now ?? Date.now;
  const cluster = options.cluster;
  const backend: KvBackend | undefined = cluster !== undefined
    ? new ClusterBackend(cluster)
    : options.store !== undefined ? new StandaloneBackend(options.store) : undefined;
  const maxKeyBytes = options.maxKeyBytes ?? 64 * 1024;
  const valueBytesMax = options.valueBytesMax ?? VALUE_BYTES_MAX_DEFAULT;
  const jsonBytesMax = options.jsonBytesMax ?? JSON_BYTES_MAX_DEFAULT;
  const hotKeys = new HotKeys(options.hotKeysCapacity ?? 128, now);

  /** Headers every /v1 response carries in cluster mode. */
  const clusterHeaders = (): Record<string, string> =>
    cluster === undefined ? {} : { [HEADER_COORDINATOR]: cluster.id, [HEADER_RING_EPOCH]: String(cluster.ring().current.epoch) };

  const needBackend = (): KvBackend => {
    if (backend === undefined) throw new RingkvError('ERR_NOT_FOUND', 'this node serves no key-value data over HTTP');
    return backend;
  };
  const needCluster = (): ClusterNode => {
    if (cluster === undefined) throw new RingkvError('ERR_NOT_FOUND', 'not in cluster mode: cluster routes need cluster.nodeId');
    return cluster;
  };

  const keyOf = (ctx: RequestContext): string => {
    const key = decodeKeyPath(ctx.param);
    if (key.length === 0) throw invalid('empty key');
    if (key.length > maxKeyBytes) throw new RingkvError('ERR_KEY_TOO_LARGE', `key of ${key.length} bytes is over the ${maxKeyBytes}-byte limit`);
    return key;
  };

  const checkContext = (buf: Buffer, what: string): Buffer => {
    // In cluster mode the token must decode; standalone digests are opaque bytes.
    if (cluster !== undefined && buf.length > 0) decodeContextToken(buf);
    else if (cluster !== undefined) throw invalid(`bad ${what}: empty context`);
    return buf;
  };

  const contextHeaders = (r: ReadResult): Record<string, string> => {
    if (r.context.length === 0) return {};
    const token = r.context.toString('base64url');
    return { [HEADER_CONTEXT]: token, etag: `"${token}"` };
  };

  const readBodyJson = (r: ReadResult, key: string): z.infer<typeof S.kvReadSchema> => ({
    key: keyText(key),
    context: r.context.toString('base64url'),
    values: r.values.map((v) => ({ value: v.value.toString('base64'), expires_at_ms: v.expiresAtMs })),
  });

  const wantsJson = (req: IncomingMessage): boolean => {
    const a = req.headers.accept;
    return a !== undefined && a.includes('application/json');
  };

  const kvWriteHeaders = (ctx: RequestContext): { context: Buffer | null; ifMatch: Buffer | null; ifNoneMatch: boolean } => {
    const h = ctx.req.headers;
    const ctxHeader = h[HEADER_CONTEXT];
    const context = typeof ctxHeader === 'string' && ctxHeader !== '' ? checkContext(decodeToken(ctxHeader, 'context'), 'context') : null;
    const im = h['if-match'];
    const ifMatch = typeof im === 'string' && im !== '' ? checkContext(decodeToken(im, 'If-Match'), 'If-Match') : null;
    const inm = h['if-none-match'];
    if (inm !== undefined && inm.trim() !== '*') throw invalid('If-None-Match accepts only "*" (create only)');
    const ifNoneMatch = inm !== undefined;
    if (ifMatch !== null && ifNoneMatch) throw invalid('If-Match and If-None-Match cannot be combined');
    return { context, ifMatch, ifNoneMatch };
  };

  const kvWrite = async (ctx: RequestContext, value: Buffer | null): Promise<void> => {
    const b = needBackend();
    const key = keyOf(ctx);
    const raw = collectOptions(ctx);
    const opts = Object.keys(raw).length === 0 ? {} : parseWith(S.writeOptionsSchema, { ...raw }, 'options');
    if (value === null && opts.ttl_ms !== undefined) throw invalid('ttl_ms does not apply to DELETE');
    const conditions = kvWriteHeaders(ctx);
    const overwrite = flag(opts.overwrite);
    const causal = conditions.context !== null || conditions.ifMatch !== null || conditions.ifNoneMatch;
    if (overwrite === true && causal) throw invalid('overwrite=true cannot be combined with a context, If-Match or If-None-Match');
    hotKeys.record(key);
    await b.write({
      key,
      value,
      expiresAtMs: opts.ttl_ms === undefined ? 0 : now() + opts.ttl_ms,
      ...conditions,
      w: levelOf(opts.w),
      strict: flag(opts.strict),
      // No context: plain SET semantics unless the caller asked for a blind (sibling) write.
      overwrite: !causal && overwrite !== false,
    });
    ctx.res.writeHead(204, clusterHeaders());
    ctx.res.end();
  };

  const kvHeaders = [
    { name: 'X-Ringkv-Context', description: 'Causal context from a read: the write supersedes what that read saw.' },
    { name: 'If-Match', description: 'A context that must still be current, else 412.' },
    { name: 'If-None-Match', description: '"*": create only, 412 if the key holds a value.' },
    { name: 'X-Ringkv-W', description: 'Same as the w option.' },
    { name: 'X-Ringkv-Ttl-Ms', description: 'Same as the ttl_ms option.' },
  ];
  const clusterOnly = { 404: { description: 'Not in cluster mode.' } };

  const routes: RouteSpec[] = [
    {
      method: 'GET', path: '/v1/kv/{key}', tag: 'kv',
      summary: 'Read a key: 200 with the value (raw bytes, or JSON with Accept: application/json), 300 with every sibling, 404 when absent.',
      query: S.readOptionsSchema,
      headers: [{ name: 'Accept', description: 'application/json for the JSON form of a single value.' }, { name: 'X-Ringkv-R', description: 'Same as the r option.' }],
      responses: {
        200: { description: 'The value; X-Ringkv-Context and ETag carry the context.', raw: 'application/octet-stream', schema: S.kvReadSchema },
        300: { description: 'Concurrent siblings; write back with the context to resolve them.', schema: S.kvReadSchema },
        400: { description: 'Bad key or options.' },
        404: { description: 'No such key (the context header is still sent when there are tombstones).' },
        413: { description: 'Key too large.' },
        503: { description: 'Not enough replicas answered (retryable).' },
        504: { description: 'Timed out (retryable).' },
      },
      handle: async (ctx) => {
        const b = needBackend();
        const key = keyOf(ctx);
        const raw = collectOptions(ctx);
        const opts = Object.keys(raw).length === 0 ? {} : parseWith(S.readOptionsSchema, { ...raw }, 'options');
        hotKeys.record(key);
        const r = await b.get(key, levelOf(opts.r));
        const headers = { ...clusterHeaders(), ...contextHeaders(r) };
        if (r.values.length === 0) {
          sendError(ctx.res, new RingkvError('ERR_NO_SUCH_KEY', `no such key ${JSON.stringify(keyText(key))}`), ctx.head, headers);
          return;
        }
        if (r.values.length > 1) {
          sendJson(ctx.res, 300, readBodyJson(r, key), ctx.head, headers);
          return;
        }
        if (wantsJson(ctx.req)) {
          sendJson(ctx.res, 200, readBodyJson(r, key), ctx.head, headers);
          return;
        }
        const v = r.values[0]!;
        if (v.expiresAtMs !== 0) headers[HEADER_EXPIRES_AT] = String(v.expiresAtMs);
        ctx.res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'content-length': v.value.length });
        ctx.res.end(ctx.head ? undefined : v.value);
      },
    },
    {
      method: 'PUT', path: '/v1/kv/{key}', tag: 'kv',
      summary: 'Write a key; the body (any content type: binary or text) is stored as bytes.',
      query: S.writeOptionsSchema,
      headers: kvHeaders,
      body: { raw: 'application/octet-stream', description: 'The value bytes (text/plain is stored as its UTF-8 bytes).' },
      responses: {
        204: { description: 'Written.' },
        400: { description: 'Bad key, options or context.' },
        409: { description: 'Too many siblings: write with a context.' },
        412: { description: 'If-Match context no longer current, or If-None-Match: * and the key exists.' },
        413: { description: 'Key or value too large.' },
        503: { description: 'Not enough replicas; the write did not happen (retryable).' },
        504: { description: 'ERR_MAYBE_APPLIED: the write may have happened (not retryable blindly).' },
      },
      handle: async (ctx) => {
        // Validate the key before reading a possibly large body.
        keyOf(ctx);
        const value = await readBody(ctx.req, valueBytesMax);
        await kvWrite(ctx, value);
      },
    },
    {
      method: 'DELETE', path: '/v1/kv/{key}', tag: 'kv',
      summary: 'Delete a key (a tombstone in cluster mode); 204 whether or not it existed.',
      query: S.writeOptionsSchema,
      headers: kvHeaders.slice(0, 4),
      responses: {
        204: { description: 'Deleted.' },
        400: { description: 'Bad key, options or context.' },
        412: { description: 'If-Match context no longer current.' },
        503: { description: 'Not enough replicas (retryable).' },
        504: { description: 'May have happened.' },
      },
      handle: (ctx) => kvWrite(ctx, null),
    },
    {
      method: 'POST', path: '/v1/batch/get', tag: 'kv',
      summary: 'Read many keys; per-key results (an error on one key does not fail the others).',
      body: { schema: S.batchGetBodySchema, description: 'Keys (UTF-8 text) and an optional read level.' },
      responses: { 200: { description: 'One result per key, in order.', schema: S.batchGetResponseSchema }, 400: { description: 'Bad body.' }, 413: { description: 'Body too large.' } },
      handle: async (ctx) => {
        const b = needBackend();
        const body = parseWith(S.batchGetBodySchema, await readJson(ctx.req, jsonBytesMax), 'body');
        const results = await mapLimit(body.keys, BATCH_CONCURRENCY, async (text) => {
          const key = keyFromText(text);
          try {
            if (key.length > maxKeyBytes) throw new RingkvError('ERR_KEY_TOO_LARGE', `key of ${key.length} bytes is over the ${maxKeyBytes}-byte limit`);
            hotKeys.record(key);
            const r = await b.get(key, levelOf(body.r));
            const json = readBodyJson(r, key);
            return { key: text, found: r.values.length > 0, context: json.context, values: json.values };
          } catch (e) {
            const err = toClientError(e);
            return { key: text, found: false, error: errorBody(err.code, err.message).error };
          }
        });
        sendJson(ctx.res, 200, { results }, false, clusterHeaders());
      },
    },
    {
      method: 'POST', path: '/v1/batch/put', tag: 'kv',
      summary: 'Write or delete many keys; per-item results.',
      body: { schema: S.batchPutBodySchema, description: 'Items with base64 value or text, optional context and TTL.' },
      responses: { 200: { description: 'One result per item, in order.', schema: S.batchPutResponseSchema }, 400: { description: 'Bad body.' }, 413: { description: 'Body too large.' } },
      handle: async (ctx) => {
        const b = needBackend();
        const body = parseWith(S.batchPutBodySchema, await readJson(ctx.req, jsonBytesMax), 'body');
        const results = await mapLimit(body.items, BATCH_CONCURRENCY, async (item) => {
          try {
            const key = keyFromText(item.key);
            if (key.length > maxKeyBytes) throw new RingkvError('ERR_KEY_TOO_LARGE', `key of ${key.length} bytes is over the ${maxKeyBytes}-byte limit`);
            const given = (item.value !== undefined ? 1 : 0) + (item.text !== undefined ? 1 : 0) + (item.delete === true ? 1 : 0);
            if (given !== 1) throw invalid('each item needs exactly one of value, text or delete: true');
            const value = item.delete === true ? null : item.value !== undefined ? Buffer.from(item.value, 'base64') : Buffer.from(item.text ?? '', 'utf8');
            if (value !== null && value.length > valueBytesMax) throw new RingkvError('ERR_VALUE_TOO_LARGE', `value over the ${valueBytesMax}-byte limit`);
            if (value === null && item.ttl_ms !== undefined) throw invalid('ttl_ms does not apply to a delete');
            const context = item.context !== undefined && item.context !== '' ? checkContext(decodeToken(item.context, 'context'), 'context') : null;
            hotKeys.record(key);
            await b.write({
              key, value, context, ifMatch: null, ifNoneMatch: false, overwrite: context === null,
              expiresAtMs: item.ttl_ms === undefined ? 0 : now() + item.ttl_ms,
              w: levelOf(body.w),
            });
            return { key: item.key, ok: true };
          } catch (e) {
            const err = toClientError(e);
            return { key: item.key, ok: false, error: errorBody(err.code, err.message).error };
          }
        });
        sendJson(ctx.res, 200, { results }, false, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/keys', tag: 'kv',
      summary: 'List keys a page at a time (each key once; a ring change during a listing may repeat or skip keys).',
      query: S.keysQuerySchema,
      responses: { 200: { description: 'A page of keys (UTF-8 text).', schema: S.keysPageSchema }, 400: { description: 'Bad cursor or options.' } },
      handle: async (ctx) => {
        const b = needBackend();
        const q = parseWith(S.keysQuerySchema, Object.fromEntries(ctx.query), 'options');
        const page = await b.listKeys(q.cursor ?? null, q.limit ?? 100, q.match === undefined ? undefined : keyFromText(q.match));
        sendJson(ctx.res, 200, { keys: page.keys.map(keyText), cursor: page.cursor }, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/hotkeys', tag: 'cluster',
      summary: 'The most requested keys on this node\'s HTTP front end (Space-Saving counters).',
      query: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() }),
      responses: { 200: { description: 'Hot keys, highest first.', schema: S.hotKeysSchema } },
      handle: (ctx) => {
        const q = parseWith(z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() }), Object.fromEntries(ctx.query), 'options');
        const keys = hotKeys.top(q.limit ?? 20).map((h) => ({ key: keyText(h.key), count: h.count, error: h.error }));
        sendJson(ctx.res, 200, { node: cluster?.id ?? 'standalone', since_ms: hotKeys.since(), keys }, ctx.head);
      },
    },
    {
      method: 'GET', path: '/v1/cluster/members', tag: 'cluster',
      summary: 'Every member this node knows, with its membership state and address.',
      responses: { 200: { description: 'Members.', schema: S.membersSchema }, ...clusterOnly },
      handle: (ctx) => {
        const c = needCluster();
        const members = c.members().map((m: MemberView) => ({
          id: m.id, state: m.state, incarnation: m.incarnation, in_ring: m.inRing, down: c.isDown(m.id),
          address: m.address === undefined ? null : addressBody(m.address),
        }));
        sendJson(ctx.res, 200, { self: c.id, members }, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/cluster/ring', tag: 'cluster',
      summary: 'The ring: slot ranges and their preference lists (current, and pending during a change), with member addresses.',
      responses: { 200: { description: 'The ring.', schema: S.ringSchema }, ...clusterOnly },
      handle: (ctx) => {
        const c = needCluster();
        const view = c.ring();
        const nodes: Record<string, z.infer<typeof S.ringSchema>['nodes'][string]> = {};
        for (const m of c.members()) if (m.address !== undefined) nodes[m.id] = addressBody(m.address);
        nodes[c.id] = addressBody(c.address());
        sendJson(ctx.res, 200, { self: c.id, current: ringBody(view.current), pending: view.pending === null ? null : ringBody(view.pending), nodes }, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/cluster/ownership', tag: 'cluster',
      summary: 'Slot-replicas and primaries per member, and each one\'s share in percent.',
      responses: { 200: { description: 'Ownership.', schema: S.ownershipSchema }, ...clusterOnly },
      handle: (ctx) => {
        const c = needCluster();
        const ring = c.ring().current;
        const own = ownership(ring);
        let total = 0;
        for (const o of own.values()) total += o.replicas;
        const nodes = ring.members.map((m) => {
          const o = own.get(m.id) ?? { replicas: 0, primaries: 0 };
          return { id: m.id, replicas: o.replicas, primaries: o.primaries, percent: total === 0 ? 0 : Math.round((o.replicas / total) * 10_000) / 100 };
        });
        sendJson(ctx.res, 200, { epoch: ring.epoch, nodes }, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/cluster/load', tag: 'cluster',
      summary: 'Live records held by each ring member (asked in parallel; null for a member that did not answer).',
      responses: { 200: { description: 'Records per member.', schema: S.loadSchema }, ...clusterOnly },
      handle: async (ctx) => {
        const c = needCluster();
        const ids = c.ring().current.members.map((m) => m.id);
        const nodes = await Promise.all(ids.map(async (id) => {
          // A member the core holds down is not asked (its request would wait out the peer timeout).
          if (c.isDown(id)) return { id, keys: null };
          let timer: NodeJS.Timeout | undefined;
          try {
            const r = await Promise.race([
              c.request(id, { kind: 'local_count' }),
              new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), LOAD_TIMEOUT_MS); }),
            ]);
            return { id, keys: r !== null && r.kind === 'local_count' ? r.count : null };
          } catch {
            return { id, keys: null };
          } finally {
            clearTimeout(timer);
          }
        }));
        sendJson(ctx.res, 200, { nodes }, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/cluster/hints', tag: 'cluster',
      summary: 'Hinted handoff counters of this node (hints held for down owners, delivered, dropped).',
      responses: { 200: { description: 'Hint counters.', schema: S.statsSectionSchema }, ...clusterOnly },
      handle: (ctx) => {
        const c = needCluster();
        sendJson(ctx.res, 200, { node: c.id, stats: statsMatching(c, /hint/i) }, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/cluster/antientropy', tag: 'cluster',
      summary: 'Merkle anti-entropy of this node: counters, and per-partition last-full-sync watermarks (ranges with detail=1).',
      query: aeQuery,
      responses: { 200: { description: 'Anti-entropy state.', schema: S.antiEntropySchema }, 400: { description: 'Bad options.' }, ...clusterOnly },
      handle: (ctx) => {
        const c = needCluster();
        const q = parseWith(aeQuery, Object.fromEntries(ctx.query), 'options');
        const body: z.infer<typeof S.antiEntropySchema> = {
          node: c.id, stats: statsMatching(c, AE_STATS), partitions: partitionsBody(c, q.detail === '1' || q.detail === 'true'),
        };
        sendJson(ctx.res, 200, body, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/cluster/stats', tag: 'cluster',
      summary: 'Every counter of this node (hints, anti-entropy, membership, transport).',
      responses: { 200: { description: 'Counters.', schema: S.statsSectionSchema }, ...clusterOnly },
      handle: (ctx) => {
        const c = needCluster();
        sendJson(ctx.res, 200, { node: c.id, stats: { ...c.stats() } }, ctx.head, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/v1/cluster/topology', tag: 'cluster',
      summary: 'The ring change in flight (join, decommission, remove) and its progress.',
      responses: { 200: { description: 'Progress.', schema: S.topologySchema }, ...clusterOnly },
      handle: (ctx) => {
        const c = needCluster();
        sendJson(ctx.res, 200, topologyBody(c), ctx.head, clusterHeaders());
      },
    },
    ...(['join', 'decommission', 'remove'] as const).map((kind): RouteSpec => ({
      method: 'POST', path: `/v1/admin/${kind}`, tag: 'admin',
      summary: kind === 'join'
        ? 'Add a node to the ring (it must be reachable and gossiping); streams its slots to it.'
        : kind === 'decommission'
          ? 'A live member hands its replicas to the others, then leaves the ring.'
          : 'Remove a dead member without streaming from it.',
      body: { schema: kind === 'join' ? S.joinBodySchema : S.nodeBodySchema, description: 'The node.' },
      responses: {
        202: { description: 'Started; poll /v1/cluster/topology.', schema: S.topologySchema },
        400: { description: 'Bad body.' },
        404: { description: 'Unknown node, or not in cluster mode.' },
        409: { description: 'Another ring change is in flight (retryable).' },
      },
      handle: async (ctx) => {
        const c = needCluster();
        if (kind === 'join') {
          const b = parseWith(S.joinBodySchema, await readJson(ctx.req, jsonBytesMax), 'body');
          await c.changeRing({
            kind: 'join', id: b.id as NodeId,
            ...(b.weight !== undefined ? { weight: b.weight } : {}),
            ...(b.rack !== undefined ? { rack: b.rack } : {}),
            ...(b.zone !== undefined ? { zone: b.zone } : {}),
          });
        } else {
          const b = parseWith(S.nodeBodySchema, await readJson(ctx.req, jsonBytesMax), 'body');
          await c.changeRing({ kind, id: b.id as NodeId });
        }
        sendJson(ctx.res, 202, topologyBody(c), false, clusterHeaders());
      },
    })),
    {
      method: 'POST', path: '/v1/admin/repair', tag: 'admin',
      summary: 'Start an anti-entropy round with every replica peer now (when the node supports it); watch /v1/cluster/antientropy.',
      responses: { 202: { description: 'Started (started=false: the node runs anti-entropy on its own schedule only).', schema: S.repairSchema }, ...clusterOnly },
      handle: async (ctx) => {
        const c = needCluster();
        let started = false;
        if (c.startRepair !== undefined) {
          await c.startRepair();
          started = true;
        }
        sendJson(ctx.res, 202, { node: c.id, started, stats: statsMatching(c, AE_STATS) }, false, clusterHeaders());
      },
    },
    {
      method: 'GET', path: '/healthz', tag: 'ops',
      summary: 'Liveness: 200 while serving, 503 once shutting down.',
      responses: { 200: { description: 'Serving.', schema: S.healthSchema }, 503: { description: 'Shutting down.', schema: S.healthSchema } },
      handle: (ctx) => {
        if (options.isServing()) sendJson(ctx.res, 200, { status: 'ok' }, ctx.head);
        else sendJson(ctx.res, 503, { status: 'shutting_down' }, ctx.head);
      },
    },
    {
      method: 'GET', path: '/readyz', tag: 'ops',
      summary: 'Readiness: 503 while shutting down, joining, draining (decommission) or outside the ring.',
      responses: { 200: { description: 'Ready.', schema: S.readySchema }, 503: { description: 'Not ready.', schema: S.readySchema } },
      handle: (ctx) => {
        const reason = notReadyReason();
        sendJson(ctx.res, reason === null ? 200 : 503, { ready: reason === null, reason: reason ?? 'ok' }, ctx.head);
      },
    },
    {
      method: 'GET', path: '/metrics', tag: 'ops',
      summary: 'Prometheus metrics.',
      responses: { 200: { description: 'Prometheus text format.', raw: 'text/plain' } },
      handle: async (ctx) => {
        const text = await options.metrics.text();
        ctx.res.writeHead(200, { 'content-type': options.metrics.contentType, 'content-length': Buffer.byteLength(text) });
        ctx.res.end(ctx.head ? undefined : text);
      },
    },
    {
      method: 'GET', path: '/openapi.json', tag: 'ops',
      summary: 'This document.',
      responses: { 200: { description: 'OpenAPI 3.1.' } },
      handle: (ctx) => sendJson(ctx.res, 200, openapi(), ctx.head),
    },
  ];

  function topologyBody(c: ClusterNode): z.infer<typeof S.topologySchema> {
    const t = c.topology();
    return {
      change: t.change === null ? null : { kind: t.change.kind, id: t.change.id },
      phase: t.phase,
      slots_to_move: t.slotsToMove,
      slots_moved: t.slotsMoved,
      keys_streamed: t.keysStreamed,
      bytes_streamed: t.bytesStreamed,
      message: t.message,
    };
  }

  function notReadyReason(): string | null {
    if (!options.isServing()) return 'shutting_down';
    if (cluster === undefined) return backend === undefined ? 'no_data_layer' : null;
    const t = cluster.topology();
    const busy = t.phase === 'streaming' || t.phase === 'committing';
    if (busy && t.change !== null && t.change.id === cluster.id) {
      if (t.change.kind === 'join') return 'joining';
      return 'draining';
    }
    const self = cluster.members().find((m) => m.id === cluster.id);
    if (self !== undefined && !self.inRing) return 'not_in_ring';
    return null;
  }

  let doc: Json | undefined;
  const openapi = (): Json => (doc ??= buildOpenApi(routes, options.version ?? packageVersion()));
  const router = new Router(routes);

  /** Serves the request if a route matches its path (any method); false = not ours, untouched. */
  const tryHandle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const head = method === 'HEAD';
    const m = router.match(method, path);
    if (m.kind === 'not_found') return false;
    if (m.kind === 'method_not_allowed') {
      sendError(res, new RingkvError('ERR_METHOD_NOT_ALLOWED', `${method} not allowed on ${path}`), head, { allow: m.allow });
      return true;
    }
    const ctx: RequestContext = {
      req, res, method: m.route.method, head, path, param: m.param,
      query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
    };
    const fail = (err: unknown): void => {
      const e = toClientError(err);
      if (e.code === 'ERR_INTERNAL') log.error({ err, path, method }, 'http request failed');
      // An unread request body would be parsed as the next request: close after answering.
      if (!req.complete) res.setHeader('connection', 'close');
      sendError(res, e, head, cluster !== undefined && path.startsWith('/v1/') ? clusterHeaders() : {});
    };
    try {
      const r = m.route.handle(ctx);
      if (r !== undefined) r.catch(fail);
    } catch (err) {
      fail(err);
    }
    return true;
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (tryHandle(req, res)) return;
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    sendError(res, new RingkvError('ERR_NOT_FOUND', `no route ${path}`), req.method === 'HEAD');
  };

  return { handler, tryHandle, routes, openapi, hotKeys };
}
