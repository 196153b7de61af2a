// Serializes work per key inside this process (e.g. per VM name), so concurrent RunVMs of one name
// see each other's result instead of racing libvirt. A waiter whose signal fires stops waiting at
// once (its place in the queue passes on when the holder finishes), so a call stuck on the holder
// does not keep every later caller past its own deadline.
import { CancelledError } from '../../../plugin-api/index.js';

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    const done = () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    try {
      await waitFor(prev, signal);
    } catch (err) {
      void prev.then(done);
      throw err;
    }
    try {
      return await fn();
    } finally {
      done();
    }
  }
}

function waitFor(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new CancelledError('cancelled while waiting for another call on this VM', { cause: signal.reason }));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new CancelledError('cancelled while waiting for another call on this VM', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
