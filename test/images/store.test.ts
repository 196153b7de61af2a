import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore } from '../../src/core/images/index.js';
import { HostPaths } from '../../src/core/hostfs/HostPaths.js';
import { ANN_OFFSET, ANN_REF_NAME, VM_ARTIFACT, VM_CONFIG } from '../../src/core/images/mediaTypes.js';
import type { Progress } from '../../src/core/ports/common.js';
import { MiB, allocatedBytes, chunksOf, ctx, makeRawDisk, sha256File, skopeo, tempDir, toQcow2, vmfile } from './helpers.js';

// The test's temp dir is the daemon's paths.import/paths.export (the data dir inside it stays off limits).
const mk = (dataDir: string) => new OciImageStore({
  dataDir, windowSize: MiB, codec: 'zstd', level: 1, concurrency: 2, gcGraceMs: 0,
  hostPaths: new HostPaths({ dataDir, import: [path.dirname(dataDir)], export: [path.dirname(dataDir)] }),
});

describe('OciImageStore import/export', () => {
  // qemu-img, skopeo and zstd come from Debian packages (scripts/services/apt-packages.sh).
  before(() => requireService('packages'));

  it('imports a raw disk as windows, omits zero windows, and keeps the base disk sparse and exact', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 2], ['zero', 3], ['text', 1], ['zero', 2]]);
    const store = mk(path.join(dir, 'data'));
    const progress: Progress[] = [];
    const img = await store.importStream({ vmfile: vmfile(), reference: 'localhost:5000/demo/test:1', totalSize: d.size, sha256: d.sha256 }, chunksOf(disk), ctx(undefined, (p) => progress.push(p)));
    assert.equal(img.reference, 'localhost:5000/demo/test:1');
    assert.equal(img.manifest.artifactType, VM_ARTIFACT);
    assert.equal(img.manifest.config.mediaType, VM_CONFIG);
    assert.deepEqual(img.manifest.layers.map((l) => l.annotations?.[ANN_OFFSET]), [String(0), String(MiB), String(5 * MiB)]);
    assert.equal(img.config.disks[0]!.virtualSize, 8 * MiB);
    assert.ok(progress.some((p) => p.phase === 'receive' && p.current === d.size && p.total === d.size));
    const base = await store.baseDisk(img.digest, ctx());
    assert.equal(sha256File(base), d.sha256);
    assert.ok(allocatedBytes(base) <= 4 * MiB, `base disk allocates ${allocatedBytes(base)} bytes; the 5 MiB of zeros must be holes`);
    assert.equal(statSync(base).mode & 0o777, 0o600, 'private until a hypervisor plugin gives QEMU read access');
    for (const p of [path.dirname(base), path.dirname(path.dirname(base))]) assert.equal(statSync(p).mode & 0o777, 0o755);
    // Reassembly from the blobs alone gives the same bytes and stays sparse.
    execFileSync('rm', [base]);
    const again = await store.baseDisk(img.digest, ctx());
    assert.equal(sha256File(again), d.sha256);
    assert.ok(allocatedBytes(again) <= 4 * MiB);
    // The layout is what skopeo reads.
    const raw = JSON.parse(skopeo(['inspect', '--raw', `oci:${store.paths.layout}:localhost:5000/demo/test:1`]));
    assert.equal(raw.artifactType, VM_ARTIFACT);
  });

  it('imports a qcow2 disk (converted to raw windows) and resolves, lists, tags and untags', async (t) => {
    const dir = tempDir(t);
    const raw = path.join(dir, 'disk.raw');
    const d = makeRawDisk(raw, [['text', 1], ['zero', 2], ['rand', 1]]);
    const q = path.join(dir, 'disk.qcow2');
    toQcow2(raw, q);
    const store = mk(path.join(dir, 'data'));
    const img = await store.importStream({ vmfile: vmfile('qvm', 'qcow2'), reference: 'qvm', totalSize: statSync(q).size }, chunksOf(q), ctx());
    assert.equal(img.reference, 'qvm:latest');
    assert.equal(img.config.disks[0]!.sourceFormat, 'qcow2');
    assert.equal(sha256File(await store.baseDisk(img.digest, ctx())), d.sha256);
    assert.equal((await store.get('qvm')).digest, img.digest);
    assert.equal((await store.get(img.digest)).digest, img.digest);
    assert.equal((await store.get(img.digest.slice(7, 19))).digest, img.digest);
    assert.equal((await store.get(`qvm@${img.digest}`)).digest, img.digest);
    await store.tag('qvm:latest', 'other/name:v2');
    const list = await store.list();
    assert.deepEqual(list.map((i) => i.reference), ['other/name:v2', 'qvm:latest']);
    assert.equal(list[0]!.name, 'qvm');
    assert.equal(list[0]!.diskFormat, 'qcow2');
    assert.deepEqual(await store.untag('qvm'), { untagged: ['qvm:latest'], deleted: [] });
    assert.deepEqual(await store.untag('other/name:v2'), { untagged: ['other/name:v2'], deleted: [img.digest] });
    assert.equal(await store.resolve('qvm'), undefined);
    await assert.rejects(store.get('qvm'), { code: 'NOT_FOUND' });
    await assert.rejects(store.untag('qvm'), { code: 'NOT_FOUND' });
  });

  it('round-trips through an exported OCI layout, skopeo copy and importLayout with the same digests', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 1], ['zero', 1], ['text', 2]]);
    const a = mk(path.join(dir, 'a'));
    const img = await a.importStream({ vmfile: vmfile(), reference: 'localhost:5000/demo/rt:1', totalSize: d.size }, chunksOf(disk), ctx());
    const out = path.join(dir, 'export');
    const res = await a.export('localhost:5000/demo/rt:1', out, 'OCI_LAYOUT_DIR', { overwrite: false }, ctx());
    assert.equal(res.digest, img.digest);
    assert.ok(existsSync(path.join(out, 'oci-layout')));
    await assert.rejects(a.export('localhost:5000/demo/rt:1', out, 'OCI_LAYOUT_DIR', { overwrite: false }, ctx()), { code: 'ALREADY_EXISTS' });
    await a.export('localhost:5000/demo/rt:1', out, 'OCI_LAYOUT_DIR', { overwrite: true }, ctx());
    const copied = path.join(dir, 'copied');
    skopeo(['copy', '--quiet', `oci:${out}:localhost:5000/demo/rt:1`, `oci:${copied}:rt:copied`]);
    const idx = JSON.parse(readFileSync(path.join(copied, 'index.json'), 'utf8'));
    assert.equal(idx.manifests[0].digest, img.digest);
    assert.equal(idx.manifests[0].annotations[ANN_REF_NAME], 'rt:copied');
    const b = mk(path.join(dir, 'b'));
    const back = await b.importLayout!(copied, 'rt:copied', ctx());
    assert.equal(back.digest, img.digest);
    assert.deepEqual(back.manifest.layers.map((l) => l.digest), img.manifest.layers.map((l) => l.digest));
    assert.equal(sha256File(await b.baseDisk(back.digest, ctx())), d.sha256);
    // OCI archive: skopeo reads it as oci-archive.
    const tar = path.join(dir, 'img.tar');
    await a.export(img.digest, tar, 'OCI_ARCHIVE', { overwrite: false }, ctx());
    const fromTar = JSON.parse(skopeo(['inspect', '--raw', `oci-archive:${tar}:localhost:5000/demo/rt:1`]));
    assert.equal(fromTar.config.digest, img.manifest.config.digest);
  });

  it('exports the bare disk as qcow2 and raw, identical to the imported bytes', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['text', 1], ['zero', 3]]);
    const store = mk(path.join(dir, 'data'));
    await store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, chunksOf(disk), ctx());
    const q = path.join(dir, 'out.qcow2');
    await store.export('x', q, 'DISK', { overwrite: false, diskFormat: 'qcow2' }, ctx());
    execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', q, disk]);
    const r = path.join(dir, 'out.raw');
    await store.export('x', r, 'DISK', { overwrite: false, diskFormat: 'raw' }, ctx());
    assert.equal(sha256File(r), d.sha256);
    assert.ok(allocatedBytes(r) < d.size);
  });

  it('rejects relative, traversing and overwriting output paths', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['text', 1]]);
    const store = mk(path.join(dir, 'data'));
    await store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, chunksOf(disk), ctx());
    await assert.rejects(store.export('x', 'rel/out', 'OCI_LAYOUT_DIR', { overwrite: false }, ctx()), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(store.export('x', `${dir}/a/../../etc/out`, 'OCI_LAYOUT_DIR', { overwrite: true }, ctx()), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(store.export('x', `${dir}/missing/out`, 'OCI_LAYOUT_DIR', { overwrite: false }, ctx()), { code: 'NOT_FOUND' });
    writeFileSync(path.join(dir, 'exists'), 'keep');
    await assert.rejects(store.export('x', path.join(dir, 'exists'), 'DISK', { overwrite: false }, ctx()), { code: 'ALREADY_EXISTS' });
    assert.equal(readFileSync(path.join(dir, 'exists'), 'utf8'), 'keep');
    // Overwrite replaces an earlier export, never an unrelated directory or a file of another kind.
    mkdirSync(path.join(dir, 'home'));
    writeFileSync(path.join(dir, 'home', 'precious'), 'x');
    await assert.rejects(store.export('x', path.join(dir, 'home'), 'OCI_LAYOUT_DIR', { overwrite: true }, ctx()), { code: 'FAILED_PRECONDITION' });
    await assert.rejects(store.export('x', path.join(dir, 'home'), 'OCI_ARCHIVE', { overwrite: true }, ctx()), { code: 'FAILED_PRECONDITION' });
    await assert.rejects(store.export('x', path.join(dir, 'exists'), 'OCI_LAYOUT_DIR', { overwrite: true }, ctx()), { code: 'FAILED_PRECONDITION' });
    assert.ok(existsSync(path.join(dir, 'home', 'precious')));
  });

  it('stores shared windows once when two imports of the same disk race', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 2], ['zero', 1], ['text', 2]]);
    const store = mk(path.join(dir, 'data'));
    const [a, b] = await Promise.all(['one', 'two'].map((r) =>
      store.importStream({ vmfile: vmfile(), reference: r, totalSize: d.size }, chunksOf(disk), ctx())));
    assert.deepEqual(a!.manifest.layers.map((l) => l.digest), b!.manifest.layers.map((l) => l.digest));
    const blobs = readdirSync(path.join(store.paths.layout, 'blobs', 'sha256'));
    const expected = new Set([a!.digest, b!.digest, a!.manifest.config.digest, b!.manifest.config.digest, ...a!.manifest.layers.map((l) => l.digest)].map((x) => x.slice(7)));
    assert.deepEqual(new Set(blobs), expected);
    assert.equal(sha256File(await store.baseDisk(b!.digest, ctx())), d.sha256);
  });

  it('imports a VMFile from a path on the host', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    mkdirSync(vmdir);
    const d = makeRawDisk(path.join(vmdir, 'disk.img'), [['text', 1], ['zero', 1]]);
    writeFileSync(path.join(vmdir, 'VMFile.yaml'), `api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: fromfile }\nspec:\n  disk: { path: ./disk.img, format: raw }\n  resources: { memory_mb: 512, vcpu_count: 2 }\n`);
    const store = mk(path.join(dir, 'data'));
    const img = await store.importFile!(path.join(vmdir, 'VMFile.yaml'), 'fromfile:1', ctx());
    assert.equal(img.config.vmfile.spec.resources.memoryMb, 512);
    assert.equal(sha256File(await store.baseDisk(img.digest, ctx())), d.sha256);
    assert.deepEqual(readdirSync(store.paths.tmp), []);
  });

  it('a raw disk read in place stores the same windows as a streamed one, and its base disk keeps the holes', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    mkdirSync(vmdir);
    const disk = path.join(vmdir, 'disk.img');
    const d = makeRawDisk(disk, [['rand', 1], ['zero', 3], ['text', 1], ['zero', 2]]);
    writeFileSync(path.join(vmdir, 'VMFile.yaml'), `api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: fromfile }\nspec:\n  disk: { path: ./disk.img, format: raw }\n  resources: { memory_mb: 512, vcpu_count: 2 }\n`);
    const inPlace = mk(path.join(dir, 'a'));
    const streamed = mk(path.join(dir, 'b'));
    const a = await inPlace.importFile!(path.join(vmdir, 'VMFile.yaml'), 'fromfile:1', ctx());
    const b = await streamed.importStream({ vmfile: a.config.vmfile, reference: 'fromfile:1', totalSize: d.size }, chunksOf(disk), ctx());
    assert.deepEqual(a.manifest.layers.map((l) => [l.digest, l.annotations]), b.manifest.layers.map((l) => [l.digest, l.annotations]));
    const base = await inPlace.baseDisk(a.digest, ctx());
    assert.equal(sha256File(base), d.sha256);
    assert.equal(statSync(base).size, d.size);
    assert.ok(statSync(base).blocks * 512 < d.size, 'zero runs are holes in the base disk');
    assert.equal(sha256File(disk), d.sha256, 'the source is left as it was');
    assert.deepEqual(readdirSync(inPlace.paths.tmp), []);
  });

  it('a raw disk streamed in is compressed window by window while the rest of it still arrives', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 1], ['text', 1], ['zero', 1], ['text', 1]]);
    const store = mk(path.join(dir, 'data'));
    const blobs = () => readdirSync(path.join(store.paths.layout, 'blobs', 'sha256')).filter((f) => /^[0-9a-f]{64}$/.test(f)).length;
    let before = -1;
    // 256 KiB chunks: chunk 8 is asked for once the first two windows (2 MiB) are in the spool, and held back until
    // their blobs are stored. An import that compressed only after the stream ended would never store them here;
    // the wait is bounded so that such an import fails the assertion instead of hanging.
    const stream = chunksOf(disk, {
      onChunk: async (i) => {
        if (i !== 8) return;
        for (let k = 0; k < 3000 && blobs() < 2; k++) await new Promise((r) => setTimeout(r, 10));
        before = blobs();
      },
    });
    const img = await store.importStream({ vmfile: vmfile(), reference: 'early', totalSize: d.size }, stream, ctx());
    assert.equal(before, 2, 'the first two windows were stored before the rest of the disk arrived');
    assert.deepEqual(img.manifest.layers.map((l) => l.annotations?.[ANN_OFFSET]), ['0', String(MiB), String(3 * MiB)]);
    assert.equal(sha256File(await store.baseDisk(img.digest, ctx())), d.sha256);
    assert.deepEqual(readdirSync(store.paths.tmp), []);
  });

  it('a qcow2 disk read in place is converted straight into the windows, as a streamed one is', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    mkdirSync(vmdir);
    const raw = path.join(dir, 'disk.raw');
    const d = makeRawDisk(raw, [['text', 1], ['zero', 2], ['rand', 1]]);
    const qcow = path.join(vmdir, 'disk.qcow2');
    toQcow2(raw, qcow);
    writeFileSync(path.join(vmdir, 'VMFile.yaml'), `api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: fromqcow }\nspec:\n  disk: { path: ./disk.qcow2, format: qcow2 }\n  resources: { memory_mb: 512, vcpu_count: 1 }\n`);
    const inPlace = mk(path.join(dir, 'a'));
    const streamed = mk(path.join(dir, 'b'));
    const a = await inPlace.importFile!(path.join(vmdir, 'VMFile.yaml'), 'fromqcow:1', ctx());
    const b = await streamed.importStream({ vmfile: a.config.vmfile, reference: 'fromqcow:1', totalSize: statSync(qcow).size }, chunksOf(qcow), ctx());
    assert.deepEqual(a.manifest.layers.map((l) => l.digest), b.manifest.layers.map((l) => l.digest));
    assert.equal(a.config.disks[0]!.sourceFormat, 'qcow2');
    assert.equal(sha256File(await inPlace.baseDisk(a.digest, ctx())), d.sha256);
    assert.deepEqual(readdirSync(inPlace.paths.tmp), []);
  });
});
