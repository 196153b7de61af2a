// At most `limit` async jobs at once, started in the order they were given: base-disk windows as their
// blobs arrive (images), VM operations of a compose project (a 20-replica service must not start 20
// guests at the same moment on a small host).
/** At most `limit` of the functions given to run() at once, in the order they were given. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<R>(fn: () => Promise<R>): Promise<R> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next caller
      else this.active--;
    }
  }
}
