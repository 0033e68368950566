/**
 * ClusterKvStore: the KvStore of cluster mode. Every operation goes through the core's
 * coordinator (ClusterNode.execute), so any node answers for any key; fan-out commands (SCAN,
 * DBSIZE, RANDOMKEY, FLUSHALL) ask nodes for their own records with ClusterNode.request.
 *
 * Levels: a per-call option wins, else the connection's (CONSISTENCY, through the view that
 * `withConsistency` makes), else the node's defaults (config cluster.readConsistency /
 * writeConsistency).
 *
 * Semantics and atomicity (each rule is what the command layer documents to users):
 * - get: with several siblings a plain read returns the LAST live sibling in the record's order
 *   (siblings are sorted by dot: coordinating node id, then its counter), the same on every node;
 *   GETCTX (getVersions) returns them all.
 * - put / delete without conditions: overwrite writes (plain Redis SET/DEL: they supersede every
 *   version the coordinating replica holds).
 * - put with NX/XX/GET/KEEPTTL and `update` (INCR, APPEND, SETRANGE, ...): read with context,
 *   decide, write with that context. Updates of one key through the SAME node are serialised
 *   (a per-key queue), so they never interleave. Across nodes they are optimistic: after the
 *   write a read checks for concurrent siblings; the writer whose value is not the deterministic
 *   pick re-runs its decision on the pick and writes with the merged context (at most
 *   UPDATE_ATTEMPTS_MAX times), which composes two concurrent updates (APPEND a / APPEND b ->
 *   "ab"). Two concurrent updates that wrote identical bytes (INCR from the same base) cannot
 *   be told apart and one increment is lost. Once a write of an update happened, a failure of
 *   the check or of a resolution write answers the applied result (never "did not happen").
 *   Per key, never linearizable, and under partitions both sides may accept conflicting
 *   updates (siblings).
 * - getMany / putMany / delete(keys) / exists: one operation per key, concurrently (at most
 *   FAN_OUT_MAX in flight); MSET is not atomic (a failure may leave some keys written).
 * - updateMany (RENAME, COPY, MSETNX): reads every key with its context, decides, then writes
 *   puts before deletes (RENAME never loses the value: a failure can leave it under both
 *   names). Not atomic across keys, even when they share a slot.
 * - scan / count / randomKey: each slot counted once, at the first live owner of its preference
 *   list (slots grouped by node). A SCAN cursor names (node position, node cursor) through a
 *   bounded table; a node going down mid-scan can make it miss or repeat keys.
 * - flush: every ring member drops its records (not a versioned delete): a member that is down
 *   meanwhile keeps its copies, and anti-entropy or hints may bring them back.
 *
 * Errors: a KvResult error becomes a RingkvError with the same code. For multi-key writes the
 * first failure is reported; if other keys were written, the code is ERR_MAYBE_APPLIED unless
 * the failure already says the write may have happened.
 */
import { createHash } from 'node:crypto';
import type { ClusterNode, LocalReply, LocalRequest } from '../api.js';
import type { Config } from '../../config/schema.js';
import type { Consistency, KvOp, KvResult, ValueVersion } from '../../core/messages.js';
import { SLOT_COUNT } from '../../core/ring/index.js';
import type { NodeId, Slot } from '../../core/types.js';
import {
  putManyExpiry, type ConsistencyLevel, type ConsistencyScope, type Key, type KeyWrite, type KvEntry, type KvStats, type KvStore,
  type PutResult, type ReadOptions, type ScanPage, type UpdateDecision, type UpdateManyDecision, type WriteOptions,
} from '../../data/kv-store.js';
import { RingkvError } from '../../errors/index.js';
import { mapLimit } from '../../util/map-limit.js';

/** Operations in flight for one multi-key command (MGET, MSET, DEL k1 k2 ...). */
export const FAN_OUT_MAX = 64;
/** Attempts of one update when a concurrent update through another node is detected. */
export const UPDATE_ATTEMPTS_MAX = 4;
const RANDOM_KEY_TRIES = 4;
/** Node requests one SCAN call may make before it answers (possibly an empty page). */
const SCAN_REQUESTS_PER_CALL_MAX = 8;
/** Largest local_keys page asked of a node (hosts refuse larger ones). */
export const LOCAL_KEYS_PAGE_MAX = 10_000;

