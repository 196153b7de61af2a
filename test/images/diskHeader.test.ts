// Disks are data, never references: hostile headers (qcow2 data-file, backing file, vmdk extents,
// other formats, corrupted headers) are INVALID_ARGUMENT naming the header field, and nothing is stored.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { classifyHeader } from '../../src/core/images/diskHeader.js';
import { isVmrError } from '../../src/core/errors.js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { requireService } from '../support/services.js';
import { MiB, makeRawDisk, tempDir } from './helpers.js';

const wireVMFile = (format: string) => ({
  apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'hostile' },
  spec: { disk: { path: 'disk', format }, resources: { memoryMb: 256, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } },
});

function* streamOf(data: Buffer, format: string) {
  yield { header: { vmfile: wireVMFile(format), reference: 'hostile:1', totalSize: String(data.length) } };
  for (let off = 0; off < data.length; off += 256 * 1024) yield { chunk: data.subarray(off, off + 256 * 1024) };
}

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: ['ignore', 'ignore', 'pipe'] });

describe('hostile disk headers', () => {
  let d: TestDaemon;
  let dir: string;
  const files: Record<string, { file: string; format: string; field: RegExp }> = {};
  before(async () => {
    await requireService('packages');
    dir = tempDir(undefined, 'vmr-hostile-');
    const secret = path.join(dir, 'secret.txt');
    writeFileSync(secret, 'root:x:0:0:secret\n'.repeat(4096));
    makeRawDisk(path.join(dir, 'base.raw'), [['text', 1]]);
    const add = (name: string, format: string, field: RegExp) => { files[name] = { file: path.join(dir, name), format, field }; };
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${secret},data_file_raw=on`, path.join(dir, 'datafile.qcow2'), '1M');
    add('datafile.qcow2', 'qcow2', /data-file/);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', path.join(dir, 'base.raw'), '-F', 'raw', path.join(dir, 'backing.qcow2'));
    add('backing.qcow2', 'qcow2', /backing-filename/);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', secret, '-F', 'raw', path.join(dir, 'backing-secret.qcow2'), '1M');
    add('backing-secret.qcow2', 'qcow2', /backing-filename/);
    writeFileSync(path.join(dir, 'extent.vmdk'), `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "${secret}" 0\n`);
    add('extent.vmdk', 'raw', /format/);
    qemuImg('create', '-q', '-f', 'vmdk', path.join(dir, 'sparse.vmdk'), '1M');
    add('sparse.vmdk', 'raw', /format/);
    qemuImg('create', '-q', '-f', 'vdi', path.join(dir, 'disk.vdi'), '1M');
    add('disk.vdi', 'raw', /format/);
    qemuImg('create', '-q', '-f', 'qed', path.join(dir, 'disk.qed'), '1M');
    add('disk.qed', 'raw', /format/);
    qemuImg('create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic', path.join(dir, 'disk.vhd'), '1M');
    add('disk.vhd', 'raw', /format/);
    // A clean qcow2 with its header then corrupted in several ways.
    qemuImg('create', '-q', '-f', 'qcow2', path.join(dir, 'clean.qcow2'), '1M');
    const clean = readFileSync(path.join(dir, 'clean.qcow2'));
    const mutate = (name: string, fieldRe: RegExp, edit: (b: Buffer) => void) => {
      const b = Buffer.from(clean);
      edit(b);
      writeFileSync(path.join(dir, name), b);
      add(name, 'qcow2', fieldRe);
    };
    mutate('incompat-datafile-bit.qcow2', /data-file/, (b) => b.writeBigUInt64BE(1n << 2n, 72));
    mutate('unknown-incompat.qcow2', /incompatible-features/, (b) => b.writeBigUInt64BE(1n << 40n, 72));
    mutate('backing-offset.qcow2', /backing-filename/, (b) => { b.writeBigUInt64BE(0x200n, 8); b.writeUInt32BE(11, 16); b.write('/etc/shadow', 0x200); });
    mutate('encrypted.qcow2', /encrypt/, (b) => b.writeUInt32BE(1, 32));
    mutate('version-1.qcow2', /version/, (b) => b.writeUInt32BE(1, 4));
    mutate('version-9.qcow2', /version/, (b) => b.writeUInt32BE(9, 4));
    mutate('cluster-bits.qcow2', /cluster_bits/, (b) => b.writeUInt32BE(40, 20));
    mutate('header-length.qcow2', /header_length/, (b) => b.writeUInt32BE(1 << 30, 100));
    mutate('data-ext.qcow2', /data-file/, (b) => {
      const at = b.readUInt32BE(100);
      b.writeUInt32BE(0x44415441, at); b.writeUInt32BE(11, at + 4); b.write('/etc/shadow', at + 8); b.writeUInt32BE(0, at + 24);
    });
    writeFileSync(path.join(dir, 'truncated.qcow2'), clean.subarray(0, 40));
    add('truncated.qcow2', 'qcow2', /header/);
    d = await startTestDaemon({ config: { images: { windowSizeMiB: 1 } } });
  });
  after(async () => {
    await d?.stop();
  });

  it('refuses each as INVALID_ARGUMENT naming the header field, and stores nothing', async () => {
    for (const [name, c] of Object.entries(files)) {
      await assert.rejects(d.client.clientStream('ImportImageStream', streamOf(readFileSync(c.file), c.format)), (e: { code: number; details: string; metadata: { get(k: string): unknown[] } }) => {
        assert.equal(e.code, status.INVALID_ARGUMENT, `${name}: ${e.code} ${e.details}`);
        const issues = JSON.parse(String(e.metadata.get('vmr-issues-bin')[0] ?? '[]')) as Array<{ path: string }>;
        assert.match(`${issues.map((i) => i.path).join(',')} ${e.details}`, c.field, `${name}: ${e.details}`);
        assert.doesNotMatch(e.details, /root:x:0:0/, 'no byte of the referenced file in the answer');
        return true;
      }, name);
    }
    assert.deepEqual((await d.client.call('ListLocalImages')).images ?? [], []);
    assert.deepEqual(readdirSync(path.join(d.dataDir, 'images', 'oci', 'blobs', 'sha256')), [], 'no blob stored');
    assert.deepEqual(readdirSync(path.join(d.dataDir, 'images', 'tmp')), [], 'no work file left');
  });

  it('still takes raw and clean qcow2 disks', async () => {
    const raw = readFileSync(path.join(dir, 'base.raw'));
    await d.client.clientStream('ImportImageStream', streamOf(raw, 'raw'));
    const q = path.join(dir, 'clean-full.qcow2');
    qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', path.join(dir, 'base.raw'), q);
    const res = await d.client.clientStream<{ digest: string }>('ImportImageStream', streamOf(readFileSync(q), 'qcow2'));
    const back = await d.client.call('GetImageManifest', { reference: res.digest });
    assert.equal(JSON.parse(back.configJson).disks[0].virtualSize, MiB);
  });

  it('fuzz: mutated qcow2 headers are refused with a domain error or accepted as data, never anything else', async () => {
    const clean = readFileSync(path.join(dir, 'clean.qcow2'));
    let seed = 0x5eed;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(clean.subarray(0, 4096));
      const n = 1 + Math.floor(rnd() * 4);
      for (let j = 0; j < n; j++) b[Math.floor(rnd() * 256)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.1 ? Math.floor(rnd() * 200) : b.length;
      const head = b.subarray(0, cut);
      try {
        const v = await classifyHeader(head, async (pos, len) => b.subarray(pos, pos + len), clean.length);
        // Accepted: it must not say "external data" anywhere a later reader would look.
        if (v.format === 'qcow2') {
          assert.equal(head.readBigUInt64BE(8), 0n);
          assert.equal(head.readBigUInt64BE(72) & 4n, 0n);
        }
      } catch (err) {
        assert.ok(isVmrError(err) && err.code === 'INVALID_ARGUMENT', `mutation ${i}: ${String(err)}`);
      }
    }
  });
});
