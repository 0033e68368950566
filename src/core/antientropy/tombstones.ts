/**
 * When a dead record may be purged. A dead record has only tombstones (deletes: siblings with a
 * null value) and expiring values among its siblings; it must outlive every replica's older copy
 * of the key, or a replica that missed the delete would bring the value back through
 * anti-entropy. Purging is safe only when all hold:
 *   - the grace period has passed since the record died (`deadSinceMs`: its newest tombstone's
 *     write time or its latest expiry, cluster clock) and since this replica stored it
 *     (`storedAtMs`, local clock): older versions still in flight (hints, late replicates, read
 *     repairs) have landed or expired by then — so the grace must exceed the hint window plus
 *     request timeouts and clock skew;
 *   - every other replica of the key's slot completed an anti-entropy session with this replica
 *     that STARTED after this replica stored the record (`syncedPastMs`, exchange.ts): such a
 *     session leaves the peer with a record descending from this one, so no replica still
 *     holds a version the record superseded without also holding the record.
 * The host adds what this predicate cannot see (anti-entropy-driver.ts): every replica up, no
 * ring change in flight, and a synced push of the record to every replica acked just before
 * the compare-and-delete (a replica may hold it only in an unsynced write a crash loses).
 * `storedAtMs` and the watermarks are this replica's clock, so skew plays no part there.
 */

export interface TombstonePurgeQuery {
  /** Local time this replica stored the dead record. */
  readonly storedAtMs: number;
  /** When the record died (cluster clock); defaults to `storedAtMs`. */
  readonly deadSinceMs?: number;
  readonly nowMs: number;
  readonly graceMs: number;
  /** `AntiEntropy.syncedPastMs(slot, replicas)`: null when some replica never synced. */
  readonly syncedPastMs: number | null;
}

export function canPurgeTombstone(q: TombstonePurgeQuery): boolean {
  const dead = q.deadSinceMs ?? q.storedAtMs;
  if (!Number.isFinite(q.storedAtMs) || !Number.isFinite(dead) || !Number.isFinite(q.nowMs) || !Number.isFinite(q.graceMs) || q.graceMs < 0) {
    throw new RangeError('canPurgeTombstone: times must be finite and graceMs non-negative');
  }
  if (q.nowMs - Math.max(q.storedAtMs, dead) < q.graceMs) return false;
  return q.syncedPastMs !== null && q.syncedPastMs > q.storedAtMs;
}
