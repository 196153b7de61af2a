// Runs one operation per key at a time: concurrent callers for the same key share the first caller's
// promise. Used so that ten requests finding an expired access token cause exactly one refresh.
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key);
    if (running) return running;
    // Started on a later tick so the map holds the promise before fn runs, even if fn throws at once.
    const p: Promise<T> = Promise.resolve()
      .then(fn)
      .finally(() => {
        if (this.inflight.get(key) === p) this.inflight.delete(key);
      });
    this.inflight.set(key, p);
    return p;
  }

  /** The promise running for `key`, if any (settles as the operation does). */
  running(key: string): Promise<T> | undefined {
    return this.inflight.get(key);
  }
}
