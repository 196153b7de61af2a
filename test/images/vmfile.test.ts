import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore, validateVMFile } from '../../src/core/images/index.js';
import { makeRawDisk, tempDir, toQcow2 } from './helpers.js';

const GOOD = `api_version: vmregistry.io/v1alpha1
kind: VMFile
metadata:
  name: debian-12
  description: Debian 12
  labels: { os: debian }
spec:
  disk: { path: ./disk.qcow2, format: qcow2 }
  resources: { memory_mb: 1024, vcpu_count: 2, disk_size_gb: 1 }
  os: { architecture: x86_64, firmware: bios }
`;

function fixture(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const vm = path.join(dir, 'vm');
  mkdirSync(vm);
  makeRawDisk(path.join(vm, 'disk.raw'), [['text', 1]]);
  toQcow2(path.join(vm, 'disk.raw'), path.join(vm, 'disk.qcow2'));
  return { dir, vm };
}

describe('VMFile validation', () => {
  // qemu-img, skopeo and zstd come from Debian packages (scripts/services/apt-packages.sh).
  before(() => requireService('packages'));

  it('accepts a valid YAML VMFile and its JSON twin', async (t) => {
    const { vm } = fixture(t);
    const v = await validateVMFile(GOOD, vm);
    assert.deepEqual(v.errors, []);
    assert.equal(v.vmfile?.metadata.name, 'debian-12');
    assert.equal(v.vmfile?.spec.resources.memoryMb, 1024);
    assert.equal(v.diskInfo?.format, 'qcow2');
    const json = JSON.stringify({ apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'j' }, spec: { disk: { path: 'disk.raw', format: 'raw' }, resources: { memoryMb: 64, vcpuCount: 1 } } }, null, 2);
    const j = await validateVMFile(json, vm);
    assert.deepEqual(j.errors, []);
    assert.equal(j.vmfile?.spec.os.firmware, 'bios');
  });

  it('reports every problem at once, with field paths and lines', async (t) => {
    const { vm } = fixture(t);
    const bad = `api_version: vmregistry.io/v2
kind: VMFiles
metadata:
  name: Not_Valid!
  labels: { os: 12 }
spec:
  disk: { path: ./disk.qcow2, format: raw }
  resources:
    memory_mb: -1
    vcpu_count: 100000
    disk_size_gb: "20G"
  os: { architecture: sparc, firmware: coreboot }
  extra: 1
`;
    const v = await validateVMFile(bad, vm);
    const got = Object.fromEntries(v.errors.map((e) => [e.path, e.line]));
    assert.deepEqual(got, {
      api_version: 1,
      kind: 2,
      'metadata.name': 4,
      'metadata.labels.os': 5,
      'spec.disk.format': 7,
      'spec.resources.memory_mb': 9,
      'spec.resources.vcpu_count': 10,
      'spec.resources.disk_size_gb': 11,
      'spec.os.architecture': 12,
      'spec.os.firmware': 12,
    });
    assert.ok(v.errors.find((e) => e.path === 'spec.disk.format')!.message.includes('the file is qcow2'));
    assert.deepEqual(v.warnings.map((w) => [w.path, w.line]), [['spec.extra', 13]]);
    assert.equal(v.vmfile, undefined);
  });

  it('reports syntax errors with their line and a missing disk', async (t) => {
    const { vm } = fixture(t);
    const v = await validateVMFile('api_version: x\nkind: [unclosed\n', vm);
    assert.ok(v.errors.length > 0 && v.errors.every((e) => typeof e.line === 'number'));
    const m = await validateVMFile(GOOD.replace('./disk.qcow2', './nope.qcow2'), vm);
    assert.deepEqual(m.errors.map((e) => [e.path, e.line]), [['spec.disk.path', 8]]);
    assert.match(m.errors[0]!.message, /does not exist/);
    const none = await validateVMFile('api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: a }\n', vm);
    assert.deepEqual(none.errors.map((e) => e.path).sort(), ['spec.disk.format', 'spec.disk.path']);
  });

  it('keeps the disk inside the VMFile directory unless allowed (symlinks included)', async (t) => {
    const { dir, vm } = fixture(t);
    makeRawDisk(path.join(dir, 'outside.raw'), [['text', 1]]);
    const outside = GOOD.replace('./disk.qcow2, format: qcow2', '../outside.raw, format: raw');
    const v = await validateVMFile(outside, vm);
    assert.deepEqual(v.errors.map((e) => e.path), ['spec.disk.path']);
    assert.match(v.errors[0]!.message, /leaves the VMFile's directory/);
    assert.deepEqual((await validateVMFile(outside, vm, { allowOutsidePaths: true })).errors, []);
    symlinkSync(path.join(dir, 'outside.raw'), path.join(vm, 'link.raw'));
    const link = await validateVMFile(GOOD.replace('./disk.qcow2, format: qcow2', './link.raw, format: raw'), vm);
    assert.match(link.errors[0]!.message, /through a symlink/);
    const abs = await validateVMFile(GOOD.replace('./disk.qcow2', path.join(dir, 'outside.raw')), vm);
    assert.equal(abs.errors[0]!.path, 'spec.disk.path');
  });

  it('rejects a disk smaller in disk_size_gb than its virtual size and a qcow2 with a backing file', async (t) => {
    const { vm } = fixture(t);
    writeFileSync(path.join(vm, 'big.raw'), '');
    const { execFileSync } = await import('node:child_process');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path.join(vm, 'big.raw'), '3G']);
    const v = await validateVMFile(GOOD.replace('./disk.qcow2, format: qcow2', './big.raw, format: raw'), vm);
    assert.deepEqual(v.errors.map((e) => e.path), ['spec.resources.disk_size_gb']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'disk.qcow2', '-F', 'qcow2', path.join(vm, 'child.qcow2')]);
    const b = await validateVMFile(GOOD.replace('./disk.qcow2', './child.qcow2'), vm);
    assert.match(b.errors[0]!.message, /backing file/);
  });

  it('is exposed through the store port', async (t) => {
    const { dir, vm } = fixture(t);
    const store = new OciImageStore({ dataDir: path.join(dir, 'data') });
    const r = await store.validateVMFile(GOOD, vm);
    assert.deepEqual(r.errors, []);
    assert.equal(r.vmfile?.kind, 'VMFile');
  });
});

describe('VMFile spec.os.default_user', () => {
  it('is read from YAML, kept when valid, and refused with its path when not a login name', async () => {
    const { parseVMFile } = await import('../../src/core/images/validateVMFile.js');
    const ok = parseVMFile(GOOD.replace('firmware: bios }', 'firmware: bios, default_user: admin }'));
    assert.deepEqual(ok.errors, []);
    assert.equal(ok.vmfile?.spec.os.defaultUser, 'admin');
    const unset = parseVMFile(GOOD);
    assert.equal(unset.vmfile?.spec.os.defaultUser, undefined, 'absent stays absent (the daemon guesses)');
    const bad = parseVMFile(GOOD.replace('firmware: bios }', 'firmware: bios, default_user: "Root; rm -rf" }'));
    assert.deepEqual(bad.errors.map((e) => e.path), ['spec.os.default_user']);
  });
});
