/**
 * The ringkv HTTP client. It learns the ring from any seed (GET /v1/cluster/ring), hashes each
 * key to its slot and sends the request straight to a replica of that slot, so the node that
 * coordinates already holds the key (one hop). It refreshes the ring when a response carries a
 * newer X-Ringkv-Ring-Epoch, when a node cannot be reached, and periodically. Against a
 * standalone node (no ring) every request goes to the seeds.
 *
 * Laws:
 * - Only retryable outcomes are retried (the server's `retryable` errors, and connections that
 *   failed before anything was sent), at most `retries` times, with doubling backoff, moving to
 *   the next replica of the slot.
 * - A write whose outcome is unknown (the server's ERR_MAYBE_APPLIED, or a connection that broke
 *   or timed out after the request went out) is never retried: it surfaces as MaybeAppliedError.
 * - Sibling values (HTTP 300) are handed to the resolver (per call, or the client's default);
 *   its result is written back with the read's context, which supersedes exactly the siblings
 *   that were read. Without a resolver the caller gets every sibling and the context.
 */
import { CLIENT_CODES, MaybeAppliedError, RingkvClientError } from './errors.js';
import { parseRing, replicasFor, type RingSnapshot } from './ring.js';
import { Transport, TransportError, type HttpAnswer, type HttpCall } from './transport.js';

export type Consistency = 'one' | 'two' | 'quorum' | 'all' | number;
/** A key as text (UTF-8) or bytes. */
export type KeyInput = string | Uint8Array;

/** Merges concurrent sibling values into one; called on HTTP 300. */
export type SiblingResolver = (siblings: Buffer[], key: Buffer) => Buffer | string | Promise<Buffer | string>;

export interface RequestEvent {
  readonly method: string;
  readonly path: string;
  /** Base URL the request went to. */
  readonly url: string;
  /** The node id the client chose from the ring (undefined: standalone or no ring yet). */
  readonly nodeId: string | undefined;
  readonly slot: number | undefined;
  /** The node that answered it says it coordinated (X-Ringkv-Coordinator). */
  readonly coordinator: string | undefined;
  readonly status: number;
}

export interface ClientOptions {
  /** Node HTTP addresses: 'host:port' or 'http://host:port'. */
  seeds: readonly string[];
  /** Deadline of one attempt, ms (default 5000). */
  timeoutMs?: number;
  /** Retries of retryable failures (default 2). */
  retries?: number;
  /** First retry delay, doubled each time (default 50 ms). */
  retryDelayMs?: number;
  /** Keep-alive sockets per node (default 32). */
  maxSocketsPerNode?: number;
  /** Default sibling resolver (none: reads return every sibling). */
  resolveSiblings?: SiblingResolver;
  /** Periodic ring refresh, ms (default 30000; 0 = only on change or failure). */
  ringRefreshMs?: number;
  /** Observes every answered request (tests count hops with it). */
  onRequest?: (e: RequestEvent) => void;
}

export interface ReadOptions {
  r?: Consistency;
  timeoutMs?: number;
  /** A resolver for this call, or false to get the siblings even if the client has a default. */
  resolve?: SiblingResolver | false;
}

export interface ReadValue {
  /** The value; with unresolved siblings, the first of them. */
  value: Buffer;
  /** Every live value: one, or all concurrent siblings. */
  values: Buffer[];
  /** True when `values` holds concurrent siblings nobody resolved. */
  conflict: boolean;
  /** Causal context for the next write of this key (X-Ringkv-Context). */
  context: string;
  /** Absolute expiry, Unix ms; 0 = none. */
  expiresAtMs: number;
}

export interface WriteOptions {
  w?: Consistency;
  ttlMs?: number;
  /** Context from a read: the write supersedes what that read saw. */
  context?: string;
  /** Refuse (ERR_CONDITION_FAILED) unless this context is still current. */
  ifMatch?: string;
  /** Create only: refuse if the key holds a value. */
  ifNoneMatch?: boolean;
  /** Strict quorum (only preference-list replicas count toward W). */
  strict?: boolean;
  /** Plain Redis SET semantics: supersede what the coordinating replica holds. */
  overwrite?: boolean;
  timeoutMs?: number;
}

export interface BatchWriteItem {
  key: KeyInput;
  /** A value, or null to delete. */
  value: Buffer | string | null;
  ttlMs?: number;
  context?: string;
}

