// The shared NetworkManager contract against LibvirtNetworkManager: on the test driver with
// LibvirtHypervisor (so the in-use refusals run), and on qemu:///system (real bridges, dnsmasq).
// Subnets 10.231.200-207.x, names vmrct-….
import { after, before } from 'node:test';
import fs from 'node:fs/promises';
import path from 'node:path';
import { requireService } from '../../support/services.js';
import { runNetworkContract } from '../../contract/network.contract.js';
import { LibvirtNetworkManager } from '../../../src/plugins/libvirt/network/LibvirtNetworkManager.js';
import { LibvirtConnectionManager } from '../../../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../../../src/plugins/libvirt/vm/index.js';
import { defaultContextInfo, quietLogger, testCallContext } from '../../../src/testing/callContext.js';

let stateDir = '';
let baseDisk = '';
before(async () => {
  await fs.mkdir(path.resolve('.test-work'), { recursive: true });
  stateDir = await fs.mkdtemp(path.join(path.resolve('.test-work'), 'netctr-'));
  // The test driver never opens disks, but overlays are made with qemu-img from a real file.
  baseDisk = path.join(stateDir, 'base.raw');
  await fs.writeFile(baseDisk, Buffer.alloc(0));
  await fs.truncate(baseDisk, 1 << 20);
});
after(async () => {
  await fs.rm(stateDir, { recursive: true, force: true });
});

for (const [uri, third] of [['test+unix:///default', 200], ['qemu:///system', 204]] as const) {
  const withVms = uri.startsWith('test');
  runNetworkContract(`libvirt ${uri}`, async () => {
    await requireService('libvirtd');
    const connections = new LibvirtConnectionManager();
    const networks = new LibvirtNetworkManager({ connections, defaultUri: uri });
    const hypervisor = withVms
      ? new LibvirtHypervisor({ clientFor: (u) => connections.get(u), stateDir, log: quietLogger, defaultUri: uri })
      : undefined;
    return { networks, hypervisor, shutdown: () => connections.closeAll(), dispose: () => connections.closeAll() };
  }, {
    subnets: [0, 1, 2, 3].map((i) => `10.231.${third + i}.0/24`),
    callContext: () => testCallContext({ context: defaultContextInfo({ libvirtUri: uri }) }),
    image: () => Promise.resolve({
      reference: 'localhost:5000/contract/tiny:1', digest: 'sha256:' + '0'.repeat(64), baseDiskPath: baseDisk,
      diskSize: 1 << 20, firmware: 'bios', architecture: 'x86_64',
    }),
  });
}