export interface ClusterKvStoreOptions {
  /** Wall clock, Unix ms (expiry arithmetic); default Date.now. */
  now?: () => number;
  /** Sleep between update attempts (tests make it instant); default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** A key's versions as the coordinator returned them (GETCTX). */
export interface KeyVersions {
  /** Live siblings in the record's order; empty = absent. */
  values: KvEntry[];
  /** Opaque causal context to hand back with a write. */
  context: Buffer;
}

/** The causal (sibling-aware) operations of cluster mode, beyond the KvStore interface. */
export interface CausalKvStore {
  getVersions(key: Key, options?: ReadOptions): Promise<KeyVersions>;
  /** `context` null = a blind write (adds a sibling). `expiresAtMs` 0 = never. */
  putWithContext(key: Key, value: Buffer, context: Buffer | null, expiresAtMs: number, options?: WriteOptions): Promise<void>;
  deleteWithContext(key: Key, context: Buffer | null, options?: WriteOptions): Promise<void>;
}

/** State shared by a store and its per-connection views. */
interface Shared {
  readonly node: ClusterNode;
  readonly config: Config;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** Per-key tails of updates started on this node (serialises INCR & co. per key). */
  readonly tails: Map<string, Promise<unknown>>;
  readonly cursors: ClusterScanCursors;
  /** Last cluster-wide count (INFO keyspace reads stats() synchronously). */
  lastCount: number;
}

const NO_SCOPE: ConsistencyScope = Object.freeze({});

export class ClusterKvStore implements KvStore, CausalKvStore {
  private readonly shared: Shared;
  private readonly scope: ConsistencyScope;

  constructor(node: ClusterNode, config: Config, options?: ClusterKvStoreOptions);
  constructor(shared: Shared, scope: ConsistencyScope);
  constructor(a: ClusterNode | Shared, b: Config | ConsistencyScope, options: ClusterKvStoreOptions = {}) {
    if (isShared(a)) {
      this.shared = a;
      this.scope = b as ConsistencyScope;
      return;
    }
    const config = b as Config;
    const now = options.now ?? Date.now;
    this.shared = {
      node: a,
      config,
      now,
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      random: options.random ?? Math.random,
      tails: new Map(),
      cursors: new ClusterScanCursors(config.scanCursorsMax, now()),
      lastCount: 0,
    };
    this.scope = NO_SCOPE;
  }

  /** The cluster node this store coordinates through (CLUSTER commands read the ring from it). */
  get node(): ClusterNode {
    return this.shared.node;
  }

  withConsistency(scope: ConsistencyScope): ClusterKvStore {
    return new ClusterKvStore(this.shared, scope);
  }

  // ---- levels and validation -----------------------------------------------------------------

  private readLevel(options?: ReadOptions): Consistency {
    return options?.consistency ?? this.scope.read ?? this.shared.node.defaults.readConsistency;
  }

  private writeLevel(options?: { consistency?: ConsistencyLevel }): Consistency {
    return options?.consistency ?? this.scope.write ?? this.shared.node.defaults.writeConsistency;
  }

  private checkKey(key: Key): void {
    if (key.length > this.shared.config.maxKeyBytes) {
      throw new RingkvError('ERR_KEY_TOO_LARGE', 'ERR key exceeds maximum allowed size');
    }
  }

  private checkValue(value: Buffer): void {
    if (value.length > this.shared.config.maxValueBytes) {
      throw new RingkvError('ERR_VALUE_TOO_LARGE', 'ERR string exceeds maximum allowed size (proto-max-bulk-len)');
    }
  }

  // ---- single-key primitives over the coordinator --------------------------------------------

  private async read(key: Key, level: Consistency): Promise<KeyVersions> {
    this.checkKey(key);
    const r = await this.shared.node.execute({ kind: 'get', key, readQuorum: level });
    if (r.kind === 'values') return { values: r.values.map(toEntry), context: r.context };
    throw failure(r);
  }

