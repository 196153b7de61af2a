import { availableParallelism } from 'node:os';

export function defaultConcurrency(): number {
  return Math.max(1, availableParallelism());
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure stops new work and is thrown. */
export async function mapLimit<T, R>(
  items: T[], limit: number, fn: (item: T, i: number, signal: AbortSignal) => Promise<R>, outer?: AbortSignal,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  const ac = new AbortController();
  const signal = outer ? AbortSignal.any([outer, ac.signal]) : ac.signal;
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i, signal);
      } catch (err) {
        if (failed === undefined) {
          failed = err;
          ac.abort(err); // siblings stop early
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}

