// The shared Hypervisor contract against LibvirtHypervisor: on libvirt's test driver (no guest, no DHCP)
// and on qemu:///system with the busybox test guest (real QEMU, a real DHCP lease, so the address tests run).
// VM names vmrct-<run>-… from test/support/unique; every VM is force-deleted after each test.
import { after, before } from 'node:test';
import fs from 'node:fs/promises';
import path from 'node:path';
import { requireService } from '../../support/services.js';
import { testGuest } from '../../support/guest.js';
import { runHypervisorContract } from '../../contract/hypervisor.contract.js';
import { LibvirtConnectionManager } from '../../../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../../../src/plugins/libvirt/vm/index.js';
import { defaultContextInfo, quietLogger, testCallContext } from '../../../src/testing/callContext.js';
import type { RunVMSpec } from '../../../src/core/ports/hypervisor.js';

const TEST_URI = 'test+unix:///default';
const QEMU_URI = 'qemu:///system';
let stateDir = '';
let blankDisk = '';
before(async () => {
  await fs.mkdir(path.resolve('.test-work'), { recursive: true, mode: 0o755 });
  await fs.chmod(path.resolve('.test-work'), 0o755);
  stateDir = await fs.mkdtemp(path.join(path.resolve('.test-work'), 'hvctr-'));
  // QEMU runs as libvirt-qemu and must traverse to the overlays under the state dir.
  await fs.chmod(stateDir, 0o755);
  // The test driver never opens disks, but overlays are made with qemu-img from a real file.
  blankDisk = path.join(stateDir, 'base.raw');
  await fs.writeFile(blankDisk, Buffer.alloc(0));
  await fs.truncate(blankDisk, 1 << 20);
});
after(async () => {
  await fs.rm(stateDir, { recursive: true, force: true });
});

const image = (baseDiskPath: string, diskSize: number): RunVMSpec['image'] => ({
  reference: 'localhost:5000/contract/guest:1', digest: 'sha256:' + '0'.repeat(64), baseDiskPath, diskSize,
  firmware: 'bios', architecture: 'x86_64',
});

for (const uri of [TEST_URI, QEMU_URI]) {
  const real = uri === QEMU_URI;
  runHypervisorContract(`libvirt ${uri}`, async () => {
    await requireService('libvirtd');
    const connections = new LibvirtConnectionManager();
    const hypervisor = new LibvirtHypervisor({
      clientFor: (u) => connections.get(u), stateDir, log: quietLogger, defaultUri: uri, defaultStopTimeoutSeconds: 60,
    });
    return { hypervisor, shutdown: () => connections.closeAll(), dispose: () => connections.closeAll() };
  }, {
    // A guest boots under TCG on a loaded host in 10-60 s; the deadline bounds a lease that never comes.
    callContext: () => testCallContext({
      context: defaultContextInfo({ libvirtUri: uri }), signal: AbortSignal.timeout(real ? 400_000 : 60_000),
    }),
    image: async () => {
      if (!real) return image(blankDisk, 1 << 20);
      const guest = await testGuest();
      return image(guest.rawPath, guest.diskSize);
    },
    memoryMb: real ? 256 : 128,
    expectIp: real,
  });
}
