/**
 * Hot paths return plain values when they can answer synchronously (the memory engine always
 * can) and promises only when IO is involved, so a pipelined GET on the memory engine costs
 * no promise allocation. Callers branch with `isPromise`.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

/** Applies `f` to a MaybePromise without allocating a promise when the input is a value. */
export function then<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromise(v) ? v.then(f) : f(v);
}
