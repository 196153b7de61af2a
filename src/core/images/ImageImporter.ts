// Import: a disk (streamed by the client, or read in place on the daemon's host) and its VMFile become
// windows (compressed layers), a config and a manifest; the raw disk the windows were cut from becomes
// the image's base disk. Also an OCI layout directory (skopeo's output, a loaded archive) as is.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { CallContext } from '../ports/common.js';
import type { ImageOrigin, ImportHeader, LocalImage, OciDescriptor, OciManifest, ProducedDisk, VMFile, VmImageConfig } from '../ports/images.js';
import { importProducedDisk } from './containerDisk/importDisk.js';
import {
  CancelledError, DataLossError, FailedPreconditionError, InvalidArgumentError, fromSystemError, hasCode, throwIfAborted,
} from '../errors.js';
import type { HostPaths } from '../hostfs/HostPaths.js';
import { assertDiskFits, diskWindows } from './coverage.js';
import { assertDigest, hexOf, sha256Of } from './digest.js';
import { inspectDiskHeader, qcow2VirtualSize } from './diskHeader.js';
import { exists, parseManifest, taggable, tryParse } from './imageRecords.js';
import { openHostImport } from './importHostFile.js';
import type { Lease } from './Leases.js';
import { commitManifest, discardCreated, type IndexParts } from './manifestWrites.js';
import {
  ANN_AUTHORS, ANN_CREATED, ANN_DESCRIPTION, ANN_SOURCE, ANN_TITLE, ANN_TOTAL_USIZE, OCI_MANIFEST, VM_ARTIFACT, VM_CONFIG,
} from './mediaTypes.js';
import { refName, type OciIndexDoc } from './OciIndex.js';
import type { StorePaths } from './paths.js';
import { byteProgress } from './progress.js';
import { qemuImgConvert, qemuImgInfo } from './qemuImg.js';
import { Landing, spoolToSparseFile } from './spool.js';
import { assertValidVMFile, checkDiskInfo, checkVMFile } from './validateVMFile.js';
import { compressWindows, type WindowOptions } from './windows.js';
import { publishDisk } from './durableLater.js';
import { Writeback } from './writeback.js';

const DISK_NAME = 'root';

export interface ImportParts extends IndexParts {
  paths: StorePaths;
  hostPaths: HostPaths;
}

export interface ImportSettings {
  windowSize: number;
  codec: string;
  level: number;
  concurrency: number;
  /** The zstd binding windows are compressed with on the hash workers (nativeZstd.ts); none: the codec's run. */
  zstdBinding?: string;
  now?: () => Date;
}

export class ImageImporter {
  constructor(private readonly p: ImportParts, private readonly s: ImportSettings) {}

