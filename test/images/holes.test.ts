// lseek(SEEK_DATA) for the hash workers (native/holes.c, holes.ts): where a sparse file's data is, so an import does
// not read its holes.
import assert from 'node:assert/strict';
import { closeSync, existsSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { holesHelper } from '../../src/core/images/holes.js';
import { MiB, tempDir } from './helpers.js';

describe('holes of a sparse file', () => {
  before(() => requireService('packages')); // gcc, which `npm run build` compiles the helper with

  it('is built, and finds the data after an offset, or none', (t) => {
    const file = holesHelper();
    assert.ok(file && existsSync(file), 'native/holes.c was built and loads');
    const helper = createRequire(import.meta.url)(file!) as { dataAt: (fd: number, offset: number) => number };
    const disk = path.join(tempDir(t), 'sparse.raw');
    const fd = openSync(disk, 'w+');
    try {
      writeSync(fd, Buffer.alloc(MiB, 1), 0, MiB, 2 * MiB);
      ftruncateSync(fd, 8 * MiB);
      assert.equal(helper.dataAt(fd, 0), 2 * MiB, 'the hole before the data is skipped');
      assert.equal(helper.dataAt(fd, 2 * MiB + 5), 2 * MiB + 5, 'inside the data: where we are');
      assert.equal(helper.dataAt(fd, 3 * MiB), -1, 'only a hole until the end');
      assert.equal(helper.dataAt(fd, 100 * MiB), -1, 'past the end');
      assert.throws(() => helper.dataAt(-1, 0), /bad arguments/);
    } finally {
      closeSync(fd);
    }
  });
});
