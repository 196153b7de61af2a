// In-process locks. The store is owned by one daemon process; index.json writes and GC sweeps
// are serialized here rather than with lock files.

/** FIFO mutex. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Mutexes keyed by string (one per digest), dropped when idle. */
export class KeyedMutex {
  private readonly locks = new Map<string, { m: Mutex; users: number }>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let e = this.locks.get(key);
    if (!e) {
      e = { m: new Mutex(), users: 0 };
      this.locks.set(key, e);
    }
    e.users++;
    try {
      return await e.m.run(fn);
    } finally {
      if (--e.users === 0) this.locks.delete(key);
    }
  }

  /** Acquires and returns a release function (for locks held across calls, e.g. an open writer). */
  acquire(key: string): Promise<() => void> {
    return new Promise((resolveAcquire) => {
      void this.run(key, () => new Promise<void>((done) => resolveAcquire(done)));
    });
  }
}

/** Readers share, a writer excludes all. Writers are preferred so GC cannot starve. */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly waitingWriters: Array<() => void> = [];
  private readonly waitingReaders: Array<() => void> = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.waitingWriters.length > 0) {
      await new Promise<void>((r) => this.waitingReaders.push(r));
    } else {
      this.readers++;
    }
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.readers > 0) {
      await new Promise<void>((r) => this.waitingWriters.push(r));
    } else {
      this.writer = true;
    }
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }

  private wake(): void {
    if (this.writer || this.readers > 0) return;
    const w = this.waitingWriters.shift();
    if (w) {
      this.writer = true;
      w();
      return;
    }
    while (this.waitingReaders.length > 0) {
      this.readers++;
      this.waitingReaders.shift()!();
    }
  }
}