  /** A put (value) or delete (null); `context` 'overwrite' = plain SET/DEL semantics. */
  private async write(key: Key, value: Buffer | null, expiresAtMs: number, context: Buffer | null | 'overwrite', level: Consistency): Promise<void> {
    const overwrite = context === 'overwrite';
    const ctx = overwrite ? null : context;
    let op: KvOp;
    if (value !== null && (expiresAtMs === 0 || expiresAtMs > this.shared.now())) {
      op = { kind: 'put', key, value, expiresAtMs, context: ctx, writeQuorum: level, ...(overwrite ? { overwrite } : {}) };
    } else {
      // A put whose expiry already passed deletes instead (as on a single node).
      op = { kind: 'delete', key, context: ctx, writeQuorum: level, ...(overwrite ? { overwrite } : {}) };
    }
    const r = await this.shared.node.execute(op);
    if (r.kind !== 'written') throw failure(r);
  }

  /** Runs `task` after every update of `key` started earlier on this node. */
  private serialised<R>(keys: readonly Key[], task: () => Promise<R>): Promise<R> {
    const tails = this.shared.tails;
    const waits: Promise<unknown>[] = [];
    for (const k of keys) {
      const t = tails.get(k);
      if (t !== undefined) waits.push(t);
    }
    if (waits.length === 0 && tails.size >= this.shared.config.busyKeysMax) {
      throw new RingkvError('ERR_OVERLOADED', 'BUSY too many keys with operations in flight');
    }
    const run = waits.length === 0 ? task() : Promise.all(waits).then(task);
    const settled = run.then(noop, noop);
    for (const k of keys) tails.set(k, settled);
    void settled.then(() => {
      for (const k of keys) if (tails.get(k) === settled) tails.delete(k);
    });
    return run;
  }

  // ---- reads ---------------------------------------------------------------------------------

  get(key: Key, options?: ReadOptions): Promise<KvEntry | undefined> {
    // Hot path: one promise, no intermediate arrays.
    this.checkKey(key);
    return this.shared.node.execute({ kind: 'get', key, readQuorum: this.readLevel(options) }).then(pickResult);
  }

  getVersions(key: Key, options?: ReadOptions): Promise<KeyVersions> {
    return this.read(key, this.readLevel(options));
  }

  getMany(keys: readonly Key[], options?: ReadOptions): Promise<(KvEntry | undefined)[]> {
    const level = this.readLevel(options);
    return mapLimit(keys, FAN_OUT_MAX, async (k) => pick((await this.read(k, level)).values));
  }

  async exists(keys: readonly Key[]): Promise<number> {
    let n = 0;
    for (const e of await this.getMany(keys)) if (e !== undefined) n++;
    return n;
  }

  touch(keys: readonly Key[]): Promise<number> {
    return this.exists(keys);
  }

  // ---- writes --------------------------------------------------------------------------------

  async put(key: Key, value: Buffer, options?: WriteOptions): Promise<PutResult> {
    this.checkKey(key);
    this.checkValue(value);
    const expiry = options?.expiry;
    if (options?.condition === undefined && options?.returnPrevious !== true && expiry?.kind !== 'keep') {
      const expiresAtMs = expiry !== undefined && expiry.kind === 'at' ? expiry.atMs : 0;
      await this.write(key, value, expiresAtMs, 'overwrite', this.writeLevel(options));
      return WRITTEN;
    }
    const cond = options?.condition;
    const wantPrevious = options?.returnPrevious === true;
    return this.updateWith(key, (current): UpdateDecision<PutResult> => {
      if ((cond === 'nx' && current !== undefined) || (cond === 'xx' && current === undefined)) {
        return { write: undefined, result: wantPrevious ? { written: false, previous: current } : { written: false } };
      }
      let expiresAtMs = 0;
      if (expiry !== undefined) {
        switch (expiry.kind) {
          case 'none': break;
          case 'keep': expiresAtMs = current?.expiresAtMs ?? 0; break;
          case 'at': expiresAtMs = expiry.atMs; break;
          default: return assertNever(expiry);
        }
      }
      return {
        write: { kind: 'put', value, expiresAtMs },
        result: wantPrevious ? { written: true, previous: current } : { written: true },
      };
    }, this.readLevel(options), this.writeLevel(options));
  }

