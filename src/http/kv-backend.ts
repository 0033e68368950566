/**
 * What /v1/kv and /v1/batch need from the data layer, served two ways:
 *
 * - ClusterBackend (cluster mode) runs each request through ClusterNode.execute, so reads see
 *   every concurrent sibling and writes carry the client's causal context (dotted version
 *   vectors). A write with a context supersedes exactly the versions that context saw; one
 *   without a context either overwrites (`overwrite`: what the coordinating replica holds, a
 *   plain Redis SET) or is a blind write that adds a sibling.
 * - StandaloneBackend (no cluster.nodeId) runs over the node's KvStore: one version per key,
 *   never siblings. Its context is a digest of the stored version (value and expiry), so the
 *   same conditional-write headers work; a causal context sent with a write is checked for form
 *   and otherwise ignored.
 *
 * Conditional writes: `ifMatch` (a context that must still be current) and `ifNoneMatch`
 * (create only) refuse with ERR_CONDITION_FAILED (412). Standalone checks and writes under the
 * key's turn (atomic). In a cluster the check is a quorum read followed by a write carrying the
 * checked context: not linearizable, but a writer that slips in between ends up as a sibling of
 * this write, never silently overwritten.
 *
 * Keys are latin1 strings (one char per byte), the same form RESP uses, so HTTP and Redis
 * clients address the same keys.
 */
import { createHash } from 'node:crypto';
import type { ClusterNode } from '../cluster/api.js';
import type { Consistency, KvOp, KvResult, ValueVersion } from '../core/messages.js';
import { SLOT_COUNT } from '../core/ring/index.js';
import type { NodeId, Slot } from '../core/types.js';
import { decodeContextToken, type VersionVector } from '../core/versioning/index.js';
import { globMatch, isMatchAll } from '../data/glob-match.js';
import type { KvEntry, KvStore } from '../data/kv-store.js';
import { RingkvError } from '../errors/index.js';

export interface ReadResult {
  /** Live values: one, or every concurrent sibling; empty = not found. */
  readonly values: readonly ValueVersion[];
  /** Opaque token for the next write; empty when the backend has nothing to say (absent key, standalone). */
  readonly context: Buffer;
}

export interface KvWrite {
  readonly key: string;
  /** null = delete. */
  readonly value: Buffer | null;
  /** Absolute expiry, Unix ms; 0 = none. */
  readonly expiresAtMs: number;
  /** Causal context from a previous read (resolves the siblings it saw); null = blind write. */
  readonly context: Buffer | null;
  /** Refuse (412) unless the key's current context equals this one. */
  readonly ifMatch: Buffer | null;
  /** Refuse (412) if the key holds a live value (create only). */
  readonly ifNoneMatch: boolean;
  readonly w?: Consistency | undefined;
  readonly strict?: boolean | undefined;
  readonly overwrite?: boolean | undefined;
}

export interface KeysPage {
  readonly keys: string[];
  readonly cursor: string | null;
}

export interface KvBackend {
  readonly mode: 'standalone' | 'cluster';
  get(key: string, r?: Consistency): Promise<ReadResult>;
  write(w: KvWrite): Promise<void>;
  listKeys(cursor: string | null, limit: number, match: string | undefined): Promise<KeysPage>;
}

const EMPTY = Buffer.alloc(0);

function conditionFailed(key: string, why: string): RingkvError {
  return new RingkvError('ERR_CONDITION_FAILED', `condition failed for ${JSON.stringify(key)}: ${why}`);
}

// ---------------------------------------------------------------------------------------------
// Standalone
// ---------------------------------------------------------------------------------------------

/** The standalone context: 16 bytes of SHA-256 over the expiry and the value. */
export function versionDigest(entry: KvEntry): Buffer {
  const h = createHash('sha256');
  const head = Buffer.allocUnsafe(8);
  head.writeDoubleBE(entry.expiresAtMs, 0);
  h.update(head);
  h.update(entry.value);
  return h.digest().subarray(0, 16);
}

export class StandaloneBackend implements KvBackend {
  readonly mode = 'standalone' as const;

  constructor(private readonly store: KvStore) {}

  async get(key: string): Promise<ReadResult> {
    const entry = await this.store.get(key);
    if (entry === undefined) return { values: [], context: EMPTY };
    return { values: [{ value: entry.value, expiresAtMs: entry.expiresAtMs }], context: versionDigest(entry) };
  }

  async write(w: KvWrite): Promise<void> {
    const { key, value } = w;
    if (w.ifMatch !== null) {
      const expected = w.ifMatch;
      await this.store.update(key, (current) => {
        if (current === undefined) throw conditionFailed(key, 'the key does not exist');
        if (!versionDigest(current).equals(expected)) throw conditionFailed(key, 'the key changed since the context was read');
        return {
          write: value === null ? { kind: 'delete' } : { kind: 'put', value, expiresAtMs: w.expiresAtMs },
          result: undefined,
        };
      });
      return;
    }
    if (value === null) {
      if (w.ifNoneMatch) {
        // Delete-if-absent is a no-op that succeeds only when nothing is there.
        const exists = await this.store.exists([key]);
        if (exists > 0) throw conditionFailed(key, 'the key exists');
        return;
      }
      await this.store.delete([key]);
      return;
    }
    const expiry = w.expiresAtMs === 0 ? ({ kind: 'none' } as const) : ({ kind: 'at', atMs: w.expiresAtMs } as const);
    const r = await this.store.put(key, value, w.ifNoneMatch ? { expiry, condition: 'nx' } : { expiry });
    if (!r.written) throw conditionFailed(key, 'the key exists');
  }

