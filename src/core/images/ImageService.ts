// The image rules above the store that RPCs and RunVM share: which images VMs use (so delete and GC
// do not pull the floor from under them), the DeleteImage policy, SystemCheck, and resolving an image
// for a run once (pulled when missing and a registry is known, its base disk prepared).
import { inject, injectable } from 'tsyringe';
import { FailedPreconditionError, NotFoundError } from '../errors.js';
import type { CallContext } from '../ports/common.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import type { ImageStore, LocalImage, ResolvedImage } from '../ports/images.js';
import type { RegistryClient } from '../ports/registry.js';
import type { ContextReader } from '../ports/state.js';
import type { PortSlot } from '../plugins/PortBindings.js';
import { TOKENS } from '../tokens.js';
import { imagesInUse } from '../vms/imagesInUse.js';
import { parseReference } from './reference.js';

export interface SystemReport {
  ok: boolean;
  checkedBlobs: number;
  corruptBlobs: string[];
  missingBlobs: string[];
  checkedDisks: number;
  corruptDisks: string[];
  /** Garbage a collection would remove now. */
  orphanBlobs: string[];
  orphanManifests: string[];
  /** Base disks no image and no VM uses. */
  orphanDisks: string[];
  partialIngests: number;
  partialIngestList: Array<{ digest: string; size: number; ageSeconds: number }>;
}

@injectable()
export class ImageService {
  constructor(
    @inject(TOKENS.Images) readonly store: ImageStore,
    @inject(TOKENS.Contexts) private readonly contexts: ContextReader,
    @inject(TOKENS.HypervisorSlot) private readonly hypervisor: PortSlot<Hypervisor>,
    @inject(TOKENS.RegistrySlot) private readonly registry: PortSlot<RegistryClient>,
  ) {}

  /** Image digest → the VMs (of every context) using it. */
  inUse(ctx: CallContext): Promise<Map<string, string[]>> {
    return imagesInUse(this.hypervisor.maybe(), this.contexts, ctx);
  }

  /** Untags; refused while VMs use the image and this is its last reference, unless `force`. */
  async delete(reference: string, opts: { force: boolean }, ctx: CallContext): Promise<{ untagged: string[]; deleted: string[] }> {
    const img = await this.store.get(reference);
    if (!opts.force) {
      const users = (await this.inUse(ctx)).get(img.digest);
      const others = (await this.store.list()).filter((i) => i.digest === img.digest && i.reference !== img.reference);
      if (users?.length && !others.length) {
        throw new FailedPreconditionError(`image "${reference}" is used by VM(s) ${users.join(', ')}; delete them first or use --force`, { field: 'reference' });
      }
    }
    return this.store.untag(reference);
  }

  /** Re-verifies the store and lists what a GC would remove; base disks VMs use are no orphans. */
  async systemCheck(opts: { verifyDisks: boolean }, ctx: CallContext): Promise<SystemReport> {
    if (!this.store.check) throw new FailedPreconditionError('this image store cannot check itself');
    const used = await this.inUse(ctx);
    const c = await this.store.check(opts, ctx);
    const orphans = await this.store.gc({ dryRun: true, inUseDigests: new Set(used.keys()) }, ctx);
    return {
      ok: !c.corruptBlobs.length && !c.missingBlobs.length && !c.corruptDisks.length,
      checkedBlobs: c.checkedBlobs, corruptBlobs: c.corruptBlobs, missingBlobs: c.missingBlobs,
      checkedDisks: c.checkedDisks, corruptDisks: c.corruptDisks,
      orphanBlobs: orphans.removedBlobs, orphanManifests: orphans.removedManifests,
      orphanDisks: c.orphanDisks.filter((d) => !used.has(d)), partialIngests: c.partialIngests,
      partialIngestList: c.partialIngestList ?? [],
    };
  }

  /** Collects what no image and no VM (of any context) uses. */
  async gc(opts: { dryRun: boolean }, ctx: CallContext): Promise<{ removedBlobs: string[]; removedManifests: string[]; freedBytes: number; removedDisks: string[] }> {
    const used = await this.inUse(ctx);
    const r = await this.store.gc({ dryRun: opts.dryRun, inUseDigests: new Set(used.keys()) }, ctx);
    return { ...r, removedDisks: r.removedDisks ?? [] };
  }

  /** The local image, pulled first when it is missing and a registry client is configured. */
  async local(reference: string, ctx: CallContext): Promise<LocalImage> {
    const local = await this.store.resolve(reference);
    if (local) return local;
    const registry = this.registry.maybe();
    const hasHost = parseReference(reference, 'image').registry !== undefined;
    if (!registry || (!hasHost && !ctx.context.registryUrl)) {
      throw new NotFoundError(`image "${reference}" not found locally; import or pull it first (see "vmr images")`, { field: 'image' });
    }
    ctx.log.info({ reference }, 'image not local; pulling');
    const pulled = await registry.pull(reference, ctx);
    return this.store.get(pulled.reference);
  }

  /** Everything a run needs of its image, looked up once: the value RunVM hands to the hypervisor. */
  async resolveForRun(reference: string, ctx: CallContext): Promise<ResolvedImage> {
    const image = await this.local(reference, ctx);
    const vmfile = image.config.vmfile;
    return {
      reference: image.reference,
      digest: image.digest,
      manifest: image.manifest,
      vmfile,
      config: image.config,
      baseDiskPath: await this.store.baseDisk(image.digest, ctx),
      diskSize: image.config.disks[0]?.virtualSize ?? 0,
      firmware: vmfile.spec.os.firmware === 'uefi' ? 'uefi' : 'bios',
      architecture: vmfile.spec.os.architecture || 'x86_64',
    };
  }
}