  putWithContext(key: Key, value: Buffer, context: Buffer | null, expiresAtMs: number, options?: WriteOptions): Promise<void> {
    this.checkKey(key);
    this.checkValue(value);
    return this.write(key, value, expiresAtMs, context, this.writeLevel(options));
  }

  deleteWithContext(key: Key, context: Buffer | null, options?: WriteOptions): Promise<void> {
    this.checkKey(key);
    return this.write(key, null, 0, context, this.writeLevel(options));
  }

  async putMany(entries: readonly (readonly [Key, Buffer])[], options?: WriteOptions): Promise<void> {
    for (const [k, v] of entries) {
      this.checkKey(k);
      this.checkValue(v);
    }
    const expiresAtMs = putManyExpiry(options);
    const level = this.writeLevel(options);
    // MSET k v k v2: the last value wins, as in Redis (and one write per key, not two racing).
    const last = new Map<Key, Buffer>();
    for (const [k, v] of entries) last.set(k, v);
    await settleAll([...last], FAN_OUT_MAX, ([k, v]) => this.write(k, v, expiresAtMs, 'overwrite', level));
  }

  async delete(keys: readonly Key[], options?: ReadOptions & { consistency?: ConsistencyLevel }): Promise<number> {
    const readLevel = this.readLevel(options);
    const writeLevel = this.writeLevel(options);
    const unique = [...new Set(keys)];
    let removed = 0;
    await settleAll(unique, FAN_OUT_MAX, async (k) => {
      // DEL answers how many existed: read first, delete (overwrite) only what is there.
      const v = await this.read(k, readLevel);
      if (v.values.length === 0) return;
      await this.write(k, null, 0, 'overwrite', writeLevel);
      removed++;
    });
    return removed;
  }

  update<R>(key: Key, fn: (current: KvEntry | undefined) => UpdateDecision<R>, options?: ReadOptions): Promise<R> {
    this.checkKey(key);
    return this.updateWith(key, fn, this.readLevel(options), this.writeLevel(options));
  }

  private updateWith<R>(key: Key, fn: (current: KvEntry | undefined) => UpdateDecision<R>, readLevel: Consistency, writeLevel: Consistency): Promise<R> {
    return this.serialised([key], async () => {
      let state = await this.read(key, readLevel);
      let base = pick(state.values);
      // The result of the last attempt whose write succeeded: once one write happened, a
      // failure of the conflict check or of a resolution write must not report "did not happen".
      let applied: { result: R } | undefined;
      for (let attempt = 1; ; attempt++) {
        try {
          const d = fn(base);
          const w = d.write;
          if (w === undefined) {
            // Nothing to write; after a detected conflict the pick is written back so this
            // writer's own sibling does not survive (SET NX that lost the race).
            if (attempt === 1 || base === undefined) return d.result;
            await this.write(key, base.value, base.expiresAtMs, state.context, writeLevel);
            return d.result;
          }
          if (w.kind === 'put') this.checkValue(w.value);
          const written = w.kind === 'put' ? w : null;
          await this.write(key, written?.value ?? null, written?.expiresAtMs ?? 0, state.context, writeLevel);
          applied = { result: d.result };
          if (attempt >= UPDATE_ATTEMPTS_MAX) return d.result;
          // Conflict check: a concurrent update through another node leaves siblings.
          const after = await this.read(key, readLevel);
          if (after.values.length < 2) return d.result;
          const winner = pick(after.values);
          if (winner !== undefined && written !== null && winner.value.equals(written.value)) return d.result;
          // This write lost the deterministic pick: redo the decision on the winner's value
          // with the merged context, which supersedes both siblings.
          await this.shared.sleep(Math.floor(this.shared.random() * 2 ** attempt));
          state = after;
          base = winner;
        } catch (e) {
          if (applied !== undefined) return applied.result;
          throw e;
        }
      }
    });
  }

