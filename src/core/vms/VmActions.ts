// RunVM as users mean it: resolve the image once (pulled when missing and a registry is known, its base
// disk prepared), fill defaults from its VMFile, then hand a complete spec to the hypervisor.
import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { InvalidArgumentError } from '../errors.js';
import type { CallContext } from '../ports/common.js';
import type { Hypervisor, VMRecord } from '../ports/hypervisor.js';
import type { RunRequest, VmService } from '../ports/vms.js';
import type { PortSlot } from '../plugins/PortBindings.js';
import type { ImageService } from '../images/ImageService.js';
import { TOKENS } from '../tokens.js';
import { checkVmName } from '../names.js';
import { checkMac } from '../net/hostEntries.js';
import { checkSshKeys, defaultUserFor, withSshKeys } from './cloudInitKeys.js';

@injectable()
export class VmActions implements VmService {
  constructor(
    @inject(TOKENS.ImageService) private readonly images: ImageService,
    @inject(TOKENS.HypervisorSlot) private readonly hypervisor: PortSlot<Hypervisor>,
  ) {}

  async run(req: RunRequest, ctx: CallContext): Promise<VMRecord> {
    if (!req.image) throw new InvalidArgumentError('image is required (e.g. "vmr run debian:12")', { field: 'image' });
    const name = req.name || `vm-${randomBytes(3).toString('hex')}`;
    checkVmName(name);
    if (req.memoryMb && (req.memoryMb < 64 || req.memoryMb > 1024 * 1024)) throw new InvalidArgumentError('memory_mb must be between 64 and 1048576', { field: 'options.memory_mb' });
    if (req.vcpuCount && req.vcpuCount > 256) throw new InvalidArgumentError('vcpu_count must be at most 256', { field: 'options.vcpu_count' });
    const keys = checkSshKeys(req.sshAuthorizedKeys);
    const mac = req.macAddress ? checkMac(req.macAddress) : undefined;
    if (mac && 'reason' in mac) throw new InvalidArgumentError(`mac_address: ${mac.reason}`, { field: 'mac_address' });
    const hypervisor = this.hypervisor.get();
    const image = await this.images.resolveForRun(req.image, ctx);
    const defaultUser = defaultUserFor(image.vmfile, image.reference);
    const seed = withSshKeys(req.cloudInit, keys, { rootLogin: defaultUser === 'root' });
    const res = image.vmfile.spec.resources;
    return hypervisor.run({
      name,
      image,
      memoryMb: req.memoryMb || res.memoryMb || 512,
      vcpuCount: req.vcpuCount || res.vcpuCount || 1,
      diskSizeGb: req.diskSizeGb || res.diskSizeGb || 0,
      ephemeral: req.ephemeral,
      cloudInit: seed.cloudInit,
      defaultUser,
      cloudInitSummary: seed.summary,
      networkName: req.networkName,
      ...(mac ? { macAddress: mac.mac } : {}),
      activateNetwork: req.activateNetwork,
      labels: req.labels,
      compose: req.compose,
      waitForIp: req.waitForIp,
      start: true,
    }, ctx);
  }
}
