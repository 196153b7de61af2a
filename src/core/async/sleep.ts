// The one abortable pause: plugins, fakes and the core wait between retries and polls with it, so a
// cancelled RPC stops waiting at once and says so with CANCELLED (the signal's reason as the cause).
import { CancelledError } from '../errors.js';

/** Resolves after `ms` (a macrotask even for 0); rejects with CancelledError(`message`) when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal, message = 'operation cancelled'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError(message, { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(new CancelledError(message, { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