  updateMany<R>(keys: readonly Key[], fn: (current: (KvEntry | undefined)[]) => UpdateManyDecision<R>, options?: ReadOptions): Promise<R> {
    for (const k of keys) this.checkKey(k);
    const readLevel = this.readLevel(options);
    const writeLevel = this.writeLevel(options);
    return this.serialised(keys, async () => {
      const states = await mapLimit(keys, FAN_OUT_MAX, (k) => this.read(k, readLevel));
      const d = fn(states.map((s) => pick(s.values)));
      if (d.writes.length !== keys.length) throw new RangeError('updateMany: one write per key expected');
      const puts: [Key, Buffer, number, Buffer][] = [];
      const deletes: [Key, Buffer][] = [];
      // The last decision per key wins (a key named twice is written once).
      const seen = new Set<Key>();
      for (let i = keys.length - 1; i >= 0; i--) {
        const w = d.writes[i];
        const key = keys[i] as Key;
        const st = states[i] as KeyVersions;
        if (w === undefined || seen.has(key)) continue;
        seen.add(key);
        switch (w.kind) {
          case 'put':
            this.checkValue(w.value);
            puts.push([key, w.value, w.expiresAtMs, st.context]);
            break;
          case 'delete':
            deletes.push([key, st.context]);
            break;
          default:
            return assertNever(w);
        }
      }
      // Puts first: RENAME copies before it deletes, so a failure in between keeps the value.
      await settleAll(puts, FAN_OUT_MAX, ([k, v, exp, ctx]) => this.write(k, v, exp, ctx, writeLevel));
      await settleAll(deletes, FAN_OUT_MAX, ([k, ctx]) => this.write(k, null, 0, ctx, writeLevel), puts.length > 0);
      return d.result;
    });
  }

  // ---- fan-out: scan, count, random key, flush ----------------------------------------------

  /** Slots grouped by the node that answers for them: the first live owner of each slot. */
  slotGroups(): Map<NodeId, Slot[]> {
    const node = this.shared.node;
    const ring = node.ring().current;
    const groups = new Map<NodeId, Slot[]>();
    for (let s = 0; s < SLOT_COUNT; s++) {
      const owners = ring.owners[s] ?? [];
      let chosen: NodeId | undefined;
      for (const o of owners) {
        if (!node.isDown(o)) {
          chosen = o;
          break;
        }
      }
      // Every owner is down: ask the first anyway (the request fails with a typed error).
      chosen ??= owners[0];
      if (chosen === undefined) continue;
      let g = groups.get(chosen);
      if (g === undefined) groups.set(chosen, (g = []));
      g.push(s);
    }
    return groups;
  }

  private async ask(to: NodeId, req: LocalRequest): Promise<LocalReply> {
    try {
      return await this.shared.node.request(to, req);
    } catch (e) {
      if (e instanceof RingkvError) throw e;
      throw new RingkvError('ERR_UNAVAILABLE', `UNAVAILABLE node ${to} did not answer`, { cause: e });
    }
  }

  async scan(cursor: string, count: number, pattern?: string): Promise<ScanPage> {
    const limit = Math.max(1, Math.min(Math.floor(count), LOCAL_KEYS_PAGE_MAX));
    let pos = this.shared.cursors.decode(cursor);
    const groups = this.slotGroups();
    const order = [...groups.keys()].sort();
    const keys: Key[] = [];
    const match = pattern === undefined || pattern === '*' ? {} : { pattern };
    // Skip empty pages within one call (a sparse cluster, a selective MATCH), a bounded
    // number of times: past that an empty page with a cursor goes back, as Redis allows.
    for (let asked = 0; pos.nodeIndex < order.length && asked < SCAN_REQUESTS_PER_CALL_MAX; asked++) {
      const id = order[pos.nodeIndex] as NodeId;
      const reply = await this.ask(id, { kind: 'local_keys', slots: groups.get(id) ?? [], after: pos.after, limit, ...match });
      if (reply.kind !== 'local_keys') throw unexpected(reply);
      keys.push(...reply.page.keys);
      pos = reply.page.next === null ? { nodeIndex: pos.nodeIndex + 1, after: null } : { nodeIndex: pos.nodeIndex, after: reply.page.next };
      if (keys.length > 0) break;
    }
    return { cursor: pos.nodeIndex >= order.length ? '0' : this.shared.cursors.encode(pos), keys };
  }

