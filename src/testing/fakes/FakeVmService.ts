// A VmService for tests: RunVM without an image store. Known references get a dummy base disk;
// unknown ones fail NOT_FOUND as the real service does when nothing can be pulled.
import { createHash } from 'node:crypto';
import { NotFoundError } from '../../core/errors.js';
import type { CallContext } from '../../core/ports/common.js';
import type { Hypervisor, VMRecord } from '../../core/ports/hypervisor.js';
import type { RunRequest, VmService } from '../../core/ports/vms.js';

export interface FakeVmServiceOptions {
  /** References that exist; undefined: every reference exists. */
  images?: Iterable<string>;
  /** Defaults when the request leaves resources at 0 (the image's VMFile in the real service). */
  defaults?: { memoryMb: number; vcpuCount: number };
}

export class FakeVmService implements VmService {
  readonly requests: RunRequest[] = [];
  private readonly images?: Set<string>;

  constructor(private readonly hypervisor: Hypervisor, private readonly opts: FakeVmServiceOptions = {}) {
    this.images = opts.images ? new Set(opts.images) : undefined;
  }

  async run(req: RunRequest, ctx: CallContext): Promise<VMRecord> {
    this.requests.push(structuredClone(req));
    if (this.images && !this.images.has(req.image)) {
      throw new NotFoundError(`image "${req.image}" not found locally; pull it first or check "vmr images"`);
    }
    return this.hypervisor.run({
      name: req.name,
      image: {
        reference: req.image,
        digest: 'sha256:' + createHash('sha256').update(req.image).digest('hex'),
        baseDiskPath: '/fake/base.raw',
        diskSize: 64 * 1024 * 1024,
        firmware: 'bios',
        architecture: 'x86_64',
      },
      memoryMb: req.memoryMb || this.opts.defaults?.memoryMb || 512,
      vcpuCount: req.vcpuCount || this.opts.defaults?.vcpuCount || 1,
      diskSizeGb: req.diskSizeGb,
      ephemeral: req.ephemeral,
      ...(req.cloudInit ? { cloudInit: req.cloudInit } : {}),
      networkName: req.networkName,
      ...(req.macAddress ? { macAddress: req.macAddress } : {}),
      activateNetwork: req.activateNetwork,
      labels: req.labels,
      ...(req.compose ? { compose: req.compose } : {}),
      waitForIp: req.waitForIp,
      start: true,
    }, ctx);
  }
}
