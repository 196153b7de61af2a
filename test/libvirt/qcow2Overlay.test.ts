// The in-process qcow2 overlay (vm/overlay.ts, qcow2Overlay.ts) as QEMU's own tools see it: `qemu-img check`
// finds no errors or leaks, `qemu-img info` names the raw backing file and the size, and through qemu-io the
// overlay reads the base's bytes and takes writes without touching the base.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { requireService } from '../support/services.js';
import { createOverlay } from '../../src/plugins/libvirt/vm/overlay.js';
import { qcow2Overlay } from '../../src/plugins/libvirt/vm/qcow2Overlay.js';

const pexec = promisify(execFile);
const GiB = 1024 ** 3;

before(() => requireService('packages'));

async function info(file: string): Promise<{ 'virtual-size': number; format: string; 'backing-filename': string; 'backing-filename-format': string; 'cluster-size': number }> {
  return JSON.parse((await pexec('qemu-img', ['info', '--output=json', file])).stdout);
}

async function check(file: string): Promise<void> {
  const { stdout } = await pexec('qemu-img', ['check', '--output=json', file]);
  const r = JSON.parse(stdout) as { 'check-errors': number; leaks?: number; corruptions?: number };
  assert.equal(r['check-errors'], 0, stdout);
  assert.equal(r.leaks ?? 0, 0, stdout);
  assert.equal(r.corruptions ?? 0, 0, stdout);
}

test('overlays of several sizes pass qemu-img check and name their raw backing file', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-qcow2-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base.raw');
  await fs.writeFile(base, '');
  await fs.truncate(base, 4 * GiB + 1000); // not a multiple of 512: rounded up, as qemu-img does
  for (const [name, sizeGb, want] of [['same', 0, 4 * GiB + 1024], ['grown', 10, 10 * GiB], ['huge', 3000, 3000 * GiB]] as const) {
    const ov = path.join(dir, `${name}.qcow2`);
    await createOverlay({ basePath: base, overlayPath: ov, sizeGb });
    assert.equal((await fs.stat(ov)).mode & 0o777, 0o600, 'private until VmFiles.secure');
    await check(ov);
    const i = await info(ov);
    assert.deepEqual([i.format, i['virtual-size'], i['backing-filename'], i['backing-filename-format'], i['cluster-size']], ['qcow2', want, base, 'raw', 65536]);
  }
  await assert.rejects(createOverlay({ basePath: base, overlayPath: path.join(dir, 'same.qcow2'), sizeGb: 0 }), { code: 'EEXIST' });
  await assert.rejects(createOverlay({ basePath: path.join(dir, 'gone.raw'), overlayPath: path.join(dir, 'x.qcow2'), sizeGb: 0 }), { code: 'FAILED_PRECONDITION' });
  assert.throws(() => qcow2Overlay('x'.repeat(1024), GiB), /backing file name/);
});

test('through qemu-io the overlay reads the base and keeps its own writes; the base is untouched', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-qcow2-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const base = path.join(dir, 'base.raw');
  await fs.writeFile(base, Buffer.alloc(8 << 20, 0x5a));
  const baseSum = createHash('sha256').update(await fs.readFile(base)).digest('hex');
  const ov = path.join(dir, 'ov.qcow2');
  await createOverlay({ basePath: base, overlayPath: ov, sizeGb: 0 });
  const io = (cmd: string) => pexec('qemu-io', ['-f', 'qcow2', '-c', cmd, ov]);
  await io('read -P 0x5a 0 8M');
  await io('write -P 0xab 1M 64k');
  await io('read -P 0xab 1M 64k');
  await io('read -P 0x5a 0 1M');
  await assert.rejects(io('read -P 0x5a 1M 64k'), 'the write is in the overlay');
  await check(ov);
  assert.equal(createHash('sha256').update(await fs.readFile(base)).digest('hex'), baseSum);
});