export interface BatchWriteResult {
  key: Buffer;
  ok: boolean;
  error?: RingkvClientError;
}

const HEADER_CONTEXT = 'x-ringkv-context';
const HEADER_COORDINATOR = 'x-ringkv-coordinator';
const HEADER_EPOCH = 'x-ringkv-ring-epoch';
const HEADER_EXPIRES_AT = 'x-ringkv-expires-at-ms';
const BATCH_KEYS_MAX = 1000;

interface Target {
  readonly url: string;
  readonly nodeId: string | undefined;
}

function toBytes(key: KeyInput): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
}

/** Percent-encodes every byte outside the unreserved set. */
export function encodeKeyPath(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    const unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
    out += unreserved ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function normalizeSeed(seed: string): string {
  const s = seed.includes('://') ? seed : `http://${seed}`;
  const u = new URL(s);
  if (u.protocol !== 'http:') throw new TypeError(`seed ${seed}: only http is supported`);
  return `${u.protocol}//${u.host}`;
}

function header(a: HttpAnswer, name: string): string | undefined {
  const v = a.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The registry error in an answer's JSON body, as a client error. */
export function answerError(a: HttpAnswer, node: string): RingkvClientError {
  let code: string = CLIENT_CODES.badResponse;
  let message = `HTTP ${a.status} from ${node}`;
  let retryable = false;
  try {
    const e = (JSON.parse(a.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown; retryable?: unknown } }).error;
    if (e !== undefined && typeof e.code === 'string') {
      code = e.code;
      message = typeof e.message === 'string' ? e.message : message;
      retryable = e.retryable === true;
    }
  } catch {
    // not JSON: keep the generic error
  }
  if (code === 'ERR_MAYBE_APPLIED') return new MaybeAppliedError(message, { status: a.status, node });
  return new RingkvClientError(code, message, { status: a.status, retryable, node });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class RingkvClient {
  private readonly seeds: readonly string[];
  private readonly transport: Transport;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private ringSnapshot: RingSnapshot | null = null;
  private standalone = false;
  private refreshing: Promise<void> | null = null;
  private ready: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout | undefined;
  /** Nodes that failed recently, tried last until this time (ms). */
  private readonly avoidUntil = new Map<string, number>();
  private seedTurn = 0;

  constructor(private readonly options: ClientOptions) {
    if (options.seeds.length === 0) throw new TypeError('RingkvClient: at least one seed is needed');
    this.seeds = options.seeds.map(normalizeSeed);
    this.transport = new Transport(options.maxSocketsPerNode ?? 32);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retries = options.retries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 50;
    const every = options.ringRefreshMs ?? 30_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        this.refreshRing().catch(() => undefined);
      }, every);
      this.timer.unref();
    }
  }

  /** Learns the ring from the seeds (done lazily by the first request otherwise). */
  async connect(): Promise<this> {
    await this.ensureReady();
    return this;
  }

  /** The ring the client routes with; null against a standalone node or before connect. */
  ring(): RingSnapshot | null {
    return this.ringSnapshot;
  }

  get mode(): 'cluster' | 'standalone' | 'unknown' {
    return this.ringSnapshot !== null ? 'cluster' : this.standalone ? 'standalone' : 'unknown';
  }

  /** The replicas of a key's slot in the client's ring (empty when standalone). */
  replicasOf(key: KeyInput): { slot: number; replicas: readonly string[] } | null {
    const ring = this.ringSnapshot;
    return ring === null ? null : replicasFor(ring, toBytes(key).toString('latin1'));
  }

  /** Fetches the ring again (single flight). */
  refreshRing(): Promise<void> {
    this.refreshing ??= this.fetchRing().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private ensureReady(): Promise<void> {
    this.ready ??= this.refreshRing().catch((e: unknown) => {
      this.ready = null;
      throw e;
    });
    return this.ready;
  }

  private async fetchRing(): Promise<void> {
    const known = this.ringSnapshot === null ? [] : [...this.ringSnapshot.urls.values()];
    const candidates = [...new Set([...known, ...this.seeds])];
    let last: unknown;
    for (const url of candidates) {
      try {
        const a = await this.transport.send(url, { method: 'GET', path: '/v1/cluster/ring', timeoutMs: this.timeoutMs });
        if (a.status === 200) {
          this.ringSnapshot = parseRing(JSON.parse(a.body.toString('utf8')) as unknown);
          this.standalone = false;
          return;
        }
        const err = answerError(a, url);
        if (a.status === 404 && err.code === 'ERR_NOT_FOUND') {
          // A standalone node: no ring, every request goes to the seeds.
          this.ringSnapshot = null;
          this.standalone = true;
          return;
        }
        last = err;
      } catch (e) {
        last = e;
      }
    }
    const why = last instanceof Error ? `: ${last.message}` : '';
    throw new RingkvClientError(CLIENT_CODES.noSeeds, `no node answered the ring request (${candidates.join(', ')})${why}`, {
      retryable: true, cause: last,
    });
  }

  /** Replicas of the key's slot with a known address (recently failed ones last), else the seeds. */
  private targets(latin1Key: string | null): { targets: Target[]; slot: number | undefined } {
    const ring = this.ringSnapshot;
    const now = Date.now();
    const avoid = (t: Target): boolean => (this.avoidUntil.get(t.url) ?? 0) > now;
    if (ring !== null) {
      let slot: number | undefined;
      let ids: readonly string[];
      if (latin1Key !== null) {
        const r = replicasFor(ring, latin1Key);
        slot = r.slot;
        ids = r.replicas;
      } else {
        ids = [...ring.urls.keys()];
      }
      const ts = ids.flatMap((id) => {
        const url = ring.urls.get(id);
        return url === undefined ? [] : [{ url, nodeId: id }];
      });
      if (ts.length > 0) return { targets: [...ts.filter((t) => !avoid(t)), ...ts.filter(avoid)], slot };
    }
    const turn = this.seedTurn++;
    const ts = this.seeds.map((_, i) => ({ url: this.seeds[(turn + i) % this.seeds.length]!, nodeId: undefined }));
    return { targets: [...ts.filter((t) => !avoid(t)), ...ts.filter(avoid)], slot: undefined };
  }

  /**
   * Sends one request to a replica of `latin1Key`'s slot (any node when null), retrying what is
   * retryable. Answers with status < 400, and 404 when `allow404`, are returned; others throw.
   */
  private async exec(kind: 'read' | 'write', latin1Key: string | null, call: HttpCall, allow404 = false): Promise<HttpAnswer> {
    await this.ensureReady();
    let attempt = 0;
    for (;;) {
      const { targets, slot } = this.targets(latin1Key);
      const target = targets[attempt % targets.length]!;
      let answer: HttpAnswer;
      try {
        answer = await this.transport.send(target.url, call);
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        this.avoidUntil.set(target.url, Date.now() + 1000);
        this.refreshRing().catch(() => undefined);
        if (e.sent && kind === 'write') {
          throw new MaybeAppliedError(`${e.message}: the write may have happened`, { node: target.url, cause: e });
        }
        if (attempt < this.retries) {
          await sleep(this.retryDelayMs * 2 ** attempt);
          attempt++;
          continue;
        }
        throw e;
      }
      this.options.onRequest?.({
        method: call.method, path: call.path, url: target.url, nodeId: target.nodeId, slot,
        coordinator: header(answer, HEADER_COORDINATOR), status: answer.status,
      });
      const epoch = Number(header(answer, HEADER_EPOCH));
      if (Number.isFinite(epoch) && this.ringSnapshot !== null && epoch > this.ringSnapshot.epoch) {
        this.refreshRing().catch(() => undefined);
      }
      if (answer.status < 400) return answer;
      const err = answerError(answer, target.url);
      if (answer.status === 404 && allow404 && err.code === 'ERR_NO_SUCH_KEY') return answer;
      if (err.retryable && attempt < this.retries) {
        await sleep(this.retryDelayMs * 2 ** attempt);
        attempt++;
        continue;
      }
      throw err;
    }
  }

  /** Reads a key: null when absent. Siblings go through the resolver when there is one. */
  async get(key: KeyInput, opts: ReadOptions = {}): Promise<ReadValue | null> {
    const bytes = toBytes(key);
    const q = opts.r === undefined ? '' : `?r=${encodeURIComponent(String(opts.r))}`;
    // A single value comes back raw (no base64); siblings come back as JSON (300).
    const a = await this.exec('read', bytes.toString('latin1'), {
      method: 'GET', path: `/v1/kv/${encodeKeyPath(bytes)}${q}`, timeoutMs: opts.timeoutMs ?? this.timeoutMs,
    }, true);
    if (a.status === 404) return null;
    if (a.status === 200) {
      const expires = Number(header(a, HEADER_EXPIRES_AT) ?? 0);
      return { value: a.body, values: [a.body], conflict: false, context: header(a, HEADER_CONTEXT) ?? '', expiresAtMs: Number.isFinite(expires) ? expires : 0 };
    }
    const body = JSON.parse(a.body.toString('utf8')) as { context: string; values: { value: string; expires_at_ms: number }[] };
    const values = body.values.map((v) => Buffer.from(v.value, 'base64'));
    const first = body.values[0];
    if (first === undefined) return null;
    const read: ReadValue = { value: values[0]!, values, conflict: values.length > 1, context: body.context, expiresAtMs: first.expires_at_ms };
    if (!read.conflict) return read;
    const resolver = opts.resolve === false ? undefined : opts.resolve ?? this.options.resolveSiblings;
    if (resolver === undefined) return read;
    const merged = await resolver(values, bytes);
    await this.put(bytes, merged, { context: body.context });
    // Read back once so the caller holds the context of the resolved value.
    const after = await this.get(bytes, { ...opts, resolve: false });
    return after ?? { ...read, value: Buffer.from(merged), values: [Buffer.from(merged)], conflict: false };
  }

  async put(key: KeyInput, value: Buffer | string, opts: WriteOptions = {}): Promise<void> {
    const bytes = toBytes(key);
    await this.exec('write', bytes.toString('latin1'), {
      method: 'PUT',
      path: `/v1/kv/${encodeKeyPath(bytes)}${writeQuery(opts)}`,
      headers: { 'content-type': 'application/octet-stream', ...writeHeaders(opts) },
      body: typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
    });
  }

  async delete(key: KeyInput, opts: Omit<WriteOptions, 'ttlMs' | 'ifNoneMatch'> = {}): Promise<void> {
    const bytes = toBytes(key);
    await this.exec('write', bytes.toString('latin1'), {
      method: 'DELETE', path: `/v1/kv/${encodeKeyPath(bytes)}${writeQuery(opts)}`, headers: writeHeaders(opts), timeoutMs: opts.timeoutMs ?? this.timeoutMs,
    });
  }

  /**
   * Reads many keys: grouped by the replica they route to, one batch request per node, so each
   * key is still read one hop from a replica. Siblings are returned unresolved (conflict: true).
   */
  async getMany(keys: readonly KeyInput[], opts: { r?: Consistency; timeoutMs?: number } = {}): Promise<(ReadValue | null)[]> {
    const out = new Array<ReadValue | null>(keys.length).fill(null);
    await this.grouped(keys.map(toBytes), async (idx, texts, keyLatin1) => {
      const a = await this.exec('read', keyLatin1, {
        method: 'POST', path: '/v1/batch/get', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ keys: texts, ...(opts.r !== undefined ? { r: opts.r } : {}) }), timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      });
      const res = (JSON.parse(a.body.toString('utf8')) as { results: { found: boolean; context?: string; values?: { value: string; expires_at_ms: number }[]; error?: { code: string; message: string; retryable: boolean } }[] }).results;
      res.forEach((r, j) => {
        if (r.error !== undefined) throw new RingkvClientError(r.error.code, r.error.message, { retryable: r.error.retryable });
        const vals = (r.values ?? []).map((v) => Buffer.from(v.value, 'base64'));
        out[idx[j]!] = r.found && vals.length > 0
          ? { value: vals[0]!, values: vals, conflict: vals.length > 1, context: r.context ?? '', expiresAtMs: r.values?.[0]?.expires_at_ms ?? 0 }
          : null;
      });
    });
    return out;
  }

  /** Writes (or deletes, value null) many keys, one batch per routed node; per-item results. */
  async putMany(items: readonly BatchWriteItem[], opts: { w?: Consistency; timeoutMs?: number } = {}): Promise<BatchWriteResult[]> {
    const keys = items.map((i) => toBytes(i.key));
    const out: BatchWriteResult[] = keys.map((key) => ({ key, ok: false }));
    await this.grouped(keys, async (idx, texts, keyLatin1) => {
      const payload = idx.map((i, j) => {
        const it = items[i]!;
        const base = { key: texts[j]!, ...(it.context !== undefined ? { context: it.context } : {}), ...(it.ttlMs !== undefined ? { ttl_ms: it.ttlMs } : {}) };
        if (it.value === null) return { ...base, delete: true };
        return { ...base, value: (typeof it.value === 'string' ? Buffer.from(it.value, 'utf8') : it.value).toString('base64') };
      });
      const a = await this.exec('write', keyLatin1, {
        method: 'POST', path: '/v1/batch/put', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ items: payload, ...(opts.w !== undefined ? { w: opts.w } : {}) }), timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      });
      const res = (JSON.parse(a.body.toString('utf8')) as { results: { ok: boolean; error?: { code: string; message: string; retryable: boolean } }[] }).results;
      res.forEach((r, j) => {
        const i = idx[j]!;
        out[i] = r.ok ? { key: keys[i]!, ok: true } : {
          key: keys[i]!, ok: false,
          error: r.error === undefined ? new RingkvClientError(CLIENT_CODES.badResponse, 'item failed')
            : r.error.code === 'ERR_MAYBE_APPLIED' ? new MaybeAppliedError(r.error.message)
              : new RingkvClientError(r.error.code, r.error.message, { retryable: r.error.retryable }),
        };
      });
    });
    return out;
  }

  /** Groups keys by the node they route to (batches of at most 1000) and runs `fn` per group. */
  private async grouped(keys: Buffer[], fn: (idx: number[], texts: string[], routeKey: string) => Promise<void>): Promise<void> {
    await this.ensureReady();
    for (const k of keys) {
      const text = k.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(k)) throw new TypeError('batch keys must be valid UTF-8 (use get/put for binary keys)');
    }
    const groups = new Map<string, { idx: number[]; routeKey: string }>();
    keys.forEach((k, i) => {
      const latin1 = k.toString('latin1');
      const t = this.targets(latin1).targets[0];
      const id = t?.url ?? '';
      let g = groups.get(id);
      if (g !== undefined && g.idx.length >= BATCH_KEYS_MAX) {
        // Full: park it under a unique name and start a new batch for this node.
        groups.set(`${id}#${i}`, g);
        g = undefined;
      }
      if (g === undefined) {
        g = { idx: [], routeKey: latin1 };
        groups.set(id, g);
      }
      g.idx.push(i);
    });
    await Promise.all([...groups.values()].map((g) => fn(g.idx, g.idx.map((i) => keys[i]!.toString('utf8')), g.routeKey)));
  }

  /** Every key (as UTF-8 text), a page at a time. */
  async *keys(opts: { match?: string; pageSize?: number } = {}): AsyncGenerator<string> {
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams();
      q.set('limit', String(opts.pageSize ?? 500));
      if (opts.match !== undefined) q.set('match', opts.match);
      if (cursor !== null) q.set('cursor', cursor);
      const a = await this.exec('read', null, { method: 'GET', path: `/v1/keys?${q.toString()}`, timeoutMs: this.timeoutMs });
      const page = JSON.parse(a.body.toString('utf8')) as { keys: string[]; cursor: string | null };
      yield* page.keys;
      cursor = page.cursor;
    } while (cursor !== null);
  }

  /** GET/POST a JSON route on one node (a base URL, or any node when undefined): status and ops tools. */
  async call<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown, node?: string): Promise<T> {
    const send: HttpCall = {
      method, path, timeoutMs: this.timeoutMs,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    };
    let a: HttpAnswer;
    if (node !== undefined) {
      const url = normalizeSeed(node);
      a = await this.transport.send(url, send);
      if (a.status >= 400) throw answerError(a, url);
    } else {
      a = await this.exec(method === 'GET' ? 'read' : 'write', null, send);
    }
    return JSON.parse(a.body.toString('utf8')) as T;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.transport.close();
  }
}

function writeQuery(opts: WriteOptions): string {
  const q = new URLSearchParams();
  if (opts.w !== undefined) q.set('w', String(opts.w));
  if (opts.ttlMs !== undefined) q.set('ttl_ms', String(opts.ttlMs));
  if (opts.strict !== undefined) q.set('strict', String(opts.strict));
  if (opts.overwrite !== undefined) q.set('overwrite', String(opts.overwrite));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

function writeHeaders(opts: WriteOptions): Record<string, string> {
  const h: Record<string, string> = {};
  if (opts.context !== undefined && opts.context !== '') h[HEADER_CONTEXT] = opts.context;
  if (opts.ifMatch !== undefined) h['if-match'] = `"${opts.ifMatch}"`;
  if (opts.ifNoneMatch === true) h['if-none-match'] = '*';
  return h;
}
