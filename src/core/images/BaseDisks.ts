// Base disks: one sparse raw file per manifest, the backing file of every VM overlay. Built while a
// pull downloads (DiskBuilder) or reassembled from the stored windows on first use; one builder per
// digest at a time.
import type { CallContext } from '../ports/common.js';
import type { BaseDiskBuilder, OciManifest, VmImageConfig } from '../ports/images.js';
import { NotFoundError, fromSystemError } from '../errors.js';
import { DiskBuilder, assembleDisk } from './baseDisk.js';
import { assertDiskFits, diskWindows, type Window } from './coverage.js';
import { assertDigest, sha256Of } from './digest.js';
import { exists, parseManifest, type ImageRecords } from './imageRecords.js';
import { KeyedMutex } from './locks.js';
import { VM_CONFIG } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import type { StorePaths } from './paths.js';
import { byteProgress } from './progress.js';

export class BaseDisks {
  private readonly diskLocks = new KeyedMutex();

  /** zstdBinding: pulls decompress zstd windows while they download (nativeZstd.ts, DiskBuilder). */
  constructor(private readonly p: { content: OciContentStore; paths: StorePaths; records: ImageRecords; maxDiskSize?: number }, private readonly concurrency: number,
    private readonly zstdBinding?: string) {}

  /** See ImageStore.beginBaseDisk: undefined when the disk exists or the manifest is no VM image with its config here. */
  async beginBaseDisk(manifestBytes: Buffer, ctx: CallContext): Promise<BaseDiskBuilder | undefined> {
    const digest = sha256Of(manifestBytes);
    const dest = this.p.paths.disk(digest);
    if (await exists(dest)) return undefined;
    let manifest: OciManifest;
    let config: VmImageConfig;
    let windows: Window[];
    let virtualSize: number;
    try {
      manifest = parseManifest(manifestBytes);
      if (manifest.config.mediaType !== VM_CONFIG || !(await this.p.content.has(manifest.config.digest))) return undefined;
      config = JSON.parse((await this.p.content.readAll(manifest.config.digest)).toString('utf8')) as VmImageConfig;
      ({ windows, virtualSize } = diskWindows(manifest, config));
    } catch {
      return undefined; // commitManifest reports what is wrong with it
    }
    assertDiskFits(virtualSize, this.p.maxDiskSize, `the disk of ${digest}`); // before a pull downloads its windows
    const lease = this.p.content.leases.create();
    lease.add(digest);
    manifest.layers.forEach((l) => lease.add(l.digest));
    const p = byteProgress(ctx, 'assemble', windows.reduce((a, w) => a + w.size, 0), digest);
    let b: DiskBuilder;
    try {
      b = await DiskBuilder.open(dest, virtualSize, windows, this.p.content, { concurrency: this.concurrency, signal: ctx.signal, onBytes: (n) => p.add(n), zstdBinding: this.zstdBinding });
    } catch (err) {
      lease.release();
      throw fromSystemError(err, `starting base disk ${dest}`);
    }
    return {
      stream: (layer) => b.stream(layer),
      finish: () => this.diskLocks.run(digest, async () => {
        try {
          if (await exists(dest)) {
            await b.abort(); // another pull or a run assembled it meanwhile
            return dest;
          }
          const out = await b.finish();
          p.done();
          return out;
        } finally {
          lease.release();
        }
      }),
      abort: async () => {
        try {
          await b.abort();
        } finally {
          lease.release();
        }
      },
    };
  }

  async baseDisk(digest: string, ctx: CallContext): Promise<string> {
    assertDigest(digest);
    const dest = this.p.paths.disk(digest);
    if (await exists(dest)) return dest;
    return this.diskLocks.run(digest, async () => {
      if (await exists(dest)) return dest;
      const lease = this.p.content.leases.create();
      try {
        lease.add(digest);
        if (!(await this.p.content.has(digest))) throw new NotFoundError(`image ${digest} is not in the local store; pull it first`);
        const l = await this.p.records.load(digest);
        l.manifest.layers.forEach((x) => lease.add(x.digest));
        const { windows, virtualSize } = diskWindows(l.manifest, l.config);
        const p = byteProgress(ctx, 'assemble', windows.reduce((a, w) => a + w.size, 0), digest);
        await assembleDisk(dest, virtualSize, windows, this.p.content, { concurrency: this.concurrency, signal: ctx.signal, onBytes: (n) => p.add(n) });
        p.done();
        return dest;
      } finally {
        lease.release();
      }
    });
  }
}