  async count(): Promise<number> {
    const groups = [...this.slotGroups()];
    const counts = await mapLimit(groups, FAN_OUT_MAX, async ([id, slots]) => {
      const r = await this.ask(id, { kind: 'local_count', slots });
      if (r.kind !== 'local_count') throw unexpected(r);
      return r.count;
    });
    const total = counts.reduce((a, b) => a + b, 0);
    this.shared.lastCount = total;
    return total;
  }

  /** Keys in one slot, counted at its first live owner (CLUSTER COUNTKEYSINSLOT). */
  async countInSlot(slot: Slot): Promise<number> {
    const id = this.ownerOf(slot);
    if (id === undefined) return 0;
    const r = await this.ask(id, { kind: 'local_count', slots: [slot] });
    if (r.kind !== 'local_count') throw unexpected(r);
    return r.count;
  }

  /** Up to `limit` keys of one slot (CLUSTER GETKEYSINSLOT). */
  async keysInSlot(slot: Slot, limit: number): Promise<Key[]> {
    const id = this.ownerOf(slot);
    if (id === undefined || limit <= 0) return [];
    const r = await this.ask(id, { kind: 'local_keys', slots: [slot], after: null, limit: Math.min(limit, LOCAL_KEYS_PAGE_MAX) });
    if (r.kind !== 'local_keys') throw unexpected(r);
    return r.page.keys.slice(0, limit);
  }

  private ownerOf(slot: Slot): NodeId | undefined {
    const node = this.shared.node;
    const owners = node.ring().current.owners[slot] ?? [];
    return owners.find((o) => !node.isDown(o)) ?? owners[0];
  }

  async randomKey(): Promise<Key | undefined> {
    const groups = [...this.slotGroups()].filter(([, slots]) => slots.length > 0);
    if (groups.length === 0) return undefined;
    const rnd = this.shared.random;
    const start = Math.floor(rnd() * groups.length);
    for (let i = 0; i < Math.min(groups.length, RANDOM_KEY_TRIES); i++) {
      const [id, slots] = groups[(start + i) % groups.length] as [NodeId, Slot[]];
      // A random starting point in key order, then wrap to the start once.
      const after = String.fromCharCode(Math.floor(rnd() * 256), Math.floor(rnd() * 256));
      for (const from of [after, null]) {
        const r = await this.ask(id, { kind: 'local_keys', slots, after: from, limit: 1 });
        if (r.kind !== 'local_keys') throw unexpected(r);
        const k = r.page.keys[0];
        if (k !== undefined) return k;
      }
    }
    return undefined;
  }

  async flush(): Promise<void> {
    const node = this.shared.node;
    const ring = node.ring();
    const ids = new Set<NodeId>(ring.current.members.map((m) => m.id));
    for (const m of ring.pending?.members ?? []) ids.add(m.id);
    await settleAll([...ids], FAN_OUT_MAX, async (id) => {
      const r = await this.ask(id, { kind: 'local_flush' });
      if (r.kind !== 'local_flush') throw unexpected(r);
    });
    this.shared.lastCount = 0;
  }

  stats(): KvStats {
    // Cluster-wide figures need a fan-out; INFO shows the last DBSIZE's count.
    return { keys: this.shared.lastCount, keysWithExpiry: 0, usedBytes: 0, expiredKeys: 0, evictedKeys: 0 };
  }
}

// ---- SCAN cursors --------------------------------------------------------------------------

export interface ClusterScanPosition {
  /** Index in the sorted ids of the nodes answering for slots. */
  nodeIndex: number;
  /** That node's own cursor (null = from its start). */
  after: string | null;
}

/**
 * Cluster SCAN cursors: unsigned 64-bit decimals (redis-cli parses them as integers) naming a
 * position in a bounded table (oldest dropped first). Ids start from a clock-derived base so a
 * cursor from before a restart does not name another position; unknown ones are refused.
 */
export class ClusterScanCursors {
  private readonly table = new Map<bigint, ClusterScanPosition>();
  private nextId: bigint;

