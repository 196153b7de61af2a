// A strict in-memory registry: push copies a local image's manifest and blobs into memory, pull
// copies them back through the image store's content API. For core tests and plugin authors.
import { createHash } from 'node:crypto';
import { NotFoundError, throwIfAborted } from '../../core/errors.js';
import { splitReference } from '../../core/images/reference.js';
import type { CallContext, ComponentHealth } from '../../core/ports/common.js';
import type { ImageStore, OciManifest } from '../../core/ports/images.js';
import type { RegistryClient, TransferResult } from '../../core/ports/registry.js';

export class InMemoryRegistry implements RegistryClient {
  readonly manifests = new Map<string, Buffer>();
  readonly blobs = new Map<string, Buffer>();
  /** Blob downloads served (tests check dedup). */
  downloads = 0;

  constructor(private readonly images: ImageStore) {}

  private qualify(reference: string, ctx: CallContext): string {
    const { registry, tag, digest } = splitReference(reference);
    const withHost = registry !== undefined || !ctx.context.registryUrl ? reference : `${ctx.context.registryUrl.replace(/^https?:\/\//, '')}/${reference}`;
    return tag !== undefined || digest !== undefined ? withHost : `${withHost}:latest`;
  }

  // Cancellation is checked before each step, as a real client's transfers are aborted by ctx.signal.
  async push(reference: string, destination: string, ctx: CallContext): Promise<TransferResult> {
    throwIfAborted(ctx.signal);
    const img = await this.images.get(reference);
    const target = this.qualify(destination || reference, ctx);
    let transferred = 0;
    for (const d of [img.manifest.config, ...img.manifest.layers]) {
      throwIfAborted(ctx.signal);
      if (this.blobs.has(d.digest)) continue;
      const data = await this.images.content.readAll(d.digest);
      this.blobs.set(d.digest, data);
      transferred += data.length;
    }
    throwIfAborted(ctx.signal);
    this.manifests.set(target, img.manifestBytes);
    return { reference: target, digest: img.digest, size: sizeOf(img.manifest), transferred };
  }

  async pull(reference: string, ctx: CallContext): Promise<TransferResult> {
    throwIfAborted(ctx.signal);
    const ref = this.qualify(reference, ctx);
    const bytes = this.manifests.get(ref);
    if (!bytes) throw new NotFoundError(`${ref}: no such image in the registry`);
    const manifest = JSON.parse(bytes.toString('utf8')) as OciManifest;
    let transferred = 0;
    for (const d of [manifest.config, ...manifest.layers]) {
      throwIfAborted(ctx.signal);
      if (await this.images.content.has(d.digest)) continue;
      const data = this.blobs.get(d.digest);
      if (!data) throw new NotFoundError(`blob ${d.digest} missing in the registry`);
      this.downloads += 1;
      await this.images.content.put(d.digest, data);
      transferred += data.length;
      // Per blob, as registry-oci reports it: current/total of this item.
      ctx.progress?.({ phase: 'download', item: d.digest, current: data.length, total: d.size, unit: 'bytes' });
    }
    throwIfAborted(ctx.signal);
    const img = await this.images.commitManifest(ref, bytes, ctx);
    await this.images.baseDisk(img.digest, ctx);
    return { reference: ref, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: sizeOf(manifest), transferred };
  }

  async health(): Promise<ComponentHealth> {
    return { name: 'registry', status: 'SERVING', message: `in-memory registry, ${this.manifests.size} manifest(s)`, latencyMs: 0 };
  }
}

const sizeOf = (m: OciManifest) => [m.config, ...m.layers].reduce((n, d) => n + d.size, 0);