  /** ImportImage: the disk streamed by the client, spooled (raw: sparse) and converted when needed. */
  async importStream(header: ImportHeader, disk: AsyncIterable<Buffer>, ctx: CallContext): Promise<LocalImage> {
    const vmfile = structuredClone(header.vmfile) as VMFile;
    const checked = checkVMFile(vmfile);
    assertValidVMFile({ vmfile, errors: checked.errors }, 'the VMFile in the import header');
    const reference = taggable(header.reference || `${vmfile.metadata.name}:latest`);
    if (!Number.isSafeInteger(header.totalSize) || header.totalSize <= 0) {
      throw new InvalidArgumentError(`total_size must be the disk's size in bytes (> 0), got ${header.totalSize}`, { field: 'total_size' });
    }
    assertDiskFits(header.totalSize, this.p.maxDiskSize, 'the disk (total_size)');
    if (header.sha256 && !/^(sha256:)?[a-fA-F0-9]{64}$/.test(header.sha256)) {
      throw new InvalidArgumentError(`sha256 "${header.sha256}" is not 64 hex characters`, { field: 'sha256' });
    }
    return this.importInWork(reference, ctx, async (work, lease) => {
      const spool = path.join(work, 'disk.in');
      const recv = byteProgress(ctx, 'receive', header.totalSize);
      // A disk its VMFile says is raw is compressed window by window while the rest of it still arrives (issue 17),
      // read from the spool as each window lands there. The checks below still decide: a disk that is not what the
      // VMFile says fails the import, and the blobs made early go with it (the lease).
      const early = vmfile.spec.disk.format === 'raw' ? this.compressAsItLands(spool, header.totalSize, lease, ctx) : undefined;
      try {
        await spoolToSparseFile(disk, spool, {
          totalSize: header.totalSize, sha256: header.sha256, signal: early?.signal ?? ctx.signal, onBytes: (n) => recv.add(n), landing: early?.landing, writeback: Boolean(early),
        });
        recv.done();
        const info = await qemuImgInfo(spool, ctx.signal);
        const issues: string[] = [];
        checkDiskInfo(vmfile, info, (p, m) => issues.push(`${p.join('.')}: ${m}`));
        if (issues.length > 0) throw new InvalidArgumentError(`the disk does not match its VMFile: ${issues.join('; ')}`, { field: 'spec.disk.format', issues: issues.map((m) => ({ path: m.split(':')[0]!, message: m })) });
        assertDiskFits(info.virtualSize, this.p.maxDiskSize, `the ${info.format} disk's virtual size`);
        if (early) return await this.storeDisk({ source: spool, raw: spool, windows: early.layers }, info.virtualSize, vmfile, 'raw', reference, lease, ctx);
        ctx.progress?.({ phase: 'convert', current: 0, total: info.virtualSize, unit: 'bytes' });
        const raw = path.join(work, 'disk.raw');
        await qemuImgConvert(spool, info.format, raw, 'raw', ctx.signal);
        await rm(spool, { force: true }); // free the space before compressing
        return await this.storeDisk({ source: raw, raw }, info.virtualSize, vmfile, info.format, reference, lease, ctx);
      } catch (err) {
        throw await (early?.stop(err) ?? err);
      }
    });
  }

  /**
   * The windows of a disk being received into `spool`, each compressed once its bytes landed. The receive and the
   * windows stop together: a failure of either stops the other. `stop(err)` (the receive or a check failed) waits
   * until no window is read any more and gives the error to report — the first of the two.
   */
  private compressAsItLands(spool: string, virtualSize: number, lease: Lease, ctx: CallContext) {
    const landing = new Landing();
    const ac = new AbortController();
    const signal = AbortSignal.any([ctx.signal, ac.signal]);
    let first: { err: unknown } | undefined;
    const fail = (err: unknown) => {
      first ??= { err };
      ac.abort(err);
      landing.fail(err);
    };
    const layers = this.compressDisk(spool, virtualSize, lease, { ...ctx, signal }, { ready: (end, s) => landing.until(end, s) });
    layers.catch(fail);
    return {
      landing,
      signal,
      layers,
      async stop(err: unknown): Promise<unknown> {
        fail(err);
        await layers.catch(() => undefined);
        return first!.err;
      },
    };
  }