  /** Cursors are the KvStore's SCAN cursors ('0' = start); null once the scan is complete. */
  async listKeys(cursor: string | null, limit: number, match: string | undefined): Promise<KeysPage> {
    const page = await this.store.scan(cursor ?? '0', limit);
    const keys = match === undefined || isMatchAll(match) ? page.keys : page.keys.filter((k) => globMatch(match, k));
    return { keys, cursor: page.cursor === '0' ? null : page.cursor };
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------

function vvEqual(a: VersionVector, b: VersionVector): boolean {
  if (a.length !== b.length) return false;
  const m = new Map<string, number>();
  for (const e of a) m.set(e.node, e.counter);
  for (const e of b) if (m.get(e.node) !== e.counter) return false;
  return true;
}

function throwIfError(r: KvResult): void {
  if (r.kind === 'error') throw new RingkvError(r.code, r.message);
}

interface ClusterCursor {
  /** Index into the member list (sorted ids) of the node being listed. */
  readonly i: number;
  /** That node's opaque page cursor (LocalKeysPage.next), null = from its start. */
  readonly a: string | null;
}

function encodeCursor(c: ClusterCursor): string {
  return Buffer.from(JSON.stringify([c.i, c.a === null ? null : Buffer.from(c.a, 'latin1').toString('base64')])).toString('base64url');
}

function decodeCursor(text: string): ClusterCursor {
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && (v[0] as number) >= 0) {
      const a = v[1];
      if (a === null) return { i: v[0] as number, a: null };
      if (typeof a === 'string') return { i: v[0] as number, a: Buffer.from(a, 'base64').toString('latin1') };
    }
  } catch {
    // fall through
  }
  throw new RingkvError('ERR_INVALID_ARGUMENT', 'invalid cursor');
}

export class ClusterBackend implements KvBackend {
  readonly mode = 'cluster' as const;

  constructor(private readonly node: ClusterNode) {}

  async get(key: string, r?: Consistency): Promise<ReadResult> {
    const op: KvOp = r === undefined ? { kind: 'get', key } : { kind: 'get', key, readQuorum: r };
    const res = await this.node.execute(op);
    throwIfError(res);
    if (res.kind !== 'values') throw new RingkvError('ERR_INTERNAL', 'unexpected reply to a read');
    return { values: res.values, context: res.context };
  }

  async write(w: KvWrite): Promise<void> {
    let context = w.context;
    if (w.ifMatch !== null || w.ifNoneMatch) {
      // Check at the write's level so "current" means what a quorum of replicas holds.
      const current = await this.get(w.key, w.w);
      if (w.ifMatch !== null) {
        const want = decodeContextToken(w.ifMatch).context;
        const have = current.context.length === 0 ? [] : decodeContextToken(current.context).context;
        if (!vvEqual(want, have)) throw conditionFailed(w.key, 'the key changed since the context was read');
        context = w.ifMatch;
      } else {
        if (current.values.length > 0) throw conditionFailed(w.key, 'the key exists');
        // Supersede tombstones and expired versions the read saw, nothing else.
        context = current.context.length === 0 ? null : current.context;
      }
    }
    const base = {
      key: w.key,
      context,
      ...(w.w !== undefined ? { writeQuorum: w.w } : {}),
      ...(w.strict !== undefined ? { strict: w.strict } : {}),
      ...(w.overwrite === true ? { overwrite: true } : {}),
    };
    const op: KvOp = w.value === null
      ? { kind: 'delete', ...base }
      : { kind: 'put', ...base, value: w.value, expiresAtMs: w.expiresAtMs };
    throwIfError(await this.node.execute(op));
  }

  /**
   * Lists each key once: member i lists the slots where it is the first replica not marked
   * down, so a key comes from one node even though N hold it. The order is member by member,
   * keys ascending within a member. A ring change during the listing may repeat or skip keys
   * of moved slots (as Redis SCAN may during a rehash).
   */
  async listKeys(cursor: string | null, limit: number, match: string | undefined): Promise<KeysPage> {
    const ring = this.node.ring().current;
    const ids = ring.members.map((m) => m.id);
    let pos: ClusterCursor = cursor === null ? { i: 0, a: null } : decodeCursor(cursor);
    const keys: string[] = [];
    while (pos.i < ids.length && keys.length < limit) {
      const id = ids[pos.i] as NodeId;
      const slots = this.slotsListedBy(id);
      if (slots.length === 0) {
        pos = { i: pos.i + 1, a: null };
        continue;
      }
      const reply = await this.node.request(id, {
        kind: 'local_keys',
        slots,
        after: pos.a,
        limit: limit - keys.length,
        ...(match !== undefined && !isMatchAll(match) ? { pattern: match } : {}),
      });
      if (reply.kind !== 'local_keys') throw new RingkvError('ERR_INTERNAL', 'unexpected reply to a key listing');
      keys.push(...reply.page.keys);
      pos = reply.page.next === null ? { i: pos.i + 1, a: null } : { i: pos.i, a: reply.page.next };
    }
    return { keys, cursor: pos.i >= ids.length ? null : encodeCursor(pos) };
  }

  private slotsListedBy(id: NodeId): Slot[] {
    const owners = this.node.ring().current.owners;
    const out: Slot[] = [];
    for (let s = 0; s < SLOT_COUNT; s++) {
      const list = owners[s] ?? [];
      const first = list.find((n) => !this.node.isDown(n)) ?? list[0];
      if (first === id) out.push(s);
    }
    return out;
  }
}
