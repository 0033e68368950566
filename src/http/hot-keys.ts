/**
 * Hot keys seen by this node's HTTP front end: the Space-Saving algorithm (Metwally et al.)
 * with a fixed number of counters, so memory stays bounded whatever the key space. Every key
 * whose true count exceeds total/capacity is guaranteed to be tracked; a tracked key's count
 * overestimates by at most its `error`.
 *
 * Bounded: `capacity` counters; eviction scans them (capacity is small, and the scan runs only
 * when an untracked key arrives with every counter taken).
 */
export interface HotKey {
  key: string;
  count: number;
  /** Upper bound on how much `count` overestimates. */
  error: number;
}

export class HotKeys {
  private readonly counts = new Map<string, HotKey>();
  private sinceMs: number;

  constructor(private readonly capacity: number, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('HotKeys: capacity must be a positive integer');
    this.sinceMs = now();
  }

  record(key: string): void {
    const hit = this.counts.get(key);
    if (hit !== undefined) {
      hit.count++;
      return;
    }
    if (this.counts.size < this.capacity) {
      this.counts.set(key, { key, count: 1, error: 0 });
      return;
    }
    let min: HotKey | undefined;
    for (const c of this.counts.values()) if (min === undefined || c.count < min.count) min = c;
    if (min === undefined) return;
    this.counts.delete(min.key);
    this.counts.set(key, { key, count: min.count + 1, error: min.count });
  }

  /** The `n` most counted keys, highest first. */
  top(n: number): HotKey[] {
    return [...this.counts.values()].sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1)).slice(0, n).map((c) => ({ ...c }));
  }

  since(): number {
    return this.sinceMs;
  }

  reset(): void {
    this.counts.clear();
    this.sinceMs = this.now();
  }
}
