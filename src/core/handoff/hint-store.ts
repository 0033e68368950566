/**
 * Hinted handoff (Dynamo §4.6): the hints a fallback node holds for preference-list owners that
 * were down when a write was coordinated, kept durably and replayed when the owner is back.
 *
 * One hint per (owner, key): a second hinted write for the same pair MERGES into the hint
 * (records are join-semilattices), so the hint count is bounded by distinct pairs and a replay
 * carries everything the owner missed in one message.
 *
 * Lifecycle: accept (merge in memory, persist with a synced `hint_put`, only then ack the
 * coordinator) -> replay (periodically, and at once when membership reports the owner alive:
 * `hint_deliver` to the owner) -> the owner merges, stores with sync and answers `hint_ack` ->
 * the hint is removed (memory, then `hint_delete`) ONLY if it did not change since that
 * delivery was sent; otherwise the newer content is delivered again later.
 * A hint older than `hintWindowMs` (Cassandra's max_hint_window) is dropped and counted as
 * expired; the owner then catches up through read repair (and later anti-entropy).
 *
 * Durability: after a (re)start the store is not `loaded` until the host answered a
 * `hint_scan`; until then new hints are refused (not acked), because persisting a fresh hint
 * for a pair that already has one on disk would overwrite the older content.
 * Storage writes of one hint are serialised through the node's key turns (the host may
 * complete storage IO out of order), and each persist writes the hint's CURRENT state, so the
 * last durable write is always the newest.
 *
 * A persist that fails (storage error) is retried at the next sweep, so storage converges on
 * memory: a removed hint does not linger on disk to be replayed after a restart for no reason,
 * and a merged one becomes durable (its coordinator got no ack for it, though).
 *
 * Bounds: `hintCountMax` hints and `hintBytesMax` bytes (key + record) in total — a hint that
 * would pass either is refused and counted; at most `hintReplayBatchMax` deliveries in flight.
 *
 * Invariants (`invariants()`): the byte total equals the sum over hints; both bounds hold; every
 * in-flight delivery belongs to a held hint; a hint's age is never negative.
 */
import type { NodeId } from '../types.js';
import type { PeerMessage, StoredHint } from '../messages.js';
import type { Rec, Versions } from '../coordinator/versions.js';

export interface HintOptions {
  readonly self: NodeId;
  readonly incarnation: number;
  readonly hintCountMax: number;
  readonly hintBytesMax: number;
  /** Hints older than this are dropped (counted as expired) instead of delivered. */
  readonly hintWindowMs: number;
  /** How often held hints are swept: expiry, and replay to owners not held down. */
  readonly hintReplayIntervalMs: number;
  /** Deliveries in flight at once; also how long (x requestTimeoutMs) one waits for its ack. */
  readonly hintReplayBatchMax: number;
  readonly requestTimeoutMs: number;
}

export const HINT_DEFAULTS = {
  hintCountMax: 100_000,
  hintBytesMax: 256 * 1024 * 1024,
  hintWindowMs: 3 * 60 * 60 * 1000,
  hintReplayIntervalMs: 1000,
  hintReplayBatchMax: 64,
} as const satisfies Partial<HintOptions>;

export interface HintHost {
  nowMs(): number;
  isDown(node: NodeId): boolean;
  send(to: NodeId, message: PeerMessage): void;
  hintPut(owner: NodeId, key: string, entry: Buffer, done: (ok: boolean) => void): void;
  hintDelete(owner: NodeId, key: string, done: (ok: boolean) => void): void;
  hintScan(done: (hints: StoredHint[] | null) => void): void;
  /** The node's per-key turns; false = queue full. */
  withTurn(turn: string, task: (release: () => void) => void): boolean;
}

export interface HintStats {
  /** Hinted writes accepted (each merge into a held hint counts once). */
  written: number;
  /** Hints removed because their owner acknowledged them. */
  delivered: number;
  /** Hints dropped because they outlived the hint window. */
  expired: number;
  /** Hinted writes refused: bounds reached, store not loaded yet, or key turns full. */
  refused: number;
  /** hint_deliver messages sent (retries included). */
  deliveriesSent: number;
  /** Hints reloaded from storage after a start. */
  reloaded: number;
}

interface Hint {
  readonly owner: NodeId;
  readonly key: string;
  record: Rec;
  bytes: number;
  readonly createdAtMs: number;
  /** Bumped on every merge: an ack removes the hint only if it acknowledged this version. */
  version: number;
  delivery: { id: string; version: number; deadlineMs: number } | null;
}

const hintId = (owner: NodeId, key: string): string => `${owner}\u0000${key}`;

