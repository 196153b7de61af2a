// Shared by the hypervisor and network suites; not part of the exported kit.
import type { RunVMSpec } from '../../core/ports/hypervisor.js';

/** The image the hypervisor and network suites run from when the factory names none (the fakes never read it). */
export const fakeImage: RunVMSpec['image'] = {
  reference: 'localhost:5000/contract/tiny:1',
  digest: 'sha256:' + '0'.repeat(64),
  baseDiskPath: '/nonexistent/contract-base.raw',
  diskSize: 64 * 1024 * 1024,
  firmware: 'bios',
  architecture: 'x86_64',
};
