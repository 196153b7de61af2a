// The window codecs as the store runs them (issue 17): zstd reads and writes the files itself, the
// daemon checks only what zstd reports; a source that changes while it is imported stores nothing;
// base disks are synced after they are published, and a disk from an earlier boot that never was is
// removed at start.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore } from '../../src/core/images/index.js';
import { HostPaths } from '../../src/core/hostfs/HostPaths.js';
import { zstdDecompressInto } from '../../src/core/images/childJobs.js';
import { publishDisk, settleDisks, sweepDisks } from '../../src/core/images/durableLater.js';
import { MiB, ctx, makeRawDisk, sha256File, tempDir, writeVMFile } from './helpers.js';

const mk = (dataDir: string, codec = 'zstd', zstdBinding?: boolean, concurrency = 2, windowSize = MiB) => new OciImageStore({
  dataDir, windowSize, codec, zstdBinding, concurrency, gcGraceMs: 0,
  hostPaths: new HostPaths({ dataDir, import: [path.dirname(dataDir)], export: [path.dirname(dataDir)] }),
});

describe('window codecs and base-disk durability', () => {
  before(() => requireService('packages'));

  const compressed = (dir: string, layout: Array<['rand' | 'zero' | 'text', number]>) => {
    const raw = path.join(dir, 'w.raw');
    const d = makeRawDisk(raw, layout);
    execFileSync('zstd', ['-q', '-f', raw, '-o', `${raw}.zst`]);
    return { raw, blob: `${raw}.zst`, ...d };
  };

  it('decompresses a window at its offset, sparse, and refuses one of another size or a corrupt frame', async (t) => {
    const dir = tempDir(t);
    const w = compressed(dir, [['text', 1], ['zero', 2], ['rand', 1]]);
    const disk = path.join(dir, 'disk.raw');
    writeFileSync(disk, Buffer.alloc(0));
    execFileSync('truncate', ['-s', String(w.size + 3 * MiB), disk]);
    const ok = await zstdDecompressInto(w.blob, disk, 2 * MiB, w.size, true, 'window at 2 MiB');
    assert.equal(await ok.done, w.size);
    const back = readFileSync(disk).subarray(2 * MiB, 2 * MiB + w.size);
    assert.deepEqual(back, readFileSync(w.raw));
    assert.ok(readFileSync(disk).subarray(0, 2 * MiB).every((b) => b === 0), 'bytes before the offset untouched');
    assert.ok(statSync(disk).blocks * 512 < statSync(disk).size, 'zero blocks stay holes');

    const small = await zstdDecompressInto(w.blob, disk, 0, w.size - 1, true, 'short window');
    await assert.rejects(small.done, (err: { code: string; message: string }) => err.code === 'DATA_LOSS' && /more than/.test(err.message));
    // The kernel stops zstd at the window's end (RLIMIT_FSIZE): the next window's bytes stay as they were.
    const next = path.join(dir, 'next.raw');
    writeFileSync(next, Buffer.alloc(w.size + 8192, 0xab));
    const spill = await zstdDecompressInto(w.blob, next, 0, w.size - 8192, true, 'window followed by another');
    await assert.rejects(spill.done, (err: { code: string; message: string }) => err.code === 'DATA_LOSS' && /more than/.test(err.message));
    assert.ok(readFileSync(next).subarray(w.size - 8192).every((b) => b === 0xab), 'nothing written past the window');
    const big = await zstdDecompressInto(w.blob, disk, 0, w.size + 5, true, 'long window');
    await assert.rejects(big.done, (err: { code: string; message: string }) => err.code === 'DATA_LOSS' && new RegExp(`to ${w.size} bytes, expected ${w.size + 5}`).test(err.message));

    const bad = Buffer.from(readFileSync(w.blob));
    bad[bad.length - 2]! ^= 0xff; // inside the frame's content checksum
    writeFileSync(`${w.blob}.bad`, bad);
    const corrupt = await zstdDecompressInto(`${w.blob}.bad`, disk, 0, w.size, true, 'corrupt window');
    await assert.rejects(corrupt.done, { code: 'DATA_LOSS' });
  });

  it('a window that starts with zeros is the same blob from the binding (zeros hashed once data comes) and the binary', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    mkdirSync(vmdir);
    // 2 MiB windows: zeros then text, all zeros (left out), random then zeros.
    makeRawDisk(path.join(vmdir, 'disk.img'), [['zero', 1], ['text', 1], ['zero', 2], ['rand', 1], ['zero', 1]]);
    const bytes = readFileSync(path.join(vmdir, 'disk.img'));
    const vmfile = writeVMFile(vmdir, './disk.img', 'raw');
    const layers = [];
    for (const binding of [true, false]) {
      const store = mk(path.join(dir, `data-${binding}`), 'zstd', binding, 2, 2 * MiB);
      const img = await store.importFile!(vmfile, 'z:1', ctx());
      layers.push(img.manifest.layers.map((l) => [l.digest, l.annotations]));
      assert.deepEqual(img.manifest.layers.map((l) => l.annotations!['io.vmregistry.chunk.offset']), ['0', String(4 * MiB)]);
      for (const l of img.manifest.layers) {
        const off = Number(l.annotations!['io.vmregistry.chunk.offset']);
        const window = bytes.subarray(off, off + 2 * MiB);
        assert.equal(l.annotations!['io.vmregistry.chunk.uncompressed-digest'], `sha256:${createHash('sha256').update(window).digest('hex')}`);
        assert.deepEqual(execFileSync('zstd', ['-dc', path.join(store.paths.layout, 'blobs', 'sha256', l.digest.slice(7))], { maxBuffer: 4 * MiB }), window);
      }
    }
    assert.deepEqual(layers[0], layers[1], 'binding and binary agree');
  });

  it('gzip windows, and zstd ones from the binding and from the binary, make the same disk', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    mkdirSync(vmdir);
    const d = makeRawDisk(path.join(vmdir, 'disk.img'), [['text', 1], ['zero', 2], ['rand', 1], ['text', 1]]);
    const vmfile = writeVMFile(vmdir, './disk.img', 'raw');
    const store = mk(path.join(dir, 'data'), 'gzip');
    const img = await store.importFile!(vmfile, 'gz:1', ctx());
    assert.ok(img.manifest.layers.every((l) => l.mediaType.endsWith('+gzip')));
    assert.equal(img.manifest.layers.length, 3, 'the all-zero windows are left out');
    await settleDisks();
    const disk = await store.baseDisk(img.digest, ctx());
    assert.equal(sha256File(disk), d.sha256);
    // Assembled again from the stored gzip blobs.
    rmSync(disk);
    assert.equal(sha256File(await store.baseDisk(img.digest, ctx())), d.sha256);
    const annotations = img.manifest.layers.map((l) => l.annotations);
    const digests = new Map<string, string[]>();
    // The binding and the binary write the same blobs (so the same disk gets the same image digest with or without
    // the binding): single-threaded with more windows than workers, with zstd's workers (3 each) with fewer.
    for (const [binding, concurrency] of [[true, 2], [false, 2], [true, 16], [false, 16]] as const) {
      const zstore = mk(path.join(dir, `zdata-${binding}-${concurrency}`), 'zstd', binding, concurrency);
      const zimg = await zstore.importFile!(vmfile, 'z:1', ctx());
      assert.deepEqual(zimg.manifest.layers.map((l) => l.annotations), annotations, `binding ${binding}`);
      digests.set(`binding ${binding}, ${concurrency} workers`, zimg.manifest.layers.map((l) => l.digest));
      for (const l of zimg.manifest.layers) {
        const blob = path.join(zstore.paths.layout, 'blobs', 'sha256', l.digest.slice(7));
        assert.equal(sha256File(blob), l.digest.slice(7), 'the blob is stored under its digest');
        assert.equal(statSync(blob).size, l.size);
        const off = Number(l.annotations!['io.vmregistry.chunk.offset']);
        assert.deepEqual(execFileSync('zstd', ['-dc', blob]), readFileSync(path.join(vmdir, 'disk.img')).subarray(off, off + MiB), `binding ${binding}, window at ${off}`);
      }
    }
    for (const concurrency of [2, 16]) {
      assert.deepEqual(digests.get(`binding false, ${concurrency} workers`), digests.get(`binding true, ${concurrency} workers`), `${concurrency} workers`);
    }
  });

  it('an in-place import whose source changes while it is read stores nothing', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    mkdirSync(vmdir);
    const disk = path.join(vmdir, 'disk.img');
    makeRawDisk(disk, [['text', 2], ['rand', 2]]);
    const vmfile = writeVMFile(vmdir, './disk.img', 'raw');
    const store = mk(path.join(dir, 'data'));
    let touched = false;
    const c = ctx(undefined, (p) => {
      if (p.phase === 'compress' && !touched && (p.current ?? 0) > 0) {
        touched = true;
        appendFileSync(disk, Buffer.alloc(4096, 1)); // the user writes to the disk meanwhile
      }
    });
    await assert.rejects(store.importFile!(vmfile, 'changing:1', c),
      (err: { code: string; message: string }) => err.code === 'FAILED_PRECONDITION' && /changed while it was read/.test(err.message));
    assert.ok(touched);
    assert.deepEqual(readdirSync(path.join(store.paths.layout, 'blobs', 'sha256')), []);
    assert.deepEqual(readdirSync(store.paths.disks), []);
  });

  it('publishes a disk before its sync, and at start removes one an earlier boot never synced', async (t) => {
    const dir = tempDir(t);
    const tmp = path.join(dir, '.d.tmp');
    writeFileSync(tmp, 'disk bytes');
    const disk = path.join(dir, 'a.raw');
    await publishDisk(tmp, disk);
    assert.equal(readFileSync(disk, 'utf8'), 'disk bytes');
    await settleDisks();
    assert.deepEqual(readdirSync(dir), ['a.raw'], 'the marker goes once the disk is synced');

    // A marker of this boot (the daemon restarted): kept and synced; of another boot: removed.
    const thisBoot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8');
    writeFileSync(path.join(dir, 'b.raw'), 'b');
    writeFileSync(path.join(dir, '.b.raw.unsynced'), thisBoot);
    writeFileSync(path.join(dir, 'c.raw'), 'torn');
    writeFileSync(path.join(dir, '.c.raw.unsynced'), '00000000-0000-0000-0000-000000000000\n');
    writeFileSync(path.join(dir, '.gone.raw.unsynced'), 'another boot\n');
    assert.deepEqual(await sweepDisks(dir), [path.join(dir, 'c.raw')]);
    await settleDisks();
    assert.deepEqual(readdirSync(dir).sort(), ['a.raw', 'b.raw']);
  });

  it('a pulled or imported image whose base disk was lost to a machine restart gets it back from its blobs', async (t) => {
    const dir = tempDir(t);
    const vmdir = path.join(dir, 'vm');
    mkdirSync(vmdir);
    const src = path.join(vmdir, 'disk.img');
    const d = makeRawDisk(src, [['text', 1], ['zero', 1], ['rand', 1]]);
    const dataDir = path.join(dir, 'data');
    const img = await mk(dataDir).importFile!(writeVMFile(vmdir, './disk.img', 'raw'), 'restart:1', ctx());
    await settleDisks();
    const store = mk(dataDir);
    const disk = path.join(store.paths.disks, `${img.digest.slice(7)}.raw`);
    writeFileSync(disk, 'torn by a power cut');
    writeFileSync(path.join(store.paths.disks, `.${img.digest.slice(7)}.raw.unsynced`), 'an earlier boot\n');
    await store.init();
    assert.equal(existsSync(disk), false);
    assert.equal(sha256File(await store.baseDisk(img.digest, ctx())), d.sha256);
  });
});
