/**
 * Bounded concurrency for fan-out (cluster multi-key commands, HTTP batches): at most `limit`
 * calls of `fn` in flight, results in input order; rejects with the first failure (calls
 * already started still run to completion).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