  constructor(private readonly cursorsMax: number, nowMs: number) {
    if (!Number.isSafeInteger(cursorsMax) || cursorsMax < 1) throw new RangeError('cursorsMax must be a positive integer');
    this.nextId = (BigInt(Math.max(0, Math.floor(nowMs))) << 20n) | 1n;
  }

  encode(pos: ClusterScanPosition): string {
    const id = this.nextId++ & ((1n << 64n) - 1n);
    this.table.set(id, { nodeIndex: pos.nodeIndex, after: pos.after });
    if (this.table.size > this.cursorsMax) {
      const oldest = this.table.keys().next();
      if (oldest.done !== true) this.table.delete(oldest.value);
    }
    return id.toString(10);
  }

  decode(cursor: string): ClusterScanPosition {
    if (!/^[0-9]+$/.test(cursor)) throw invalidCursor();
    const n = BigInt(cursor);
    if (n === 0n) return { nodeIndex: 0, after: null };
    const pos = this.table.get(n);
    if (pos === undefined) throw invalidCursor();
    return pos;
  }

  get size(): number {
    return this.table.size;
  }
}

// ---- helpers -------------------------------------------------------------------------------

/** The Redis Cluster node id (40 hex characters) shown for a ring member: sha1 of its id. */
export function clusterHexId(id: string): string {
  return createHash('sha1').update(id, 'utf8').digest('hex');
}

/** The value a plain read returns among siblings: the last live one in the record's order. */
export function pick(values: readonly KvEntry[]): KvEntry | undefined {
  return values.length === 0 ? undefined : values[values.length - 1];
}

const WRITTEN: PutResult = Object.freeze({ written: true }) as PutResult;

function pickResult(r: KvResult): KvEntry | undefined {
  if (r.kind !== 'values') throw failure(r);
  const last = r.values[r.values.length - 1];
  return last === undefined ? undefined : { value: last.value, expiresAtMs: last.expiresAtMs };
}

function toEntry(v: ValueVersion): KvEntry {
  return { value: v.value, expiresAtMs: v.expiresAtMs };
}

function failure(r: KvResult): RingkvError {
  if (r.kind === 'error') return new RingkvError(r.code, r.message);
  return new RingkvError('ERR_INTERNAL', `unexpected coordinator result ${r.kind}`);
}

function unexpected(r: LocalReply): RingkvError {
  return new RingkvError('ERR_INTERNAL', `unexpected fan-out reply ${r.kind}`);
}

function invalidCursor(): RingkvError {
  return new RingkvError('ERR_INVALID_ARGUMENT', 'ERR invalid cursor');
}

function isShared(x: ClusterNode | Shared): x is Shared {
  return 'tails' in x && 'cursors' in x;
}

function noop(): void {}

function assertNever(x: never): never {
  throw new TypeError(`unexpected variant ${JSON.stringify(x)}`);
}

/**
 * Runs every write (at most `limit` at once) even when some fail, then reports the first
 * failure: as ERR_MAYBE_APPLIED when other writes of the same command succeeded (or
 * `earlierWrites` says some already did), since the command then happened in part.
 */
async function settleAll<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, earlierWrites = false): Promise<void> {
  let first: unknown;
  let failed = 0;
  await mapLimit(items, limit, async (item) => {
    try {
      await fn(item);
    } catch (e) {
      failed++;
      first ??= e;
    }
  });
  if (first === undefined) return;
  const partial = earlierWrites || failed < items.length;
  if (partial && first instanceof RingkvError && first.code !== 'ERR_MAYBE_APPLIED' && isWriteFailure(first)) {
    throw new RingkvError('ERR_MAYBE_APPLIED', `MAYBE some keys were written before this failure: ${first.message}`, { cause: first });
  }
  throw first;
}

function isWriteFailure(e: RingkvError): boolean {
  return e.code === 'ERR_UNAVAILABLE' || e.code === 'ERR_TIMEOUT' || e.code === 'ERR_OVERLOADED' || e.code === 'ERR_SHUTTING_DOWN'
    || e.code === 'ERR_TOO_MANY_SIBLINGS';
}