/** Stored entry: 8 bytes of creation time (float64 BE, node clock ms) then the record bytes. */
export function encodeHintEntry(createdAtMs: number, record: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + record.length);
  out.writeDoubleBE(createdAtMs, 0);
  record.copy(out, 8);
  return out;
}

export function decodeHintEntry(entry: Buffer): { createdAtMs: number; record: Buffer } {
  if (entry.length < 8) throw new RangeError('hint entry shorter than its header');
  const createdAtMs = entry.readDoubleBE(0);
  if (!Number.isFinite(createdAtMs)) throw new RangeError('hint entry has a bad creation time');
  return { createdAtMs, record: entry.subarray(8) };
}

export class HintStore {
  private readonly hints = new Map<string, Hint>();
  private readonly deliveries = new Map<string, string>();
  /** Pairs whose last persist failed (storage error): persisted again at the next sweep. */
  private readonly dirty = new Map<string, { owner: NodeId; key: string }>();
  private totalBytes = 0;
  private deliverySeq = 0;
  private nextSweepMs: number;
  private loadState: 'no' | 'loading' | 'yes' = 'no';
  readonly stats: HintStats = { written: 0, delivered: 0, expired: 0, refused: 0, deliveriesSent: 0, reloaded: 0 };

  constructor(private readonly opts: HintOptions, private readonly host: HintHost, private readonly versions: Versions) {
    for (const [name, v] of [['hintCountMax', opts.hintCountMax], ['hintBytesMax', opts.hintBytesMax], ['hintWindowMs', opts.hintWindowMs],
      ['hintReplayIntervalMs', opts.hintReplayIntervalMs], ['hintReplayBatchMax', opts.hintReplayBatchMax]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
    this.nextSweepMs = host.nowMs();
  }

  get count(): number {
    return this.hints.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get loaded(): boolean {
    return this.loadState === 'yes';
  }

  /** Issues the scan that reloads durable hints; the node calls it once at start. */
  load(): void {
    if (this.loadState !== 'no') return;
    this.loadState = 'loading';
    this.host.hintScan((stored) => {
      if (stored === null) {
        this.loadState = 'no'; // retried at the next sweep
        return;
      }
      for (const s of stored) {
        let rec: Rec;
        let createdAtMs: number;
        try {
          const e = decodeHintEntry(s.entry);
          rec = this.versions.decode(e.record);
          createdAtMs = e.createdAtMs;
        } catch {
          continue; // an unreadable entry is as good as lost; the owner catches up by repair
        }
        const id = hintId(s.owner, s.key);
        if (this.hints.has(id)) continue;
        const bytes = s.key.length + s.entry.length - 8;
        this.hints.set(id, { owner: s.owner, key: s.key, record: rec, bytes, createdAtMs, version: 1, delivery: null });
        this.totalBytes += bytes;
        this.stats.reloaded++;
      }
      this.loadState = 'yes';
    });
  }

  /**
   * A coordinator asks this node to hold `record` for `owner`. `ack` runs once the hint is
   * durable; it never runs when the hint is refused (the coordinator then lacks this ack).
   */
  accept(owner: NodeId, key: string, recordBytes: Buffer, ack: () => void): void {
    if (owner === this.opts.self) throw new Error('a node does not hold hints for itself');
    if (this.loadState !== 'yes') {
      this.stats.refused++;
      return;
    }
    let incoming: Rec;
    try {
      incoming = this.versions.decode(recordBytes);
    } catch {
      this.stats.refused++;
      return;
    }
    const id = hintId(owner, key);
    const held = this.hints.get(id);
    if (held !== undefined && this.versions.equal(this.versions.merge(held.record, incoming), held.record)) {
      // Nothing new (a duplicated message, a retried write): no new version, so a delivery in
      // flight still removes the hint; persist again so the ack still means "durable".
      if (!this.persist(owner, key, ack)) this.stats.refused++;
      return;
    }
    const record = held === undefined ? incoming : this.versions.merge(held.record, incoming);
    const bytes = key.length + this.versions.encode(record).length;
    const extraBytes = bytes - (held?.bytes ?? 0);
    if ((held === undefined && this.hints.size >= this.opts.hintCountMax) || this.totalBytes + extraBytes > this.opts.hintBytesMax) {
      this.stats.refused++;
      return;
    }
    if (held === undefined) {
      this.hints.set(id, { owner, key, record, bytes, createdAtMs: this.host.nowMs(), version: 1, delivery: null });
    } else {
      held.record = record;
      held.bytes = bytes;
      held.version++;
    }
    this.totalBytes += extraBytes;
    this.stats.written++;
    if (!this.persist(owner, key, ack)) {
      // The content is in memory and will still be replayed; only the durability promise (the
      // ack) is withheld.
      this.stats.refused++;
    }
  }

  /** The owner acknowledged a delivery: remove the hint if that delivery carried its latest version. */
  onAck(from: NodeId, deliveryId: string): void {
    const id = this.deliveries.get(deliveryId);
    if (id === undefined) return;
    const h = this.hints.get(id);
    if (h === undefined || h.owner !== from || h.delivery?.id !== deliveryId) return;
    this.deliveries.delete(deliveryId);
    if (h.delivery.version !== h.version) {
      h.delivery = null; // merged meanwhile: deliver the newer content at the next sweep
      return;
    }
    this.remove(h);
    this.stats.delivered++;
  }

  /** Membership says `owner` is alive again: replay without waiting for the next sweep. */
  ownerAlive(owner: NodeId): void {
    for (const h of this.hints.values()) if (h.owner === owner) { this.nextSweepMs = this.host.nowMs(); return; }
  }

  tick(nowMs: number): void {
    if (nowMs < this.nextSweepMs) return;
    this.nextSweepMs = nowMs + this.opts.hintReplayIntervalMs;
    if (this.loadState === 'no') this.load();
    for (const [id, p] of [...this.dirty]) {
      this.dirty.delete(id);
      this.persist(p.owner, p.key, () => {});
    }
    let inFlight = 0;
    for (const h of [...this.hints.values()]) {
      if (nowMs - h.createdAtMs > this.opts.hintWindowMs) {
        this.remove(h);
        this.stats.expired++;
        continue;
      }
      if (h.delivery !== null && h.delivery.deadlineMs <= nowMs) {
        this.deliveries.delete(h.delivery.id);
        h.delivery = null;
      }
      if (h.delivery !== null) inFlight++;
    }
    for (const h of this.hints.values()) {
      if (inFlight >= this.opts.hintReplayBatchMax) break;
      if (h.delivery !== null || this.host.isDown(h.owner)) continue;
      this.deliverySeq++;
      const deliveryId = `${this.opts.self}/${this.opts.incarnation}/h${this.deliverySeq}`;
      h.delivery = { id: deliveryId, version: h.version, deadlineMs: nowMs + this.opts.requestTimeoutMs };
      this.deliveries.set(deliveryId, hintId(h.owner, h.key));
      inFlight++;
      this.stats.deliveriesSent++;
      this.host.send(h.owner, { kind: 'hint_deliver', deliveryId, key: h.key, record: this.versions.encode(h.record) });
    }
  }

  /** Hints held per owner (for figures and tests). */
  pendingFor(owner: NodeId): number {
    let n = 0;
    for (const h of this.hints.values()) if (h.owner === owner) n++;
    return n;
  }

  private remove(h: Hint): void {
    this.hints.delete(hintId(h.owner, h.key));
    this.totalBytes -= h.bytes;
    if (h.delivery !== null) this.deliveries.delete(h.delivery.id);
    h.delivery = null;
    this.persist(h.owner, h.key, () => {});
  }

  /**
   * Writes the pair's current state (or its absence) under the pair's turn; `then` after it is
   * durable. False when the turn queue is full (nothing will run).
   */
  private persist(owner: NodeId, key: string, then: () => void): boolean {
    return this.host.withTurn(`\u0000hint\u0000${hintId(owner, key)}`, (release) => {
      const h = this.hints.get(hintId(owner, key));
      const done = (ok: boolean): void => {
        release();
        if (ok) then();
        else if (this.dirty.size < this.opts.hintCountMax) this.dirty.set(hintId(owner, key), { owner, key });
      };
      if (h === undefined) this.host.hintDelete(owner, key, done);
      else this.host.hintPut(owner, key, encodeHintEntry(h.createdAtMs, this.versions.encode(h.record)), done);
    });
  }

  invariants(nowMs: number): void {
    let bytes = 0;
    for (const h of this.hints.values()) {
      bytes += h.bytes;
      if (h.createdAtMs > nowMs + this.opts.hintWindowMs) throw new Error(`hint for ${h.owner} ${h.key} created in the far future`);
      if (h.delivery !== null && this.deliveries.get(h.delivery.id) !== hintId(h.owner, h.key)) throw new Error('hint delivery not indexed');
    }
    if (bytes !== this.totalBytes) throw new Error(`hint bytes ${this.totalBytes} != ${bytes}`);
    if (this.hints.size > this.opts.hintCountMax) throw new Error('hint count above its bound');
    if (this.totalBytes > this.opts.hintBytesMax) throw new Error('hint bytes above their bound');
    if (this.dirty.size > this.opts.hintCountMax) throw new Error('hint retry set above its bound');
    for (const [d, id] of this.deliveries) if (this.hints.get(id)?.delivery?.id !== d) throw new Error(`stale delivery ${d}`);
  }
}
