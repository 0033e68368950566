/**
 * The cluster node's layout inside its storage engine, and the executor of the core's storage
 * effects over it. One engine holds three namespaces, kept apart by a one-byte prefix:
 *
 *   'd' + key                      a user record (the core's versioned record bytes)
 *   'h' + owner + '\0' + key       a hint held for `owner` (node ids never contain '\0')
 *   'm' + name                     node metadata (node id, incarnation, ring, address book)
 *
 * Engine keys are latin1 strings, so byte order = string order and 'd' < 'h' < 'm' keep the
 * ranges disjoint; scans of user records never see hints or metadata.
 *
 * The engine's own TTL is not used (records are stored with expiresAtMs 0): records carry
 * their expiry inside and the core decides liveness. `sync` writes rely on the engine's
 * configured durability (durability fsync = every write synced before it is acknowledged).
 *
 * Every operation answers a StorageResult and never throws: engine errors become `failed`.
 */
import type { StorageOp, StorageResult, StoredHint, StoredRecord as CoreRecord } from '../../core/messages.js';
import { nodeId } from '../../core/types.js';
import type { StorageEngine } from '../../storage/engine.js';
import { isPromise, type MaybePromise } from '../../util/maybe-promise.js';

export const DATA_PREFIX = 'd';
const DATA_END = 'e';
export const HINT_PREFIX = 'h';
const HINT_END = 'i';
export const META_PREFIX = 'm';

/** Names of the metadata records. */
export const META = {
  nodeId: 'node_id',
  incarnation: 'incarnation',
  ring: 'ring',
  addresses: 'addresses',
} as const;
export type MetaName = (typeof META)[keyof typeof META];

const hintKey = (owner: string, key: string): string => `${HINT_PREFIX}${owner}\u0000${key}`;

function failed(e: unknown): StorageResult {
  return { kind: 'failed', message: e instanceof Error ? e.message : String(e) };
}

/** Runs `f` and maps its value or its failure (sync or async) to a StorageResult. */
function guarded<T>(f: () => MaybePromise<T>, ok: (v: T) => StorageResult): MaybePromise<StorageResult> {
  let r: MaybePromise<T>;
  try {
    r = f();
  } catch (e) {
    return failed(e);
  }
  return isPromise(r) ? r.then(ok, failed) : ok(r);
}

export class HostStorage {
  constructor(readonly engine: StorageEngine) {}

  /** Executes one storage effect of the core. */
  execute(op: StorageOp): MaybePromise<StorageResult> {
    const e = this.engine;
    switch (op.kind) {
      case 'read':
        return guarded(() => e.get(DATA_PREFIX + op.key), (r) => ({ kind: 'read', record: r === undefined ? null : r.value }));
      case 'write':
        return guarded(() => {
          e.reserveMemory();
          return e.put(DATA_PREFIX + op.key, { value: op.record, expiresAtMs: 0 });
        }, () => ({ kind: 'written' }));
      case 'hint_put':
        return guarded(() => {
          e.reserveMemory();
          return e.put(hintKey(op.owner, op.key), { value: op.entry, expiresAtMs: 0 });
        }, () => ({ kind: 'written' }));
      case 'hint_delete':
        return guarded(() => e.delete(hintKey(op.owner, op.key)), () => ({ kind: 'written' }));
      case 'hint_scan':
        return this.hintScan().then((hints): StorageResult => ({ kind: 'hints', hints }), failed);
      case 'scan':
        return this.scanPage(op.afterKey, op.limit).then((r): StorageResult => ({ kind: 'records', ...r }), failed);
      case 'purge':
        return guarded(() => this.purge(op.key, op.record), () => ({ kind: 'written' }));
      default: {
        const never: never = op;
        throw new TypeError(`unknown storage op ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Compare-and-delete. Both engines answer get synchronously and apply writes in call order,
   * so nothing can land between the comparison and the delete; an engine that answered get
   * asynchronously would need the key's turn here.
   */
  private purge(key: string, record: Buffer): MaybePromise<unknown> {
    const k = DATA_PREFIX + key;
    const cur = this.engine.get(k);
    const decide = (r: { value: Buffer } | undefined): MaybePromise<unknown> => (r !== undefined && r.value.equals(record) ? this.engine.delete(k) : false);
    return isPromise(cur) ? cur.then(decide) : decide(cur);
  }

  private async hintScan(): Promise<StoredHint[]> {
    const out: StoredHint[] = [];
    for await (const [k, r] of this.engine.scan({ gte: HINT_PREFIX, lt: HINT_END })) {
      const sep = k.indexOf('\u0000', 1);
      if (sep < 0) continue; // not written by this layout
      out.push({ owner: nodeId(k.slice(1, sep)), key: k.slice(sep + 1), entry: r.value });
    }
    return out;
  }

  /** Up to `limit` user records strictly after `afterKey`, ascending; done = none follows. */
  async scanPage(afterKey: string | null, limit: number): Promise<{ records: CoreRecord[]; done: boolean }> {
    // The smallest key above k is k + '\0', so gte that is "strictly after".
    const gte = afterKey === null ? DATA_PREFIX : `${DATA_PREFIX}${afterKey}\u0000`;
    const records: CoreRecord[] = [];
    let more = false;
    for await (const [k, r] of this.engine.scan({ gte, lt: DATA_END, limit: limit + 1 })) {
      if (records.length === limit) {
        more = true;
        break;
      }
      records.push({ key: k.slice(1), record: r.value });
    }
    return { records, done: !more };
  }

  /** Every user record key and bytes, in pages (for local requests). */
  async *records(afterKey: string | null): AsyncIterable<CoreRecord> {
    const gte = afterKey === null ? DATA_PREFIX : `${DATA_PREFIX}${afterKey}\u0000`;
    for await (const [k, r] of this.engine.scan({ gte, lt: DATA_END })) yield { key: k.slice(1), record: r.value };
  }

  deleteRecord(key: string): MaybePromise<boolean> {
    return this.engine.delete(DATA_PREFIX + key);
  }

  async readMeta(name: MetaName): Promise<Buffer | undefined> {
    const r = await this.engine.get(META_PREFIX + name);
    return r?.value;
  }

  async writeMeta(name: MetaName, value: Buffer): Promise<void> {
    await this.engine.put(META_PREFIX + name, { value, expiresAtMs: 0 });
  }
}
