// Exports of a stored image: written by the daemon under paths.export, or streamed for the client to
// write. The image's blobs are leased for as long as they are read.
import type { CallContext } from '../ports/common.js';
import type { ExportFormat, LocalImage } from '../ports/images.js';
import { InvalidArgumentError } from '../errors.js';
import type { HostPaths } from '../hostfs/HostPaths.js';
import { archiveStream, diskStream, exportArchive, exportDisk, exportLayout, type ExportBytes } from './exportImage.js';
import type { OciContentStore } from './OciContentStore.js';
import { checkOutputPath } from './outputPath.js';
import type { StorePaths } from './paths.js';

export interface ExportParts {
  content: OciContentStore;
  paths: StorePaths;
  hostPaths: HostPaths;
  get(reference: string): Promise<LocalImage>;
  baseDisk(digest: string, ctx: CallContext): Promise<string>;
}

export class ImageExporter {
  constructor(private readonly p: ExportParts) {}

  /** ExportImage to a path on the daemon's host (paths.export). */
  async export(reference: string, outputPath: string, format: ExportFormat, opts: { overwrite: boolean; diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ outputPath: string; digest: string; size: number }> {
    if (!['OCI_LAYOUT_DIR', 'OCI_ARCHIVE', 'DISK'].includes(format)) {
      throw new InvalidArgumentError(`unknown export format "${format as string}"; use OCI_LAYOUT_DIR, OCI_ARCHIVE or DISK`, { field: 'format' });
    }
    const img = await this.p.get(reference);
    const { dir, name } = await this.p.hostPaths.openForWrite(outputPath, 'output_path');
    const target = { dir, name, shown: outputPath.slice(0, 256) };
    const lease = this.p.content.leases.create();
    try {
      const out = await checkOutputPath(target, opts.overwrite, format === 'OCI_LAYOUT_DIR' ? 'dir' : 'file');
      [img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)].forEach((d) => lease.add(d));
      let size: number;
      if (format === 'OCI_LAYOUT_DIR') size = await exportLayout(this.p.content, img, target, out, ctx);
      else if (format === 'OCI_ARCHIVE') size = await exportArchive(this.p.content, img, target, out, this.p.paths.tmp, ctx);
      else size = await exportDisk(await this.p.baseDisk(img.digest, ctx), opts.diskFormat ?? 'qcow2', target, out, ctx);
      return { outputPath, digest: img.digest, size };
    } finally {
      lease.release();
      await dir.close();
    }
  }

  /**
   * The bytes of an export for the client to write with its own permissions: an OCI archive (tar) or
   * the disk (raw or qcow2). The image's blobs stay leased until the stream is consumed or dropped.
   */
  async exportStream(reference: string, format: Exclude<ExportFormat, 'OCI_LAYOUT_DIR'>, opts: { diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ digest: string; reference: string } & ExportBytes> {
    const img = await this.p.get(reference);
    const lease = this.p.content.leases.create();
    [img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)].forEach((d) => lease.add(d));
    let bytes: ExportBytes;
    try {
      bytes = format === 'OCI_ARCHIVE'
        ? await archiveStream(this.p.content, img, this.p.paths.tmp, ctx)
        : await diskStream(await this.p.baseDisk(img.digest, ctx), opts.diskFormat ?? 'raw', this.p.paths.tmp, ctx);
    } catch (err) {
      lease.release();
      throw err;
    }
    let released = false;
    const dispose = async () => {
      if (released) return;
      released = true;
      await bytes.dispose();
      lease.release();
    };
    async function* leased(): AsyncIterable<Buffer> {
      try {
        yield* bytes.chunks;
      } finally {
        await dispose();
      }
    }
    return { digest: img.digest, reference: img.reference, size: bytes.size, chunks: leased(), dispose };
  }
}
