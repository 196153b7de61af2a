// The shared NetworkManager contract against LibvirtNetworkManager: on the test driver with
// LibvirtHypervisor (so the in-use refusals run), and on qemu:///system (real bridges, dnsmasq).
// Subnets leased from test/support/unique (10.231.x.0/24), names vmrct-<run>-….
import { after, before } from 'node:test';
import fs from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { requireService } from '../../support/services.js';
import { runNetworkContract } from '../../contract/network.contract.js';
import { LibvirtNetworkManager } from '../../../src/plugins/libvirt/network/LibvirtNetworkManager.js';
import { LibvirtConnectionManager } from '../../../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../../../src/plugins/libvirt/vm/index.js';
import { defaultContextInfo, quietLogger, testCallContext } from '../../../src/testing/callContext.js';
import { leaseSubnets, uniqueBridgeName } from '../../support/unique.js';

const pexec = promisify(execFile);
let stateDir = '';
let baseDisk = '';
// A real host bridge, so bridge mode is exercised instead of skipped (we run as root in the suites).
const hostBridge = uniqueBridgeName('vmrtbr');
before(async () => {
  await fs.mkdir(path.resolve('.test-work'), { recursive: true, mode: 0o755 });
  await fs.chmod(path.resolve('.test-work'), 0o755);
  stateDir = await fs.mkdtemp(path.join(path.resolve('.test-work'), 'netctr-'));
  // QEMU runs as libvirt-qemu and must traverse to the base disk of the contract's VMs.
  await fs.chmod(stateDir, 0o755);
  await pexec('ip', ['link', 'add', hostBridge, 'type', 'bridge']);
  // The test driver never opens disks, but overlays are made with qemu-img from a real file.
  baseDisk = path.join(stateDir, 'base.raw');
  await fs.writeFile(baseDisk, Buffer.alloc(0));
  await fs.truncate(baseDisk, 1 << 20);
});
after(async () => {
  await pexec('ip', ['link', 'del', hostBridge]).catch(() => undefined);
  await fs.rm(stateDir, { recursive: true, force: true });
});

for (const [uri, third] of [['test+unix:///default', leaseSubnets(4)], ['qemu:///system', leaseSubnets(4)]] as const) {
  // On qemu:///system the contract's VMs are real QEMU domains on a blank 1 MiB disk: they run (the firmware
  // finds nothing to boot), which is all the in-use refusals need.
  runNetworkContract(`libvirt ${uri}`, async () => {
    await requireService('libvirtd');
    const connections = new LibvirtConnectionManager();
    const networks = new LibvirtNetworkManager({ connections, defaultUri: uri });
    const hypervisor = new LibvirtHypervisor({ clientFor: (u) => connections.get(u), stateDir, log: quietLogger, defaultUri: uri });
    return { networks, hypervisor, shutdown: () => connections.closeAll(), dispose: () => connections.closeAll() };
  }, {
    subnets: [0, 1, 2, 3].map((i) => `10.231.${third + i}.0/24`),
    hostBridge,
    callContext: () => testCallContext({ context: defaultContextInfo({ libvirtUri: uri }) }),
    image: () => Promise.resolve({
      reference: 'localhost:5000/contract/tiny:1', digest: 'sha256:' + '0'.repeat(64), baseDiskPath: baseDisk,
      diskSize: 1 << 20, firmware: 'bios', architecture: 'x86_64',
    }),
  });
}
