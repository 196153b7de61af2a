import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore } from '../../src/core/images/index.js';
import { MiB, assertNothingStored, chunksOf, ctx, makeRawDisk, tempDir, toQcow2, vmfile } from './helpers.js';

const mk = (dataDir: string) => new OciImageStore({ dataDir, windowSize: MiB, concurrency: 2, gcGraceMs: 0 });


describe('failed imports store nothing', () => {
  // qemu-img, skopeo and zstd come from Debian packages (scripts/services/apt-packages.sh).
  before(() => requireService('packages'));

  it('a stream that ends early is INVALID_ARGUMENT', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 2]]);
    const store = mk(path.join(dir, 'data'));
    await assert.rejects(
      store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, chunksOf(disk, { stopAfter: MiB }), ctx()),
      (err: { code: string; message: string }) => err.code === 'INVALID_ARGUMENT' && /ended after 1048576 of the declared 2097152/.test(err.message),
    );
    assertNothingStored(store);
  });

  it('a stream longer than total_size is INVALID_ARGUMENT', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 2]]);
    const store = mk(path.join(dir, 'data'));
    await assert.rejects(store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size - 1 }, chunksOf(disk), ctx()), { code: 'INVALID_ARGUMENT' });
    assertNothingStored(store);
  });

  it('a wrong sha256 is DATA_LOSS', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 1], ['zero', 1]]);
    const store = mk(path.join(dir, 'data'));
    await assert.rejects(store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size, sha256: 'a'.repeat(64) }, chunksOf(disk), ctx()), { code: 'DATA_LOSS' });
    assertNothingStored(store);
  });

  it('a cancelled stream (even one that stalls) is CANCELLED', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 2]]);
    const store = mk(path.join(dir, 'data'));
    const ac = new AbortController();
    const stalling = chunksOf(disk, {
      onChunk: async (i) => {
        if (i === 3) {
          ac.abort();
          await new Promise(() => {}); // the client went silent
        }
      },
    });
    await assert.rejects(store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, stalling, ctx(ac.signal)), { code: 'CANCELLED' });
    assertNothingStored(store);
  });

  it('a cancel while windows are being compressed is CANCELLED', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 4], ['text', 4]]);
    const store = mk(path.join(dir, 'data'));
    const ac = new AbortController();
    await assert.rejects(
      store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, chunksOf(disk), ctx(ac.signal, (p) => { if (p.phase === 'compress') ac.abort(); })),
      { code: 'CANCELLED' },
    );
    assertNothingStored(store);
  });

  it('a disk whose real format differs from the VMFile is INVALID_ARGUMENT', async (t) => {
    const dir = tempDir(t);
    const raw = path.join(dir, 'disk.raw');
    makeRawDisk(raw, [['text', 1]]);
    const q = path.join(dir, 'disk.qcow2');
    toQcow2(raw, q);
    const store = mk(path.join(dir, 'data'));
    await assert.rejects(
      store.importStream({ vmfile: vmfile('x', 'raw'), reference: 'x', totalSize: statSync(q).size }, chunksOf(q), ctx()),
      (err: { code: string; message: string }) => err.code === 'INVALID_ARGUMENT' && /says raw but the file is qcow2/.test(err.message),
    );
    assertNothingStored(store);
  });

  it('an invalid VMFile in the header is INVALID_ARGUMENT with every issue', async (t) => {
    const dir = tempDir(t);
    const store = mk(path.join(dir, 'data'));
    const vf = vmfile('Bad Name', 'vmdk' as 'raw');
    vf.spec.resources.memoryMb = -5;
    await assert.rejects(store.importStream({ vmfile: vf, reference: 'x', totalSize: 1 }, chunksOf(path.join(dir, 'none'), {}), ctx()),
      (err: { code: string; issues: Array<{ path: string }> }) => {
        assert.equal(err.code, 'INVALID_ARGUMENT');
        assert.deepEqual(err.issues.map((i) => i.path).sort(), ['metadata.name', 'spec.disk.format', 'spec.resources.memory_mb']);
        return true;
      });
    assertNothingStored(store);
  });

  it('a full disk is RESOURCE_EXHAUSTED and leaves nothing behind', async (t) => {
    const dir = tempDir(undefined);
    const mnt = path.join(dir, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    t.after(() => {
      execFileSync('umount', [mnt]);
      rmSync(dir, { recursive: true, force: true });
    });
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 6]]); // 6 MiB spooled + 6 MiB of incompressible windows > 8 MiB
    const store = mk(path.join(mnt, 'data'));
    await assert.rejects(store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, chunksOf(disk), ctx()), { code: 'RESOURCE_EXHAUSTED' });
    assertNothingStored(store);
    // The space is back: a small import now fits.
    const small = path.join(dir, 'small.raw');
    const s = makeRawDisk(small, [['text', 1]]);
    const img = await store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: s.size }, chunksOf(small), ctx());
    assert.equal(img.reference, 'x:latest');
  });
});
