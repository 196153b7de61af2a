// RunVM as users mean it: resolve the image (pull when missing and a registry is known), prepare its
// base disk, fill defaults from its VMFile, then hand a complete spec to the hypervisor.
import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import type { CallContext } from '../ports/common.js';
import type { VMRecord } from '../ports/hypervisor.js';
import type { LocalImage } from '../ports/images.js';
import type { RunRequest, VmService } from '../ports/vms.js';
import { hypervisorPort, imagesPort, registryPort } from '../plugins/refs.js';
import type { PluginHost } from '../plugins/PluginHost.js';
import { TOKENS } from '../tokens.js';
import { parseReference } from '../images/reference.js';
import { checkVmName } from '../names.js';
import { checkMac } from '../net/hostEntries.js';
import { checkSshKeys, defaultUserFor, withSshKeys } from './cloudInitKeys.js';

@injectable()
export class VmActions implements VmService {
  constructor(@inject(TOKENS.Plugins) private readonly plugins: PluginHost) {}

  async run(req: RunRequest, ctx: CallContext): Promise<VMRecord> {
    if (!req.image) throw new InvalidArgumentError('image is required (e.g. "vmr run debian:12")', { field: 'image' });
    const name = req.name || `vm-${randomBytes(3).toString('hex')}`;
    checkVmName(name);
    if (req.memoryMb && (req.memoryMb < 64 || req.memoryMb > 1024 * 1024)) throw new InvalidArgumentError('memory_mb must be between 64 and 1048576', { field: 'options.memory_mb' });
    if (req.vcpuCount && req.vcpuCount > 256) throw new InvalidArgumentError('vcpu_count must be at most 256', { field: 'options.vcpu_count' });
    const keys = checkSshKeys(req.sshAuthorizedKeys);
    const mac = req.macAddress ? checkMac(req.macAddress) : undefined;
    if (mac && 'reason' in mac) throw new InvalidArgumentError(`mac_address: ${mac.reason}`, { field: 'mac_address' });
    const hypervisor = this.plugins.get(hypervisorPort);
    const image = await this.resolveImage(req.image, ctx);
    const defaultUser = defaultUserFor(image.config.vmfile, image.reference);
    const seed = withSshKeys(req.cloudInit, keys, { rootLogin: defaultUser === 'root' });
    const baseDiskPath = await this.plugins.get(imagesPort).baseDisk(image.digest, ctx);
    const res = image.config.vmfile.spec.resources;
    const disk = image.config.disks[0];
    return hypervisor.run({
      name,
      image: {
        reference: image.reference,
        digest: image.digest,
        baseDiskPath,
        diskSize: disk?.virtualSize ?? 0,
        firmware: image.config.vmfile.spec.os.firmware === 'uefi' ? 'uefi' : 'bios',
        architecture: image.config.vmfile.spec.os.architecture || 'x86_64',
      },
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

  /** The local image, pulled first when it is missing and a registry client is configured. */
  async resolveImage(reference: string, ctx: CallContext): Promise<LocalImage> {
    const images = this.plugins.get(imagesPort);
    const local = await images.resolve(reference);
    if (local) return local;
    const registry = this.plugins.maybe(registryPort);
    const hasHost = parseReference(reference, 'image').registry !== undefined;
    if (!registry || (!hasHost && !ctx.context.registryUrl)) {
      throw new NotFoundError(`image "${reference}" not found locally; import or pull it first (see "vmr images")`, { field: 'image' });
    }
    ctx.log.info({ reference }, 'image not local; pulling');
    const pulled = await registry.pull(reference, ctx);
    return images.get(pulled.reference);
  }
}
