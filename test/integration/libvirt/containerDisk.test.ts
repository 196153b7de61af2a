// A KubeVirt containerDisk boots like any image (issue 20): the busybox test guest packed as a containerDisk,
// put in Debian's registry with skopeo, pulled through the daemon, run under TCG; then pushed back out as a
// containerDisk by the daemon and the re-pull boots too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import libvirtPlugin from '../../../src/plugins/libvirt/index.js';
import registryOciPlugin from '../../../src/plugins/registry-oci/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { GUEST_MARKERS, testGuest } from '../../support/guest.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { optedOut, requireService } from '../../support/services.js';
import { uniqueName } from '../../support/unique.js';
import { containerDiskLayout, copyToRegistry, tarOf } from '../registry/containerDiskHelpers.js';

const URI = 'qemu:///system';
const BOOT_MS = 300_000;

describe('a KubeVirt containerDisk pulled and pushed through the daemon boots', { skip: optedOut('libvirtd') ?? optedOut('registry'), timeout: 900_000 }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let tmp: string;
  const vms: string[] = [];

  before(async () => {
    await requireService('libvirtd');
    const guest = await testGuest();
    reg = await startRegistry();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-cdisk-boot-'));
    const layout = await containerDiskLayout(tmp, [{ tar: await tarOf(tmp, { 'disk/guest.qcow2': `file:${guest.qcow2Path}` }), compression: 'gzip' }], { tag: '1' });
    await copyToRegistry(layout, '1', `${reg.host}/containerdisks/busybox:1`);
    d = await startTestDaemon({ plugins: [libvirtPlugin, registryOciPlugin], pluginConfig: { libvirt: { uri: URI, domainType: 'qemu' } } });
    await d.client.call('ContextCreate', { context: { name: 'lab', registryUrl: reg.host, insecureRegistry: true, libvirtUri: URI }, use: true });
  });

  after(async () => {
    for (const vm of vms) await d?.client.call('DeleteVM', { vm, force: true }).catch(() => undefined);
    await d?.stop();
    await reg?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const bootsFrom = async (image: string) => {
    const name = uniqueName('vmr-cdisk');
    vms.push(name);
    const run = await d.client.call('RunVM', { image, name, options: { memoryMb: 256, vcpuCount: 1 } }, { deadlineMs: BOOT_MS });
    assert.equal(run.status, 'running');
    let text = '';
    for (const until = Date.now() + BOOT_MS; !text.includes(GUEST_MARKERS.ready);) {
      if (Date.now() > until) assert.fail(`the guest from ${image} never got ready; console:\n${text}`);
      await delay(1000);
      text = Buffer.concat((await d.client.stream('VMLogs', { vm: name }, { deadlineMs: 30_000 })).map((m) => Buffer.from(m.data))).toString('utf8');
    }
    await d.client.call('DeleteVM', { vm: name, force: true });
  };

  test('pull → images shows containerdisk → run boots; push --format containerdisk → re-pull → run boots', async () => {
    const pulled = await d.client.call('PullImage', { reference: 'containerdisks/busybox:1' }, { deadlineMs: 300_000 });
    const { images } = await d.client.call('ListLocalImages', {});
    const info = images.find((i: { reference: string }) => i.reference === pulled.reference);
    assert.equal(info?.sourceFormat, 'containerdisk');
    assert.equal(info?.diskFormat, 'qcow2');
    const manifest = await d.client.call('GetImageManifest', { reference: pulled.reference });
    assert.equal(manifest.sourceFormat, 'containerdisk');
    await bootsFrom(pulled.reference);

    await d.client.call('PushImage', { reference: pulled.reference, destination: 'kubevirt/busybox:2', format: 'CONTAINERDISK' }, { deadlineMs: 300_000 });
    const again = await d.client.call('PullImage', { reference: 'kubevirt/busybox:2' }, { deadlineMs: 300_000 });
    assert.notEqual(again.reference, pulled.reference);
    await bootsFrom(again.reference);
  });
});
