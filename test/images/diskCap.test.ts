// images.maxDiskGiB: a disk larger than the store's cap is refused before its windows are made or downloaded, on
// every way in (streamed import, in-place import, a containerDisk, a manifest committed by pull or load), and nothing
// is stored.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore } from '../../src/core/images/index.js';
import { HostPaths } from '../../src/core/hostfs/HostPaths.js';
import { MiB, assertNothingStored, chunksOf, ctx, makeRawDisk, tempDir, vmfile, writeVMFile } from './helpers.js';

const mk = (dataDir: string, maxDiskSize?: number) => new OciImageStore({
  dataDir, windowSize: MiB, level: 1, concurrency: 2, gcGraceMs: 0, maxDiskSize,
  hostPaths: new HostPaths({ dataDir, import: [path.dirname(dataDir)], export: [] }),
});


/** A qcow2 of `virtual` bytes that holds almost nothing: what a hostile header costs to send. */
function emptyQcow2(file: string, virtual: number): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(virtual)]);
}

describe('images.maxDiskGiB', () => {
  before(() => requireService('packages'));
  const cap = 4 * MiB;

  it('a streamed import whose total_size is over the cap fails before a byte is read', async (t) => {
    const dir = tempDir(t);
    const store = mk(path.join(dir, 'data'), cap);
    let read = 0;
    const never = (async function* () { read++; yield Buffer.alloc(0); })();
    await assert.rejects(store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: cap + 1 }, never, ctx()),
      (err: { code: string; message: string }) => err.code === 'RESOURCE_EXHAUSTED' && /total_size\) is 0\.00 GiB \(4194305 bytes\)/.test(err.message));
    assert.equal(read, 0);
    await store.init();
    assertNothingStored(store);
  });

  it('a small qcow2 stream whose header declares a disk over the cap fails before it is converted', async (t) => {
    const dir = tempDir(t);
    const q = path.join(dir, 'big.qcow2');
    emptyQcow2(q, 64 * MiB);
    assert.ok(statSync(q).size < cap);
    const store = mk(path.join(dir, 'data'), cap);
    await assert.rejects(store.importStream({ vmfile: vmfile('x', 'qcow2'), reference: 'x', totalSize: statSync(q).size }, chunksOf(q), ctx()),
      (err: { code: string; message: string }) => err.code === 'RESOURCE_EXHAUSTED' && /qcow2 disk's virtual size is 0\.06 GiB \(67108864 bytes\)/.test(err.message));
    assertNothingStored(store);
  });

  it('an in-place import over the cap fails, raw or qcow2', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    execFileSync('mkdir', ['-p', vmdir]);
    const store = mk(path.join(dir, 'data'), cap);
    emptyQcow2(path.join(vmdir, 'disk.qcow2'), 64 * MiB);
    writeVMFile(vmdir, './disk.qcow2', 'qcow2');
    await assert.rejects(store.importFile!(path.join(vmdir, 'VMFile.yaml'), 'q:1', ctx()), { code: 'RESOURCE_EXHAUSTED' });
    makeRawDisk(path.join(vmdir, 'disk.raw'), [['text', 1], ['zero', 4]]);
    writeVMFile(vmdir, './disk.raw', 'raw');
    await assert.rejects(store.importFile!(path.join(vmdir, 'VMFile.yaml'), 'r:1', ctx()), { code: 'RESOURCE_EXHAUSTED' });
    assertNothingStored(store);
  });

  it('a containerDisk whose qcow2 header declares a disk over the cap fails before it is converted', async (t) => {
    const dir = tempDir(t);
    const store = mk(path.join(dir, 'data'), cap);
    await assert.rejects(store.importDisk!('cd:1', async (work) => {
      const file = path.join(work, 'disk.qcow2');
      emptyQcow2(file, 64 * MiB);
      return { file, vmfile: vmfile('cd', 'qcow2'), origin: { format: 'containerdisk', reference: 'r.example/cd:1', digest: `sha256:${'0'.repeat(64)}`, path: 'disk/disk.qcow2' } };
    }, ctx()), (err: { code: string; message: string }) => err.code === 'RESOURCE_EXHAUSTED' && /qcow2 disk of r\.example\/cd:1 is 0\.06 GiB/.test(err.message));
    assertNothingStored(store);
  });

  it('a manifest whose disk is over the cap is refused by beginBaseDisk (before a pull downloads) and commitManifest', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['text', 1], ['zero', 4], ['rand', 1]]);
    const source = mk(path.join(dir, 'source'));
    const img = await source.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, chunksOf(disk), ctx());
    const capped = mk(path.join(dir, 'capped'), cap);
    await capped.init();
    const manifest = JSON.parse(img.manifestBytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    // What a pull writes before it commits the manifest: every blob.
    const blobsInto = async (store: OciImageStore) => {
      for (const b of [manifest.config, ...manifest.layers]) await store.content.put(b.digest, await source.content.readAll(b.digest));
    };
    await blobsInto(capped);
    await assert.rejects(capped.beginBaseDisk!(img.manifestBytes, ctx()), { code: 'RESOURCE_EXHAUSTED' });
    await assert.rejects(capped.commitManifest('x:latest', img.manifestBytes, ctx()), { code: 'RESOURCE_EXHAUSTED' });
    assert.deepEqual(JSON.parse(readFileSync(path.join(capped.paths.layout, 'index.json'), 'utf8')).manifests, []);
    assert.deepEqual(readdirSync(capped.paths.disks), []);
    // Under the cap, the same manifest goes in.
    const roomy = mk(path.join(dir, 'roomy'), d.size);
    await roomy.init();
    await blobsInto(roomy);
    assert.equal((await roomy.commitManifest('x:latest', img.manifestBytes, ctx())).digest, img.digest);
  });
});
