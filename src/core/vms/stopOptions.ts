// StopVM/RestartVM options from the wire. The graceful-stop wait becomes a timer, and Node's timers
// fire at once past 2^31-1 ms (~24.8 days), which turned a huge timeout into an immediate hard stop.
// A day is longer than any guest needs to power off, so anything above it is refused, not clamped:
// the caller learns the limit instead of silently getting a different wait.
import { InvalidArgumentError } from '../errors.js';
import type { StopOptions } from '../ports/hypervisor.js';

/** Longest graceful-stop wait StopVM/RestartVM accept (seconds). */
export const MAX_STOP_TIMEOUT_SECONDS = 86_400;

export function stopOptions(force: unknown, timeoutSeconds: unknown): StopOptions {
  const t = Number(timeoutSeconds ?? 0);
  if (!Number.isInteger(t) || t < 0 || t > MAX_STOP_TIMEOUT_SECONDS) {
    throw new InvalidArgumentError(
      `timeout_seconds must be a whole number from 0 (the default wait) to ${MAX_STOP_TIMEOUT_SECONDS} (one day)`,
      { field: 'timeout_seconds' },
    );
  }
  return { force: Boolean(force), timeoutSeconds: t };
}
