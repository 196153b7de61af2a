// Helpers shared by the contract suites.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isVmrError, type ErrorCode } from '../../core/errors.js';

/** Awaits `p` and asserts it rejected with a domain error of one of `codes`; returns the error. */
export async function rejectsWithCode(p: Promise<unknown>, ...codes: ErrorCode[]): Promise<Error & { code: ErrorCode }> {
  try {
    await p;
  } catch (err) {
    assert.ok(isVmrError(err), `expected a domain error (${codes.join(' or ')}), got ${String(err)}`);
    assert.ok(codes.includes(err.code), `expected ${codes.join(' or ')}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a rejection with ${codes.join(' or ')}, but the call succeeded`);
}

// Random per process (never the pid: on a fresh machine pids are small and close), then a counter.
const RUN = randomBytes(3).toString('hex');
let counter = 0;

/** A short tag unique per process run and call, for the names a suite creates. */
export const runTag = (): string => `${RUN}${(counter++).toString(36)}`;
