/**
 * Serialises local read-modify-write of one key. Storage effects complete asynchronously, so
 * two writes of the same key must not both read the old record and each store their own
 * result: a task runs only once every earlier task for that key has released its turn.
 *
 * Invariants: a key is present in the map iff some task holds or waits for its turn; the head
 * task of each queue is the running one; the total of waiting tasks stays <= `waitingMax`
 * (enqueue refuses beyond it, and the caller drops the work as a peer would see a loss).
 */
export type Release = () => void;
export type KeyTask = (release: Release) => void;

export class KeyQueue {
  private readonly queues = new Map<string, KeyTask[]>();
  private waiting = 0;

  constructor(private readonly waitingMax: number) {}

  /** Runs `task` now or after the key's earlier tasks released; false if the bound is reached. */
  enqueue(key: string, task: KeyTask): boolean {
    const q = this.queues.get(key);
    if (q === undefined) {
      this.queues.set(key, [task]);
      this.run(key, task);
      return true;
    }
    if (this.waiting >= this.waitingMax) return false;
    q.push(task);
    this.waiting++;
    return true;
  }

  get waitingCount(): number {
    return this.waiting;
  }

  get activeKeys(): number {
    return this.queues.size;
  }

  private run(key: string, task: KeyTask): void {
    let released = false;
    task(() => {
      if (released) throw new Error(`key turn released twice for ${JSON.stringify(key)}`);
      released = true;
      this.next(key);
    });
  }

  private next(key: string): void {
    const q = this.queues.get(key);
    if (q === undefined) throw new Error('released a key that holds no turn');
    q.shift();
    const head = q[0];
    if (head === undefined) {
      this.queues.delete(key);
      return;
    }
    this.waiting--;
    this.run(key, head);
  }

  invariants(): void {
    let waiting = 0;
    for (const [key, q] of this.queues) {
      if (q.length === 0) throw new Error(`empty key queue kept for ${JSON.stringify(key)}`);
      waiting += q.length - 1;
    }
    if (waiting !== this.waiting) throw new Error(`key queue waiting count ${this.waiting} != ${waiting}`);
    if (waiting > this.waitingMax) throw new Error('key queue above its bound');
  }
}
