// SystemCheck / `vmr system check`: re-verification finds corrupt blobs and base disks and lists orphans.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fakeLibvirtPlugin, startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { repoRoot, requireService } from '../support/services.js';

const pexec = promisify(execFile);
const vmfile = { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'chk' },
  spec: { disk: { path: 'chk.raw', format: 'raw' }, resources: { memoryMb: 128, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } } };

async function flipByte(file: string, at: number) {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

describe('system check', () => {
  let td: TestDaemon;
  before(async () => {
    await requireService('packages');
    td = await startTestDaemon({ plugins: [fakeLibvirtPlugin()] });
  });
  after(async () => { await td?.stop(); });

  it('passes on a healthy store, then finds a corrupt blob, a corrupt base disk and an orphan', async () => {
    const disk = Buffer.concat([randomBytes(1 << 20), Buffer.alloc(1 << 20)]);
    const img = await td.client.call('ImportImage', { vmfile, diskData: disk, reference: 'chk:1' });
    await td.client.call('RunVM', { image: 'chk:1', name: 'chk-vm' }); // makes the base disk
    const healthy = await td.client.call('SystemCheck', { verifyDisks: true });
    assert.equal(healthy.ok, true, JSON.stringify(healthy));
    assert.ok(Number(healthy.checkedBlobs) >= 3);
    assert.equal(healthy.checkedDisks, '1');
    assert.deepEqual([healthy.orphanBlobs, healthy.orphanManifests, healthy.orphanDisks], [[], [], []]);

    const blobDir = path.join(td.dataDir, 'images', 'oci', 'blobs', 'sha256');
    const manifest = JSON.parse((await td.client.call('GetImageManifest', { reference: 'chk:1' })).manifestJson);
    const layer = manifest.layers[0].digest as string;
    await flipByte(path.join(blobDir, layer.slice(7)), 10);
    const baseDisk = path.join(td.dataDir, 'images', 'disks', `${img.digest.slice(7)}.raw`);
    await flipByte(baseDisk, 100);
    const orphan = Buffer.from('nobody references me');
    const orphanHex = createHash('sha256').update(orphan).digest('hex');
    await writeFile(path.join(blobDir, orphanHex), orphan);

    const bad = await td.client.call('SystemCheck', { verifyDisks: true });
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.corruptBlobs, [layer]);
    assert.equal(bad.corruptDisks.length, 1);
    assert.match(bad.corruptDisks[0], /window at offset 0 does not match/);
    assert.deepEqual(bad.orphanBlobs, [`sha256:${orphanHex}`]);
    assert.ok((await readdir(blobDir)).includes(orphanHex), 'check never removes anything');

    const vmr = (args: string[]) => pexec(process.execPath, [path.join(repoRoot, 'dist/src/bin/vmr.js'), '--host', `unix://${td.socket}`, ...args])
      .then((r) => ({ code: 0, ...r }), (e: any) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }));
    const human = await vmr(['system', 'check']);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^PROBLEMS FOUND: \d+ blobs and 1 base disks checked/);
    assert.match(human.stdout, new RegExp(`corrupt blob: ${layer}`));
    const json = JSON.parse((await vmr(['--json', 'system', 'check'])).stdout);
    assert.equal(json.ok, false);
  });
});
