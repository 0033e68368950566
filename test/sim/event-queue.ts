/**
 * The simulator's event queue: a binary min-heap ordered by (time, insertion sequence), so
 * events at the same simulated millisecond run in the order they were scheduled — which keeps
 * a run a pure function of its seed.
 */
export interface Scheduled<E> {
  readonly atMs: number;
  readonly seq: number;
  readonly event: E;
}

export class EventQueue<E> {
  private readonly heap: Scheduled<E>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(atMs: number, event: E): void {
    const item = { atMs, seq: this.seq++, event };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Scheduled<E>;
      if (!less(item, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = item;
  }

  peekTime(): number | undefined {
    return this.heap[0]?.atMs;
  }

  pop(): Scheduled<E> | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined) return undefined;
    if (h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = last;
      let mi = -1;
      const lv = h[l];
      const rv = h[r];
      if (lv !== undefined && less(lv, m)) { m = lv; mi = l; }
      if (rv !== undefined && less(rv, m)) { m = rv; mi = r; }
      if (mi < 0) break;
      h[i] = m;
      i = mi;
    }
    h[i] = last;
    return top;
  }
}

function less<E>(a: Scheduled<E>, b: Scheduled<E>): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