  /**
   * Windows of `source` → blobs → config → manifest → index; `raw` becomes the base disk (the source itself,
   * or the file `copyTo` writes during the same read).
   */
  private async storeDisk(disk: { source: string; raw: string; copyTo?: FileHandle; windows?: Promise<OciDescriptor[]> }, virtualSize: number, vmfile: VMFile, sourceFormat: string, reference: string, lease: Lease, ctx: CallContext, origin?: ImageOrigin): Promise<LocalImage> {
    const { raw } = disk;
    const layers = await (disk.windows ?? this.compressDisk(disk.source, virtualSize, lease, ctx, { copyTo: disk.copyTo && { fh: disk.copyTo, path: raw } }));
    const created = (this.s.now?.() ?? new Date()).toISOString();
    const config: VmImageConfig = {
      vmfile,
      disks: [{ name: DISK_NAME, format: 'raw', virtualSize, windowSize: this.s.windowSize, codec: this.s.codec, sourceFormat }],
      created,
      ...(origin ? { origin } : {}),
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = sha256Of(configBytes);
    lease.add(configDigest);
    if (await this.p.content.putNew(configDigest, configBytes)) lease.created.add(configDigest);
    const md = vmfile.metadata;
    const annotations: Record<string, string> = { [ANN_CREATED]: created, [ANN_TITLE]: md.name, [ANN_TOTAL_USIZE]: String(virtualSize) };
    if (md.description) annotations[ANN_DESCRIPTION] = md.description;
    if (md.author) annotations[ANN_AUTHORS] = md.author;
    if (md.source) annotations[ANN_SOURCE] = md.source;
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: VM_ARTIFACT,
      config: { mediaType: VM_CONFIG, digest: configDigest, size: configBytes.length },
      layers,
      annotations,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256Of(manifestBytes);
    diskWindows(manifest, config); // coverage of what we just wrote
    throwIfAborted(ctx.signal);
    // The file the windows were cut from is the base disk; no need to reassemble it later.
    const dest = this.p.paths.disk(digest);
    lease.add(digest); // GC keeps the disk of a manifest not yet in index.json
    if (!(await exists(dest))) {
      await chmod(raw, 0o600); // private; the hypervisor plugin opens it to QEMU (libvirt: filePermissions.ts)
      await publishDisk(raw, dest, this.p.log); // synced in the background (durableLater.ts)
    }
    return commitManifest(this.p, reference, manifestBytes, ctx);
  }

  /** The windows of `source` as blobs; `copyTo` (an in-place import) is the base disk, written during the same read. */
  private async compressDisk(source: string, virtualSize: number, lease: Lease, ctx: CallContext, more: { copyTo?: { fh: FileHandle; path: string }; ready?: WindowOptions['ready'] } = {}): Promise<OciDescriptor[]> {
    const comp = byteProgress(ctx, 'compress', virtualSize);
    // The base disk is written by a worker thread; writing it back while it grows spreads the disk's
    // work over the import instead of leaving it all to the blobs' fsyncs at the end (writeback.ts).
    const base = more.copyTo && new Writeback(more.copyTo.fh).periodic();
    const layers = await compressWindows(source, virtualSize, {
      windowSize: this.s.windowSize, codec: this.s.codec, level: this.s.level, concurrency: this.s.concurrency, zstdBinding: this.s.zstdBinding,
      diskName: DISK_NAME, content: this.p.content, lease, signal: ctx.signal, onBytes: (n) => comp.add(n), copyTo: more.copyTo?.path, ready: more.ready,
    }).finally(() => base?.settle());
    comp.done();
    return layers;
  }

  async importFile(vmfilePath: string, reference: string, ctx: CallContext, opts: { allowOutsidePaths?: boolean } = {}): Promise<LocalImage> {
    const { vmfile, disk } = await openHostImport(this.p.hostPaths, vmfilePath, { allowOutsidePaths: opts.allowOutsidePaths, signal: ctx.signal });
    try {
      const { format } = await inspectDiskHeader(disk.fh, disk.size);
      // Read in place (no spool copy, issue 17) through the descriptor that was checked, never the path again;
      // /proc/<pid>/fd/N because qemu-img, a child, must reach our descriptor, not its own.
      const source = `/proc/${process.pid}/fd/${disk.fh.fd}`;
      const virtualSize = format === 'raw' ? disk.size : await qcow2VirtualSize(disk.fh);
      assertDiskFits(virtualSize, this.p.maxDiskSize, `the ${format} disk's virtual size`);
      if (format === 'raw') return await this.importRawInPlace(source, virtualSize, vmfile, reference, ctx);
      return await this.importQcow2InPlace(source, virtualSize, vmfile, reference, ctx);
    } finally {
      await disk.close();
    }
  }

  /**
   * A raw disk the daemon can read: no spool copy. One read of the source feeds the window compressors
   * and the sparse base disk at once (issue 17); the source is never interpreted, only copied, so a file
   * swapped after validation yields its bytes as a raw disk and nothing else.
   */
  private async importRawInPlace(source: string, virtualSize: number, vmfile: VMFile, reference: string, ctx: CallContext): Promise<LocalImage> {
    return this.importInWork(reference, ctx, async (work, lease) => {
      const raw = path.join(work, 'disk.raw');
      const base = await open(raw, 'wx', 0o600);
      try {
        await base.truncate(virtualSize);
        return await this.storeDisk({ source, raw, copyTo: base }, virtualSize, vmfile, 'raw', reference, lease, ctx);
      } finally {
        await base.close().catch(() => {});
      }
    });
  }

  /** A qcow2 disk the daemon can read: converted straight from the source (no spool copy of it first). */
  private async importQcow2InPlace(source: string, virtualSize: number, vmfile: VMFile, reference: string, ctx: CallContext): Promise<LocalImage> {
    return this.importInWork(reference, ctx, async (work, lease) => {
      const raw = path.join(work, 'disk.raw');
      ctx.progress?.({ phase: 'convert', current: 0, total: virtualSize, unit: 'bytes' });
      await qemuImgConvert(source, 'qcow2', raw, 'raw', ctx.signal);
      const size = (await stat(raw)).size;
      if (size !== virtualSize) throw new FailedPreconditionError(`${source} changed while it was read (virtual size ${size}, checked ${virtualSize}); nothing was stored`);
      return this.storeDisk({ source: raw, raw }, virtualSize, vmfile, 'qcow2', reference, lease, ctx);
    });
  }

  /** A containerDisk pull: the disk a producer extracts into a work dir of the store (containerDisk/importDisk.ts). */
  async importDisk(reference: string, produce: (workDir: string) => Promise<ProducedDisk>, ctx: CallContext): Promise<LocalImage> {
    const ref = taggable(reference);
    return this.importInWork(ref, ctx, (work, lease) => importProducedDisk(work, produce, ctx,
      (disk, size, vmfile, format, origin) => this.storeDisk(disk, size, vmfile, format, ref, lease, ctx, origin), this.p.maxDiskSize));
  }

  /** A private work dir and a lease for an import; on failure the blobs it created are removed. */
  private async importInWork(reference: string, ctx: CallContext, body: (work: string, lease: Lease) => Promise<LocalImage>): Promise<LocalImage> {
    const work = path.join(this.p.paths.tmp, randomUUID());
    const lease = this.p.content.leases.create();
    try {
      await mkdir(work, { mode: 0o700 });
      const result = await body(work, lease);
      this.p.log.info({ op: 'import', reference, digest: result.digest }, 'image imported');
      return result;
    } catch (err) {
      await discardCreated(this.p, lease);
      // Whatever broke first (the client's stream, a child process), a cancelled call is CANCELLED.
      if (ctx.signal.aborted && !(hasCode(err, 'CANCELLED'))) {
        throw new CancelledError('import cancelled; nothing was stored', { cause: err });
      }
      throw fromSystemError(err, 'importing the image');
    } finally {
      lease.release();
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Imports an image from an OCI layout directory (e.g. one `skopeo copy` wrote). */
  async importLayout(dir: string, reference: string | undefined, ctx: CallContext): Promise<LocalImage> {
    let doc: OciIndexDoc;
    try {
      doc = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as OciIndexDoc;
    } catch (err) {
      throw new InvalidArgumentError(`${dir} is not an OCI image layout (index.json unreadable: ${(err as Error).message})`, { field: 'path' });
    }
    const entries = (doc.manifests ?? []).filter((m) => m.mediaType === OCI_MANIFEST);
    const want = reference ? tryParse(reference)?.reference ?? reference : undefined;
    const entry = want ? entries.find((m) => refName(m) === want || refName(m) === reference) ?? (entries.length === 1 ? entries[0] : undefined) : entries[0];
    if (!entry || (!want && entries.length > 1)) {
      throw new InvalidArgumentError(`cannot choose an image in ${dir}: ${entries.length} manifests (${entries.map(refName).join(', ')}); name one`, { field: 'reference' });
    }
    const blob = (d: string) => path.join(dir, 'blobs', 'sha256', hexOf(assertDigest(d)));
    const manifestBytes = await readFile(blob(entry.digest));
    if (sha256Of(manifestBytes) !== entry.digest) throw new DataLossError(`manifest ${entry.digest} in ${dir} does not match its digest`);
    const manifest = parseManifest(manifestBytes);
    const lease = this.p.content.leases.create();
    try {
      for (const d of [manifest.config, ...manifest.layers]) {
        lease.add(d.digest);
        if (await this.p.content.putFile(blob(d.digest), d.digest, ctx)) lease.created.add(d.digest);
      }
      return await commitManifest(this.p, reference ?? refName(entry) ?? '', manifestBytes, ctx);
    } catch (err) {
      await discardCreated(this.p, lease);
      throw err;
    } finally {
      lease.release();
    }
  }
}
