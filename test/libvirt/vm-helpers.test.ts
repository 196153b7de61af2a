import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isVmrError } from '../../src/core/errors.js';
import type { RunVMSpec } from '../../src/core/ports/hypervisor.js';
import { chooseDomainType } from '../../src/plugins/libvirt/vm/domainType.js';
import { KeyedMutex } from '../../src/plugins/libvirt/vm/keyedMutex.js';
import { hostnameFor, isUuid, validateVmName } from '../../src/plugins/libvirt/vm/names.js';
import { validateRunSpec } from '../../src/plugins/libvirt/vm/validateSpec.js';
import { uriSlug, VmFiles } from '../../src/plugins/libvirt/vm/vmFiles.js';

test('VM names', () => {
  for (const ok of ['a', 'web-1', 'db_2.prod', 'A'.repeat(63), '9lives']) assert.doesNotThrow(() => validateVmName(ok), ok);
  for (const bad of ['', '-a', '.a', '_a', 'a b', 'a/b', 'a'.repeat(64), 'é', 'a;rm']) {
    assert.throws(() => validateVmName(bad), (e: unknown) => isVmrError(e) && e.code === 'INVALID_ARGUMENT' && e.field === 'name', bad);
  }
  assert.equal(hostnameFor('Web_1.x'), 'web-1-x');
  assert.ok(isUuid('6726f87a-e29a-4d57-bb0e-868fe81dae29'));
  assert.ok(!isUuid('web-1'));
});

const spec = (over: Partial<RunVMSpec> = {}): RunVMSpec => ({
  name: 'vm1',
  image: { reference: 'r', digest: 'd', baseDiskPath: '/images/base.raw', diskSize: 1, firmware: 'bios', architecture: 'x86_64' },
  memoryMb: 256, vcpuCount: 1, diskSizeGb: 0, ephemeral: false, networkName: '', activateNetwork: false,
  labels: {}, waitForIp: false, start: true, ...over,
});

test('run specs are checked all at once before anything is created', () => {
  assert.doesNotThrow(() => validateRunSpec(spec()));
  assert.throws(
    () => validateRunSpec(spec({ memoryMb: 0, vcpuCount: 1.5, ephemeral: true, start: false, labels: { k: 'a\u0001' } })),
    (e: unknown) => isVmrError(e) && e.code === 'INVALID_ARGUMENT' &&
      e.issues?.map((i) => i.path).join(',') === 'memory_mb,vcpu_count,ephemeral,labels.k',
  );
  assert.throws(() => validateRunSpec(spec({ image: { ...spec().image, baseDiskPath: 'rel.raw' } })), /absolute path/);
});

test('domain type: test driver, explicit setting, and no kvm without the CPU flags', async () => {
  const never = async () => { throw new Error('must not be asked'); };
  assert.equal(await chooseDomainType({ setting: 'kvm', driverType: 'TEST', local: true, capabilitiesHaveKvm: never }), 'test');
  assert.equal(await chooseDomainType({ setting: 'qemu', driverType: 'QEMU', local: true, capabilitiesHaveKvm: never }), 'qemu');
  assert.equal(await chooseDomainType({ setting: 'kvm', driverType: 'QEMU', local: true, capabilitiesHaveKvm: never }), 'kvm');
  assert.equal(await chooseDomainType({ setting: 'auto', driverType: 'QEMU', local: false, capabilitiesHaveKvm: async () => true }), 'kvm');
  assert.equal(await chooseDomainType({ setting: 'auto', driverType: 'QEMU', local: false, capabilitiesHaveKvm: async () => false }), 'qemu');
  const flags = /^flags\s*:.*\b(vmx|svm)\b/m.test(await fs.readFile('/proc/cpuinfo', 'utf8'));
  const local = await chooseDomainType({ setting: 'auto', driverType: 'QEMU', local: true, capabilitiesHaveKvm: never });
  if (!flags) assert.equal(local, 'qemu', 'no vmx/svm: TCG even if /dev/kvm exists');
  else assert.ok(local === 'kvm' || local === 'qemu');
});

test('KeyedMutex serializes per key and not across keys', async () => {
  const m = new KeyedMutex();
  const log: string[] = [];
  const job = (key: string, id: string, ms: number) => m.run(key, async () => {
    log.push(`${id}+`);
    await new Promise((r) => setTimeout(r, ms));
    log.push(`${id}-`);
  });
  await Promise.all([job('a', 'a1', 20), job('a', 'a2', 1), job('b', 'b1', 5)]);
  assert.ok(log.indexOf('a1-') < log.indexOf('a2+'), `a2 waited for a1: ${log}`);
  assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), `b ran beside a: ${log}`);
  await assert.rejects(m.run('a', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await m.run('a', async () => 42), 42, 'a failure releases the key');
});

test('VM directories: unique per run, private, and removal never leaves the state dir', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-files-'));
  try {
    const files = new VmFiles(path.join(root, uriSlug('qemu:///system')));
    const a = await files.create('web');
    const b = await files.create('web');
    assert.notEqual(a.dir, b.dir);
    assert.equal((await fs.stat(a.dir)).mode & 0o777, 0o700, 'QEMU runs as us here: owner only');
    assert.equal((await fs.stat(root)).mode & 0o777, 0o700, 'a directory the daemon did not make is left as it was');
    assert.ok(files.owns(a.dir));
    assert.ok(!files.owns(files.root));
    assert.ok(!files.owns(path.join(files.root, '..')));
    assert.ok(!files.owns('/etc'));
    assert.ok(!files.owns(path.join(a.dir, 'overlay.qcow2')), 'only direct children');
    const outside = path.join(root, 'keep');
    await fs.mkdir(outside);
    await files.remove(outside);
    await files.remove(path.join(files.root, '..', 'keep'));
    assert.ok(await fs.stat(outside), 'a directory outside the state dir survives');
    await fs.writeFile(b.ephemeralMarker, '6726f87a-e29a-4d57-bb0e-868fe81dae29');
    assert.deepEqual((await files.ephemeralDirs()).map((e) => [e.dir, e.uuid]), [[b.dir, '6726f87a-e29a-4d57-bb0e-868fe81dae29']]);
    await files.remove(a.dir);
    await assert.rejects(fs.stat(a.dir));
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
