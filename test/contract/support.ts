// Helpers shared by the contract suites.
import assert from 'node:assert/strict';
import { uniqueName } from '../support/unique.js';
import { isVmrError, type ErrorCode } from '../../src/core/errors.js';

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

/** A short tag unique per run and call, from the one name helper (test/support/unique). */
export const runTag = (): string => uniqueName('x').slice(2);
