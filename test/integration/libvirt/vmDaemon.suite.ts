// The VM RPCs through the real daemon (loader, gRPC handlers, status mapping) with the libvirt
// plugin on the test driver. RunVM needs the image store, so the VM is made with a second
// LibvirtHypervisor on the same state dir — which is also what a daemon restart looks like.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CallContext, Logger } from '../../../src/core/ports/common.js';
import { silentLogger } from '../../../src/core/log/silentLogger.js';
import { LibvirtConnectionManager } from '../../../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../../../src/plugins/libvirt/vm/index.js';
import libvirtPlugin from '../../../src/plugins/libvirt/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { optedOut, requireService } from '../../support/services.js';
import { uniqueName } from '../../support/unique.js';

const URI = 'test+unix:///default';
const quiet: Logger = silentLogger();
const ctx = (): CallContext => ({
  signal: AbortSignal.timeout(60_000),
  log: quiet,
  context: {
    name: 'it', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: URI,
    insecureRegistry: false, current: true, created: '',
  },
});
const grpcCode = (c: number) => (err: unknown) => (err as { code?: number }).code === c;

describe('VM RPCs through the daemon (test+unix:///default)', { skip: optedOut('libvirtd') }, () => {
  let d: TestDaemon;
  let stateDir: string;
  let mgr: LibvirtConnectionManager;
  let hv: LibvirtHypervisor;
  const name = uniqueName('vmr-d');

  before(async () => {
    await requireService('libvirtd');
    await fs.mkdir(path.resolve('.test-work'), { recursive: true });
    stateDir = await fs.mkdtemp(path.resolve('.test-work', 'vm-daemon-'));
    d = await startTestDaemon({ plugins: [libvirtPlugin], pluginConfig: { libvirt: { uri: URI, stateDir } } });
    mgr = new LibvirtConnectionManager({ log: quiet });
    // The plugin keeps VM files under <stateDir>/vms.
    hv = new LibvirtHypervisor({ clientFor: (u) => mgr.get(u), stateDir: path.join(stateDir, 'vms'), log: quiet });
    const base = path.join(stateDir, 'base.raw');
    await fs.writeFile(base, '');
    await fs.truncate(base, 1 << 20);
    await hv.run({
      name,
      image: { reference: 'localhost:5000/demo/guest:1', digest: 'sha256:' + 'c'.repeat(64), baseDiskPath: base, diskSize: 1 << 20, firmware: 'bios', architecture: 'x86_64' },
      memoryMb: 128, vcpuCount: 1, diskSizeGb: 0, ephemeral: false, networkName: '', activateNetwork: false,
      labels: { tier: 'db' }, compose: { project: 'stack', service: 'db', index: 1, hash: 'h' }, waitForIp: false, start: true,
    }, ctx());
  });

  after(async () => {
    await hv.delete(name, { force: true }, ctx()).catch(() => undefined);
    await mgr.closeAll();
    await d?.stop();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  test('ListVMs / PsVMs / Stop / Start / Restart / Delete', async () => {
    const list = await d.client.call('ListVMs');
    const info = list.vms.find((v: { name: string }) => v.name === name);
    assert.ok(info, 'the daemon lists a VM another instance created: the record is in libvirt');
    assert.equal(info.image, 'localhost:5000/demo/guest:1');
    assert.equal(info.imageDigest ?? info.image_digest, 'sha256:' + 'c'.repeat(64));
    assert.equal(info.composeProject ?? info.compose_project, 'stack');
    assert.ok(!list.vms.some((v: { name: string }) => v.name === 'test'), "the test driver's own domain is not ours");

    const ps = await d.client.call('PsVMs');
    const proc = ps.vms.find((v: { name: string }) => v.name === name);
    assert.ok(proc);
    assert.equal(proc.networks[0].name, 'default');
    assert.match(proc.networks[0].mac, /^52:54:00:/);

    const stopped = await d.client.call('StopVM', { vm: name, force: false, timeout_seconds: 5 });
    assert.match(String(stopped.status), /stopped/i);
    assert.ok(!(await d.client.call('PsVMs')).vms.some((v: { name: string }) => v.name === name), 'Ps shows running VMs only');
    const started = await d.client.call('StartVM', { vm: info.vmId ?? info.vm_id });
    assert.match(String(started.status), /running/i);
    const restarted = await d.client.call('RestartVM', { vm: name, force: true });
    assert.match(String(restarted.status), /running/i);

    await assert.rejects(d.client.call('DeleteVM', { vm: name }), grpcCode(9), 'FAILED_PRECONDITION while running');
    await d.client.call('DeleteVM', { vm: name, force: true });
    await assert.rejects(d.client.call('StartVM', { vm: name }), grpcCode(5), 'NOT_FOUND once deleted');
    assert.deepEqual(await fs.readdir(path.join(stateDir, 'vms')).then(async (slugs) =>
      (await Promise.all(slugs.map((s) => fs.readdir(path.join(stateDir, 'vms', s))))).flat()), [], 'files removed by the daemon');
  });
});
