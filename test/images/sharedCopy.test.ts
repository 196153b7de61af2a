// The memcpy a pull's bytes are copied into the hash workers' shared slots with (native/sharedCopy.c): the same
// bytes as Buffer.copy, never past the target's end, and bad arguments refused rather than written anywhere.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { copyIntoShared } from '../../src/core/images/sharedCopy.js';

const file = fileURLToPath(new URL('../../src/native/sharedCopy.node', import.meta.url));

describe('copy into shared memory', () => {
  before(() => requireService('packages')); // gcc, which `npm run build` compiles the helper with

  it('is built, and copies what fits like Buffer.copy', () => {
    assert.ok(existsSync(file), `${file} was built`);
    const native = createRequire(import.meta.url)(file) as { copy: (t: Buffer, at: number, s: Buffer) => number };
    const src = randomBytes(100_000);
    for (const copy of [native.copy, copyIntoShared]) {
      const shared = Buffer.from(new SharedArrayBuffer(64 * 1024));
      assert.equal(copy(shared, 10, src.subarray(0, 5000)), 5000);
      assert.ok(shared.subarray(10, 5010).equals(src.subarray(0, 5000)));
      assert.ok(shared.subarray(0, 10).every((b) => b === 0) && shared[5010] === 0, 'nothing outside');
      assert.equal(copy(shared, 60_000, src), 64 * 1024 - 60_000, 'only what fits');
      assert.ok(shared.subarray(60_000).equals(src.subarray(0, 64 * 1024 - 60_000)));
      assert.equal(copy(shared, 64 * 1024, src), 0, 'at the end: nothing');
    }
    const shared = Buffer.from(new SharedArrayBuffer(16));
    assert.throws(() => native.copy(shared, 17, src), /bad arguments/);
    assert.throws(() => native.copy(shared, -1, src), /bad arguments/);
    assert.throws(() => (native.copy as (...a: unknown[]) => number)(shared, 0, 'not a buffer'), /bad arguments/);
  });
});
