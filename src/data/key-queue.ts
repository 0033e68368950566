/**
 * Per-key serialisation for an asynchronous storage engine: operations on the same key run one
 * after another, in submission order, so two concurrent read-modify-writes (INCR from two
 * connections) never interleave their read and write.
 *
 * The queue costs nothing when an operation completes synchronously (the memory engine): `run`
 * calls the operation at once when none of its keys is busy, and only an operation that returns a
 * promise is recorded as the key's tail. A multi-key operation waits for every key's tail and
 * becomes the tail of all of them; since tails are taken at submission time the wait graph follows
 * submission order and cannot deadlock.
 *
 * Bounded: at most `keysMax` keys may be busy at once; beyond that `run` throws ERR_OVERLOADED
 * (the server bounds in-flight commands anyway, this is a backstop). A key's entry is removed as
 * soon as its last operation settles.
 */
import { RingkvError } from '../errors/index.js';
import { isPromise, type MaybePromise } from '../util/maybe-promise.js';

export class KeyQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  /**
   * `begin` runs before an operation started directly (nothing to wait for); `mustTrack` then
   * says whether its promise must hold the key (false when everything that could interleave
   * already happened synchronously and the promise only delivers durability).
   */
  constructor(
    private readonly keysMax = 100_000,
    private readonly begin: () => void = noop,
    private readonly mustTrack: () => boolean = always,
  ) {}

  /** Keys with an operation in flight. */
  get busyKeys(): number {
    return this.tails.size;
  }

  /** True when no operation is in flight: callers may run directly and `track1` a promise. */
  get idle(): boolean {
    return this.tails.size === 0;
  }

  /** Records an operation started directly while idle as its key's tail. */
  track1(key: string, p: Promise<unknown>): void {
    this.track([key], p);
  }

  /** `run([key], op)` without allocating the key array when nothing is in flight. */
  run1<R>(key: string, op: () => MaybePromise<R>): MaybePromise<R> {
    if (this.tails.size === 0) {
      this.begin();
      const r = op();
      if (isPromise(r) && this.mustTrack()) this.track([key], r);
      return r;
    }
    return this.run([key], op);
  }

  run<R>(keys: readonly string[], op: () => MaybePromise<R>): MaybePromise<R> {
    if (this.tails.size === 0) return this.start(keys, op);
    if (this.tails.size >= this.keysMax) {
      // Checked before the operation starts, so the refusal means "did not happen".
      throw new RingkvError('ERR_OVERLOADED', 'BUSY too many keys with operations in flight');
    }
    let waitFor: Promise<unknown>[] | undefined;
    for (const k of keys) {
      const t = this.tails.get(k);
      if (t !== undefined) (waitFor ??= []).push(t);
    }
    if (waitFor === undefined) return this.start(keys, op);
    const gate = waitFor.length === 1 ? (waitFor[0] as Promise<unknown>) : Promise.all(waitFor);
    const p = gate.then(op, op);
    this.track(keys, p);
    return p;
  }

  private start<R>(keys: readonly string[], op: () => MaybePromise<R>): MaybePromise<R> {
    this.begin();
    const r = op();
    if (isPromise(r) && this.mustTrack()) this.track(keys, r);
    return r;
  }

  private track(keys: readonly string[], p: Promise<unknown>): void {
    const settled = p.then(noop, noop);
    for (const k of keys) this.tails.set(k, settled);
    void settled.then(() => {
      for (const k of keys) if (this.tails.get(k) === settled) this.tails.delete(k);
    });
  }

}

function noop(): void {}
function always(): boolean {
  return true;
}
