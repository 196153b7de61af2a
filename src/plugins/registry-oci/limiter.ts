// Bounded concurrency: runs `fn` over `items` with at most `limit` in flight; the first failure
// aborts the rest (through the returned signal) and is rethrown once all have settled.

export async function forEachLimited<T>(items: readonly T[], limit: number, signal: AbortSignal,
  fn: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item, ctl.signal);
      } catch (err) {
        if (!failure) failure = { err };
        ctl.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure.err;
}
