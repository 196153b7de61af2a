// The containerDisk layer walk (issue 20) on tars made here: whiteouts, several layers, bad members.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { decompressLayer, extractDisk, layerCompression, tarHeader, tarPadding } from '../../src/core/images/containerDisk/index.js';
import { isVmrError } from '../../src/core/errors.js';

const pexec = promisify(execFile);
const never = new AbortController().signal;

/** A tar of `files` (path → content, or 'dir'/'symlink:target') made by GNU tar from a temp tree. */
async function tarOf(tmp: string, files: Record<string, string | Buffer>): Promise<Buffer> {
  const root = await mkdtemp(path.join(tmp, 'tree-'));
  for (const [p, c] of Object.entries(files)) {
    const abs = path.join(root, p);
    await mkdir(path.dirname(abs), { recursive: true });
    if (c === 'dir') await mkdir(abs, { recursive: true });
    else if (typeof c === 'string' && c.startsWith('symlink:')) await symlink(c.slice(8), abs);
    else await writeFile(abs, c);
  }
  const out = path.join(tmp, `${path.basename(root)}.tar`);
  await pexec('tar', ['-cf', out, '-C', root, '--sort=name', '.']);
  return readFile(out);
}

/** A tar of hand-made headers (for members GNU tar would not write from a tree). */
function rawTar(members: Array<{ name: string; type: '0' | '5'; data?: Buffer; typeOverride?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = m.data ?? Buffer.alloc(0);
    const h = tarHeader({ name: m.name, size: data.length, mode: 0o644, uid: 0, gid: 0, type: m.type });
    if (m.typeOverride) {
      h.write(m.typeOverride, 156, 1, 'latin1');
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    }
    parts.push(h, data, tarPadding(data.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function* chunksOf(b: Buffer, size = 777): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

const layers = (...tars: Buffer[]) => tars.map((t, i) => ({ what: `layer ${i + 1}`, open: () => chunksOf(t) }));

async function refused(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isVmrError(err), String(err));
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

describe('containerDisk extraction', () => {
  let tmp: string;
  let work: string;
  let n = 0;
  before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-cdisk-')); });
  after(async () => { await rm(tmp, { recursive: true, force: true }); });
  const newWork = async () => { work = path.join(tmp, `work-${n++}`); await mkdir(work); return work; };

  const disk = Buffer.concat([Buffer.from('QFI\xfbpretend'), Buffer.alloc(3 << 20), Buffer.from('tail')]);

  it('takes the one file under /disk/ of a single layer, content intact and sparse', async () => {
    const t = await tarOf(tmp, { 'disk/disk.qcow2': disk, 'etc/hostname': 'x\n' });
    const d = await extractDisk(layers(t), await newWork(), never);
    assert.equal(d.imagePath, 'disk/disk.qcow2');
    assert.equal(d.size, disk.length);
    assert.deepEqual(await readFile(d.file), disk);
  });

  it('applies a later layer\'s whiteout and its own disk (the last layer wins)', async () => {
    const l1 = await tarOf(tmp, { 'disk/old.qcow2': 'old disk' });
    const l2 = await tarOf(tmp, { 'disk/.wh.old.qcow2': '', 'disk/new.img': 'new disk' });
    const d = await extractDisk(layers(l1, l2), await newWork(), never);
    assert.equal(d.imagePath, 'disk/new.img');
    assert.equal((await readFile(d.file)).toString(), 'new disk');
    assert.deepEqual(await readdir(work), [path.basename(d.file)], 'the whited-out disk is removed from the work dir');
  });

  it('an opaque whiteout empties /disk/ of the layers below; a later file replaces one of the same path', async () => {
    const l1 = await tarOf(tmp, { 'disk/a.qcow2': 'a', 'disk/b.qcow2': 'b' });
    const l2 = await tarOf(tmp, { 'disk/.wh..wh..opq': '', 'disk/c.raw': 'c1' });
    const l3 = await tarOf(tmp, { 'disk/c.raw': 'c2' });
    const d = await extractDisk(layers(l1, l2, l3), await newWork(), never);
    assert.equal(d.imagePath, 'disk/c.raw');
    assert.equal((await readFile(d.file)).toString(), 'c2');
  });

  it('refuses an image without a disk, naming a disk found outside /disk/', async () => {
    const t = await tarOf(tmp, { 'images/disk.qcow2': 'x', 'README': 'y' });
    await refused(extractDisk(layers(t), await newWork(), never), 'INVALID_ARGUMENT', /no disk under \/disk\/.*\/images\/disk\.qcow2/);
    assert.deepEqual(await readdir(work), []);
  });

  it('refuses two disks, naming both, and leaves no file behind', async () => {
    const t = await tarOf(tmp, { 'disk/a.qcow2': 'a', 'disk/b.img': 'b' });
    await refused(extractDisk(layers(t), await newWork(), never), 'INVALID_ARGUMENT', /2 files under \/disk\/ \(\/disk\/a\.qcow2, \/disk\/b\.img\)/);
    assert.deepEqual(await readdir(work), []);
  });

  it('refuses path traversal, device files, FIFOs, sparse members and a symlinked disk', async () => {
    await refused(extractDisk(layers(rawTar([{ name: 'disk/../../etc/passwd', type: '0', data: Buffer.from('x') }])), await newWork(), never),
      'INVALID_ARGUMENT', /leaves the image root \(path traversal\)/);
    await refused(extractDisk(layers(rawTar([{ name: 'dev/sda', type: '0', typeOverride: '4' }])), await newWork(), never),
      'INVALID_ARGUMENT', /"dev\/sda" is a device file/);
    await refused(extractDisk(layers(rawTar([{ name: 'disk/pipe', type: '0', typeOverride: '6' }])), await newWork(), never),
      'INVALID_ARGUMENT', /is a FIFO/);
    await refused(extractDisk(layers(rawTar([{ name: 'disk/disk.img', type: '0', typeOverride: 'S' }])), await newWork(), never),
      'INVALID_ARGUMENT', /type "S" \(e\.g\. GNU sparse\)/);
    const t = await tarOf(tmp, { 'disk/disk.qcow2': 'symlink:/etc/passwd' });
    await refused(extractDisk(layers(t), await newWork(), never), 'INVALID_ARGUMENT', /symbolic link; the disk under \/disk\/ must be a regular file/);
  });

  it('refuses a truncated tar and one with a corrupt header', async () => {
    const t = await tarOf(tmp, { 'disk/disk.qcow2': disk });
    await refused(extractDisk(layers(t.subarray(0, 4096)), await newWork(), never), 'INVALID_ARGUMENT', /ends inside the data of "\.\/disk\/disk\.qcow2"/);
    const broken = Buffer.from(t);
    broken[0] ^= 0xff;
    await refused(extractDisk(layers(broken), await newWork(), never), 'INVALID_ARGUMENT', /wrong checksum/);
  });

  it('decompresses gzip and zstd layers by media type', async () => {
    const t = await tarOf(tmp, { 'disk/disk.img': disk });
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
    assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
    assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar'), 'none');
    assert.equal(layerCompression('application/vnd.vmregistry.disk.v1.raw+zstd'), undefined);
    const zpath = path.join(tmp, 'layer.tar.zst');
    await writeFile(path.join(tmp, 'layer.tar'), t);
    await pexec('zstd', ['-q', '-f', path.join(tmp, 'layer.tar'), '-o', zpath]);
    for (const [kind, open] of [
      ['gzip', () => decompressLayer(chunksOf(gzipSync(t)), 'gzip', 'gz layer', never)],
      ['zstd', () => decompressLayer(createReadStream(zpath) as AsyncIterable<Buffer>, 'zstd', 'zstd layer', never)],
    ] as const) {
      const d = await extractDisk([{ what: kind, open }], await newWork(), never);
      assert.deepEqual(await readFile(d.file), disk, kind);
    }
    await refused(extractDisk([{ what: 'x', open: () => decompressLayer(chunksOf(t), 'zstd', 'layer 1', never) }], await newWork(), never),
      'INVALID_ARGUMENT', /layer 1 is not valid zstd/);
    await refused(extractDisk([{ what: 'x', open: () => decompressLayer(chunksOf(t), 'gzip', 'layer 1', never) }], await newWork(), never),
      'INVALID_ARGUMENT', /layer 1 is not valid gzip/);
  });
});
