/**
 * The piggyback dissemination queue (SWIM §4.1): at most one pending update per member, each
 * sent on at most `limit` outgoing messages and then dropped. Updates sent fewer times go first,
 * so fresh news overtakes news most peers already have.
 *
 * Invariants: one entry per member; an entry is handed out only while its transmit count is
 * below the limit; the queue never holds more than `entriesMax` entries (the member table's
 * bound), evicting the most-transmitted entry when full.
 */
import type { NodeId } from '../types.js';
import type { MemberUpdate } from './messages.js';

interface Entry {
  update: MemberUpdate;
  transmits: number;
  /** Insertion order, so ties break deterministically (older first). */
  order: number;
}

/** A conservative size estimate of one update on the wire (msgpack), bytes. */
export function updateBytes(u: MemberUpdate): number {
  let n = 16 + u.member.length;
  switch (u.kind) {
    case 'alive':
    case 'left':
      return n;
    case 'suspect':
      for (const s of u.sources) n += 2 + s.length;
      return n;
    case 'dead':
      return n + 2 + u.from.length;
    default: {
      const never: never = u;
      throw new TypeError(`unknown update ${JSON.stringify(never)}`);
    }
  }
}

export class BroadcastQueue {
  private readonly entries = new Map<NodeId, Entry>();
  private order = 0;

  constructor(private readonly entriesMax: number) {
    if (!Number.isSafeInteger(entriesMax) || entriesMax < 1) throw new RangeError('entriesMax must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** Queue (or replace) the update about its member, with its transmit count reset. */
  enqueue(update: MemberUpdate): void {
    this.entries.delete(update.member);
    if (this.entries.size >= this.entriesMax) this.evictOne();
    this.entries.set(update.member, { update, transmits: 0, order: this.order++ });
  }

  has(member: NodeId): boolean {
    return this.entries.has(member);
  }

  /**
   * Take up to `countMax` updates within `bytesMax` for one message, counting a transmission for
   * each and dropping those that reached `limit`. `skip` excludes members already in the message.
   */
  take(countMax: number, bytesMax: number, limit: number, skip: ReadonlySet<NodeId>, budget: { bytes: number }): MemberUpdate[] {
    if (countMax <= 0 || this.entries.size === 0) return [];
    const sorted = [...this.entries.values()].sort((a, b) => a.transmits - b.transmits || a.order - b.order);
    const out: MemberUpdate[] = [];
    for (const e of sorted) {
      if (out.length >= countMax) break;
      if (e.transmits >= limit) { this.entries.delete(e.update.member); continue; }
      if (skip.has(e.update.member)) continue;
      const size = updateBytes(e.update);
      if (budget.bytes + size > bytesMax) continue;
      budget.bytes += size;
      out.push(e.update);
      e.transmits++;
      if (e.transmits >= limit) this.entries.delete(e.update.member);
    }
    return out;
  }

  /** `limit` may shrink with the cluster, so an entry may sit at or past it until next taken. */
  invariants(): void {
    if (this.entries.size > this.entriesMax) throw new Error('broadcast queue over its bound');
    for (const [member, e] of this.entries) {
      if (e.update.member !== member) throw new Error('broadcast entry filed under the wrong member');
      if (!Number.isSafeInteger(e.transmits) || e.transmits < 0) throw new Error('broadcast entry with a bad transmit count');
    }
  }

  private evictOne(): void {
    let worst: Entry | undefined;
    for (const e of this.entries.values()) if (worst === undefined || e.transmits > worst.transmits) worst = e;
    if (worst !== undefined) this.entries.delete(worst.update.member);
  }
}
