/**
 * When a tombstone may be purged. A delete is a sibling with a null value (versioning); it must
 * outlive every replica's older copy of the key, or a replica that missed the delete would bring
 * the value back through anti-entropy. Purging is safe only when both hold:
 *   - the grace period has passed since this replica stored the tombstone (covers replicas that
 *     are down or partitioned longer than a sync cycle and hints still in flight), and
 *   - every other replica of the key's slot completed an anti-entropy session with this replica
 *     that STARTED after this replica stored the tombstone (`syncedPastMs`, exchange.ts): such a
 *     session leaves the peer with a record descending from the tombstone, so no replica still
 *     holds a version the tombstone superseded without also holding the tombstone.
 * All times are this replica's local clock (`storedAtMs` from the host, watermarks from the
 * same node's sessions), so clock skew between nodes plays no part.
 */

export interface TombstonePurgeQuery {
  /** Local time this replica stored the record whose only siblings are tombstones. */
  readonly storedAtMs: number;
  readonly nowMs: number;
  readonly graceMs: number;
  /** `AntiEntropy.syncedPastMs(slot, replicas)`: null when some replica never synced. */
  readonly syncedPastMs: number | null;
}

export function canPurgeTombstone(q: TombstonePurgeQuery): boolean {
  if (!Number.isFinite(q.storedAtMs) || !Number.isFinite(q.nowMs) || !Number.isFinite(q.graceMs) || q.graceMs < 0) {
    throw new RangeError('canPurgeTombstone: times must be finite and graceMs non-negative');
  }
  if (q.nowMs - q.storedAtMs < q.graceMs) return false;
  return q.syncedPastMs !== null && q.syncedPastMs > q.storedAtMs;
}
