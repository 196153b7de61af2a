// The local image store (port `vmregistry.images.v1`): an OCI image layout under
// `<dataDir>/images/oci` plus one sparse raw base disk per manifest under `<dataDir>/images/disks`.
// Plain class, no DI: the core wires it.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readFile, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { CallContext, Logger } from '../ports/common.js';
import { silentLogger } from '../log/silentLogger.js';
import type {
  BaseDiskBuilder, ExportFormat, ImageInfo, ImageOrigin, ImageStore, ImportHeader, LocalImage, OciDescriptor, OciManifest, ProducedDisk, VMFile, VmImageConfig,
} from '../ports/images.js';
import { importProducedDisk } from './containerDisk/importDisk.js';
import {
  CancelledError, DataLossError, FailedPreconditionError, InvalidArgumentError, NotFoundError, fromSystemError, isVmrError, throwIfAborted,
} from '../errors.js';
import { fsyncDir } from './atomicFile.js';
import { inspectDiskHeader, qcow2VirtualSize } from './diskHeader.js';
import { DiskBuilder, assembleDisk } from './baseDisk.js';
import { checkStore, type StoreCheck } from './checkStore.js';
import { DEFAULT_CODEC, DEFAULT_LEVEL, codecByName } from './codecs.js';
import { diskWindows, type Window } from './coverage.js';
import { assertDigest, hexOf, isDigest, sha256Of } from './digest.js';
import { archiveStream, diskStream, exportArchive, exportDisk, exportLayout, type ExportBytes } from './exportImage.js';
import { collectGarbage, referencedDigests, type GcResult } from './gc.js';
import type { Lease } from './Leases.js';
import { KeyedMutex } from './locks.js';
import {
  ANN_AUTHORS, ANN_CREATED, ANN_DESCRIPTION, ANN_REF_NAME, ANN_SOURCE, ANN_TITLE, ANN_TOTAL_USIZE,
  OCI_MANIFEST, VM_ARTIFACT, VM_CONFIG,
} from './mediaTypes.js';
import { OciContentStore } from './OciContentStore.js';
import { OciIndex, refName, type OciIndexDoc } from './OciIndex.js';
import { checkOutputPath } from './outputPath.js';
import { openHostImport } from './importHostFile.js';
import { loadArchive } from './loadArchive.js';
import { HostPaths } from '../hostfs/HostPaths.js';
import { StorePaths } from './paths.js';
import { defaultConcurrency } from './pool.js';
import { byteProgress } from './progress.js';
import { qemuImgConvert, qemuImgInfo } from './qemuImg.js';
import { digestLike, parseReference } from './reference.js';
import { spoolToSparseFile } from './spool.js';
import { assertValidVMFile, checkDiskInfo, checkVMFile, validateVMFile } from './validateVMFile.js';
import { compressWindows } from './windows.js';

export const DEFAULT_WINDOW_SIZE = 512 * 1024 * 1024;
const DISK_NAME = 'root';

export interface OciImageStoreOptions {
  /** The daemon's data dir; the store lives in `<dataDir>/images`. */
  dataDir: string;
  log?: Logger;
  /** Uncompressed bytes per disk layer (default 512 MiB; a multiple of 1 MiB). */
  windowSize?: number;
  /** `zstd` (system binary, default) or `gzip`. */
  codec?: string;
  /** Codec level (default 2; see bench/README.md). */
  level?: number;
  /** Parallel window (de)compressions (default: available cores). */
  concurrency?: number;
  /** Blobs a pull wrote through content.writer() survive GC this long until a manifest claims them (default 10 min). */
  gcGraceMs?: number;
  /** Interrupted ingests older than this are removed by GC (default 24 h). */
  ingestMaxAgeMs?: number;
  now?: () => Date;
  /** Host directories requests may read from / write to (default: `<dataDir>/import`, `<dataDir>/export`). */
  hostPaths?: HostPaths;
}

interface Loaded {
  manifest: OciManifest;
  manifestBytes: Buffer;
  config: VmImageConfig;
  size: number;
}

const noopLog: Logger = silentLogger();

export class OciImageStore implements ImageStore {
  readonly content: OciContentStore;
  readonly paths: StorePaths;
  readonly hostPaths: HostPaths;
  private readonly index: OciIndex;
  private readonly log: Logger;
  private readonly windowSize: number;
  private readonly codec: string;
  private readonly level: number;
  private readonly concurrency: number;
  private readonly loaded = new Map<string, Loaded>();
  private readonly diskLocks = new KeyedMutex();
  private ready?: Promise<void>;

  constructor(private readonly opts: OciImageStoreOptions) {
    this.paths = new StorePaths(opts.dataDir);
    this.hostPaths = opts.hostPaths ?? new HostPaths({ dataDir: opts.dataDir });
    this.content = new OciContentStore({ layoutDir: this.paths.layout, ingestDir: this.paths.ingest });
    this.index = new OciIndex(this.paths.layout);
    this.log = opts.log ?? noopLog;
    this.windowSize = opts.windowSize ?? DEFAULT_WINDOW_SIZE;
    if (!Number.isSafeInteger(this.windowSize) || this.windowSize < 1 << 20 || this.windowSize % (1 << 20) !== 0) {
      throw new InvalidArgumentError(`images.windowSize ${this.windowSize} must be a positive multiple of 1 MiB`);
    }
    this.codec = codecByName(opts.codec ?? DEFAULT_CODEC).name;
    this.level = opts.level ?? DEFAULT_LEVEL;
    this.concurrency = opts.concurrency ?? defaultConcurrency();
  }

  /** Creates the layout and removes leftovers of interrupted work. Called lazily by every operation. */
  init(): Promise<void> {
    this.ready ??= (async () => {
      for (const d of [this.opts.dataDir, this.paths.root, this.paths.layout, this.paths.disks, this.paths.ingest, this.paths.tmp]) {
        await mkdir(d, { recursive: true, mode: 0o755 });
      }
      // libvirt-qemu must traverse to the base disks.
      for (const d of [this.opts.dataDir, this.paths.root, this.paths.disks]) await chmod(d, 0o755);
      await this.index.init();
      await this.content.init();
      await rm(this.paths.tmp, { recursive: true, force: true });
      await mkdir(this.paths.tmp, { mode: 0o755 });
      for (const f of await readdir(this.paths.disks)) {
        if (f.startsWith('.') && f.endsWith('.tmp')) await rm(path.join(this.paths.disks, f), { force: true });
      }
    })();
    return this.ready;
  }

  // ---- lookups -------------------------------------------------------------------------------

  private async load(digest: string): Promise<Loaded> {
    const hit = this.loaded.get(digest);
    if (hit) return hit;
    const manifestBytes = await this.content.readAll(digest);
    const manifest = parseManifest(manifestBytes);
    const configBytes = await this.content.readAll(manifest.config.digest);
    let config: VmImageConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as VmImageConfig;
    } catch {
      throw new DataLossError(`config blob ${manifest.config.digest} of ${digest} is not JSON`);
    }
    const size = manifestBytes.length + manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0);
    const l = { manifest, manifestBytes, config, size };
    this.loaded.set(digest, l);
    return l;
  }

  private toLocal(reference: string, digest: string, l: Loaded): LocalImage {
    return { reference, digest, manifest: l.manifest, manifestBytes: l.manifestBytes, config: l.config, info: this.info(reference, digest, l) };
  }

  private info(reference: string, digest: string, l: Loaded): ImageInfo {
    let repository = reference;
    let tag = '';
    try {
      const p = parseReference(reference);
      repository = p.repository;
      tag = p.tag ?? '';
    } catch { /* a foreign ref.name (written by another tool): show it as is */ }
    const vf = l.config.vmfile;
    const disk = l.config.disks?.[0];
    return {
      reference, repository, tag, digest,
      size: l.size,
      diskSize: disk?.virtualSize ?? 0,
      created: l.config.created ?? '',
      name: vf?.metadata?.name ?? '',
      description: vf?.metadata?.description ?? '',
      author: vf?.metadata?.author ?? '',
      labels: vf?.metadata?.labels ?? {},
      diskFormat: vf?.spec?.disk?.format ?? disk?.format ?? '',
      architecture: vf?.spec?.os?.architecture ?? '',
      sourceFormat: l.config.origin?.format ?? 'vmregistry',
    };
  }

  async resolve(reference: string): Promise<LocalImage | undefined> {
    await this.init();
    const doc = await this.index.read();
    const byId = digestLike(reference);
    if (byId) {
      // A name that happens to look like hex wins over an id prefix (as in Docker).
      const named = tryParse(reference);
      const entry = named && doc.manifests.find((m) => refName(m) === named.reference);
      if (entry) return this.toLocal(named.reference, entry.digest, await this.load(entry.digest));
      let digest = byId.digest;
      if (!digest) {
        const hits = [...new Set(doc.manifests.map((m) => m.digest).filter((d) => hexOf(d).startsWith(byId.prefix!)))];
        if (hits.length > 1) throw new InvalidArgumentError(`image id prefix "${reference}" is ambiguous (${hits.length} images); give more characters`, { field: 'reference' });
        digest = hits[0];
      }
      if (!digest || !(await this.content.has(digest))) return undefined;
      const l = await this.load(digest);
      const tagged = doc.manifests.find((m) => m.digest === digest && refName(m));
      return this.toLocal(tagged ? refName(tagged)! : digest, digest, l);
    }
    const p = parseReference(reference);
    if (p.digest) {
      if (!(await this.content.has(p.digest))) return undefined;
      return this.toLocal(p.reference, p.digest, await this.load(p.digest));
    }
    const entry = doc.manifests.find((m) => refName(m) === p.reference);
    if (!entry) return undefined;
    return this.toLocal(p.reference, entry.digest, await this.load(entry.digest));
  }

  async get(reference: string): Promise<LocalImage> {
    const img = await this.resolve(reference);
    if (!img) throw new NotFoundError(`image "${reference}" not found locally; pull or import it first, or check "vmr images"`);
    return img;
  }

  async list(): Promise<ImageInfo[]> {
    await this.init();
    const doc = await this.index.read();
    const out: ImageInfo[] = [];
    for (const m of doc.manifests) {
      const ref = refName(m);
      if (!ref || m.mediaType !== OCI_MANIFEST) continue;
      try {
        out.push(this.info(ref, m.digest, await this.load(m.digest)));
      } catch (err) {
        this.log.warn({ err, reference: ref, digest: m.digest }, 'skipping unreadable image in the store');
      }
    }
    return out.sort((a, b) => a.reference.localeCompare(b.reference));
  }

  // ---- writes --------------------------------------------------------------------------------

  /** Points `reference` at `desc` in index.json (replacing what it pointed at). */
  private async setRef(reference: string, desc: OciDescriptor): Promise<void> {
    await this.index.update((doc) => {
      doc.manifests = doc.manifests.filter((m) => refName(m) !== reference);
      doc.manifests.push({
        mediaType: OCI_MANIFEST,
        digest: desc.digest,
        size: desc.size,
        ...(desc.artifactType ? { artifactType: desc.artifactType } : {}),
        annotations: { [ANN_REF_NAME]: reference },
      });
    });
  }

  async commitManifest(reference: string, manifestBytes: Buffer, ctx: CallContext): Promise<LocalImage> {
    await this.init();
    const manifest = parseManifest(manifestBytes);
    const digest = sha256Of(manifestBytes);
    // A pull by digest is recorded as `repo@sha256:…` (a valid ref.name), so it stays a GC root.
    const parsed = parseReference(reference);
    if (parsed.digest && parsed.digest !== digest) {
      throw new DataLossError(`the manifest hashes to ${digest}, not to ${parsed.digest} that "${reference}" names`);
    }
    const ref = parsed.reference;
    const lease = this.content.leases.create();
    try {
      for (const d of [manifest.config, ...manifest.layers]) {
        throwIfAborted(ctx.signal);
        assertDigest(d.digest, 'manifest blob digest');
        lease.add(d.digest);
        let have: number;
        try {
          have = await this.content.size(d.digest);
        } catch (err) {
          if (isVmrError(err) && err.code === 'NOT_FOUND') throw new FailedPreconditionError(`blob ${d.digest} of manifest ${digest} is not in the store; write every blob before committing the manifest`);
          throw err;
        }
        if (have !== d.size) throw new DataLossError(`blob ${d.digest} has ${have} bytes, the manifest says ${d.size}`);
      }
      if (manifest.config.mediaType !== VM_CONFIG) {
        throw new InvalidArgumentError(`manifest config is ${manifest.config.mediaType}, not a vmregistry VM image (${VM_CONFIG})`);
      }
      const config = JSON.parse((await this.content.readAll(manifest.config.digest)).toString('utf8')) as VmImageConfig;
      diskWindows(manifest, config); // coverage
      lease.add(digest);
      await this.content.put(digest, manifestBytes);
      for (const d of [manifest.config, ...manifest.layers]) this.content.unclaimed.delete(d.digest);
      await this.setRef(ref, { mediaType: OCI_MANIFEST, digest, size: manifestBytes.length, artifactType: manifest.artifactType });
      return this.toLocal(ref, digest, await this.load(digest));
    } finally {
      lease.release();
    }
  }

  async importStream(header: ImportHeader, disk: AsyncIterable<Buffer>, ctx: CallContext): Promise<LocalImage> {
    await this.init();
    const vmfile = structuredClone(header.vmfile) as VMFile;
    const checked = checkVMFile(vmfile);
    assertValidVMFile({ vmfile, errors: checked.errors }, 'the VMFile in the import header');
    const reference = taggable(header.reference || `${vmfile.metadata.name}:latest`);
    if (!Number.isSafeInteger(header.totalSize) || header.totalSize <= 0) {
      throw new InvalidArgumentError(`total_size must be the disk's size in bytes (> 0), got ${header.totalSize}`, { field: 'total_size' });
    }
    if (header.sha256 && !/^(sha256:)?[a-fA-F0-9]{64}$/.test(header.sha256)) {
      throw new InvalidArgumentError(`sha256 "${header.sha256}" is not 64 hex characters`, { field: 'sha256' });
    }
    const work = path.join(this.paths.tmp, randomUUID());
    const lease = this.content.leases.create();
    const log = this.log.child({ op: 'import', reference });
    try {
      await mkdir(work, { mode: 0o700 });
      const spool = path.join(work, 'disk.in');
      const recv = byteProgress(ctx, 'receive', header.totalSize);
      await spoolToSparseFile(disk, spool, { totalSize: header.totalSize, sha256: header.sha256 }, ctx.signal, (n) => recv.add(n));
      recv.done();
      const info = await qemuImgInfo(spool, ctx.signal);
      const issues: string[] = [];
      checkDiskInfo(vmfile, info, (p, m) => issues.push(`${p.join('.')}: ${m}`));
      if (issues.length > 0) throw new InvalidArgumentError(`the disk does not match its VMFile: ${issues.join('; ')}`, { field: 'spec.disk.format', issues: issues.map((m) => ({ path: m.split(':')[0]!, message: m })) });
      let raw = spool;
      if (info.format !== 'raw') {
        ctx.progress?.({ phase: 'convert', current: 0, total: info.virtualSize, unit: 'bytes' });
        raw = path.join(work, 'disk.raw');
        await qemuImgConvert(spool, info.format, raw, 'raw', ctx.signal);
        await rm(spool, { force: true }); // free the space before compressing
      }
      const result = await this.storeDisk({ source: raw, raw }, info.virtualSize, vmfile, info.format, reference, lease, ctx);
      log.info({ digest: result.digest, virtualSize: info.virtualSize }, 'image imported');
      return result;
    } catch (err) {
      await this.discard(lease);
      // Whatever broke first (the client's stream, a child process), a cancelled call is CANCELLED.
      if (ctx.signal.aborted && !(isVmrError(err) && err.code === 'CANCELLED')) {
        throw new CancelledError('import cancelled; nothing was stored', { cause: err });
      }
      throw fromSystemError(err, 'importing the image');
    } finally {
      lease.release();
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Windows of `source` → blobs → config → manifest → index; `raw` becomes the base disk (the source itself,
   * or the file `copyTo` writes during the same read).
   */
  private async storeDisk(disk: { source: string; raw: string; copyTo?: FileHandle }, virtualSize: number, vmfile: VMFile, sourceFormat: string, reference: string, lease: Lease, ctx: CallContext, origin?: ImageOrigin): Promise<LocalImage> {
    const { raw } = disk;
    const comp = byteProgress(ctx, 'compress', virtualSize);
    const layers = await compressWindows(disk.source, virtualSize, {
      windowSize: this.windowSize, codec: this.codec, level: this.level, concurrency: this.concurrency,
      diskName: DISK_NAME, content: this.content, lease, signal: ctx.signal, onBytes: (n) => comp.add(n), copyTo: disk.copyTo,
    });
    comp.done();
    await disk.copyTo?.sync();
    const created = (this.opts.now?.() ?? new Date()).toISOString();
    const config: VmImageConfig = {
      vmfile,
      disks: [{ name: DISK_NAME, format: 'raw', virtualSize, windowSize: this.windowSize, codec: this.codec, sourceFormat }],
      created,
      ...(origin ? { origin } : {}),
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = sha256Of(configBytes);
    lease.add(configDigest);
    if (await this.content.putNew(configDigest, configBytes)) lease.created.add(configDigest);
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
    const dest = this.paths.disk(digest);
    lease.add(digest); // GC keeps the disk of a manifest not yet in index.json
    if (!(await exists(dest))) {
      await chmod(raw, 0o600); // private; the hypervisor plugin opens it to QEMU (libvirt: filePermissions.ts)
      await rename(raw, dest);
      await fsyncDir(this.paths.disks);
    }
    return this.commitManifest(reference, manifestBytes, ctx);
  }

  async importFile(vmfilePath: string, reference: string, ctx: CallContext, opts: { allowOutsidePaths?: boolean } = {}): Promise<LocalImage> {
    await this.init();
    const { vmfile, disk } = await openHostImport(this.hostPaths, vmfilePath, { allowOutsidePaths: opts.allowOutsidePaths, signal: ctx.signal });
    try {
      const { format } = await inspectDiskHeader(disk.fh, disk.size);
      // Read in place (no spool copy, issue 17) through the descriptor that was checked, never the path again;
      // /proc/<pid>/fd/N because qemu-img, a child, must reach our descriptor, not its own.
      const source = `/proc/${process.pid}/fd/${disk.fh.fd}`;
      if (format === 'raw') return await this.importRawInPlace(source, disk.size, vmfile, reference, ctx);
      return await this.importQcow2InPlace(source, await qcow2VirtualSize(disk.fh), vmfile, reference, ctx);
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
    await this.init();
    const ref = taggable(reference);
    return this.importInWork(ref, ctx, (work, lease) => importProducedDisk(work, produce, ctx,
      (disk, size, vmfile, format, origin) => this.storeDisk(disk, size, vmfile, format, ref, lease, ctx, origin)));
  }

  /** A private work dir and a lease for an import; on failure the blobs it created are removed. */
  private async importInWork(reference: string, ctx: CallContext, body: (work: string, lease: Lease) => Promise<LocalImage>): Promise<LocalImage> {
    const work = path.join(this.paths.tmp, randomUUID());
    const lease = this.content.leases.create();
    try {
      await mkdir(work, { mode: 0o700 });
      const result = await body(work, lease);
      this.log.info({ op: 'import', reference, digest: result.digest }, 'image imported in place');
      return result;
    } catch (err) {
      await this.discard(lease);
      if (ctx.signal.aborted && !(isVmrError(err) && err.code === 'CANCELLED')) {
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
    await this.init();
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
    const lease = this.content.leases.create();
    try {
      for (const d of [manifest.config, ...manifest.layers]) {
        lease.add(d.digest);
        if (await this.content.putFile(blob(d.digest), d.digest, ctx)) lease.created.add(d.digest);
      }
      return await this.commitManifest(reference ?? refName(entry) ?? '', manifestBytes, ctx);
    } catch (err) {
      await this.discard(lease);
      throw err;
    } finally {
      lease.release();
    }
  }

  async export(reference: string, outputPath: string, format: ExportFormat, opts: { overwrite: boolean; diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ outputPath: string; digest: string; size: number }> {
    await this.init();
    if (!['OCI_LAYOUT_DIR', 'OCI_ARCHIVE', 'DISK'].includes(format)) {
      throw new InvalidArgumentError(`unknown export format "${format as string}"; use OCI_LAYOUT_DIR, OCI_ARCHIVE or DISK`, { field: 'format' });
    }
    const img = await this.get(reference);
    const { dir, name } = await this.hostPaths.openForWrite(outputPath, 'output_path');
    const target = { dir, name, shown: outputPath.slice(0, 256) };
    const lease = this.content.leases.create();
    try {
      const out = await checkOutputPath(target, opts.overwrite, format === 'OCI_LAYOUT_DIR' ? 'dir' : 'file');
      [img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)].forEach((d) => lease.add(d));
      let size: number;
      if (format === 'OCI_LAYOUT_DIR') size = await exportLayout(this.content, img, target, out, ctx);
      else if (format === 'OCI_ARCHIVE') size = await exportArchive(this.content, img, target, out, this.paths.tmp, ctx);
      else size = await exportDisk(await this.baseDisk(img.digest, ctx), opts.diskFormat ?? 'qcow2', target, out, ctx);
      return { outputPath, digest: img.digest, size };
    } finally {
      lease.release();
      await dir.close();
    }
  }

  /** LoadImage: an OCI archive from the client (loadArchive.ts checks it before unpacking). */
  async loadArchive(chunks: AsyncIterable<Buffer>, opts: { reference?: string; totalSize: number }, ctx: CallContext): Promise<LocalImage> {
    await this.init();
    return loadArchive({ tmpDir: this.paths.tmp, importLayout: (d, r, c) => this.importLayout(d, r, c) }, chunks, opts, ctx);
  }

  /**
   * The bytes of an export for the client to write with its own permissions: an OCI archive (tar) or
   * the disk (raw or qcow2). The image's blobs stay leased until the stream is consumed or dropped.
   */
  async exportStream(reference: string, format: Exclude<ExportFormat, 'OCI_LAYOUT_DIR'>, opts: { diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ digest: string; reference: string } & ExportBytes> {
    await this.init();
    const img = await this.get(reference);
    const lease = this.content.leases.create();
    [img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)].forEach((d) => lease.add(d));
    let bytes: ExportBytes;
    try {
      bytes = format === 'OCI_ARCHIVE'
        ? await archiveStream(this.content, img, this.paths.tmp, ctx)
        : await diskStream(await this.baseDisk(img.digest, ctx), opts.diskFormat ?? 'raw', this.paths.tmp, ctx);
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

  async tag(source: string, target: string): Promise<LocalImage> {
    const img = await this.get(source);
    const ref = taggable(target, 'target');
    await this.setRef(ref, { mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifestBytes.length, artifactType: img.manifest.artifactType });
    return this.toLocal(ref, img.digest, await this.load(img.digest));
  }

  async untag(reference: string): Promise<{ untagged: string[]; deleted: string[] }> {
    await this.init();
    const id = digestLike(reference);
    const named = tryParse(reference);
    return this.index.update((doc) => {
      let match: (m: OciDescriptor) => boolean;
      const byName = named && doc.manifests.some((m) => refName(m) === named.reference);
      if (byName || (named && !id)) {
        match = named!.digest
          ? (m) => m.digest === named!.digest && (refName(m) === named!.reference || (refName(m) ?? '').startsWith(named!.repository + ':'))
          : (m) => refName(m) === named!.reference;
      } else if (id) {
        const d = id.digest;
        match = d ? (m) => m.digest === d : (m) => hexOf(m.digest).startsWith(id.prefix!);
      } else {
        match = () => false;
      }
      const hit = doc.manifests.filter(match);
      if (hit.length === 0 && named?.digest) {
        // `repo@digest` not tagged under that repository: untag every name of the digest.
        hit.push(...doc.manifests.filter((m) => m.digest === named.digest));
      }
      if (hit.length === 0) throw new NotFoundError(`image "${reference}" not found locally; see "vmr images"`);
      if (new Set(hit.map((m) => m.digest)).size > 1) throw new InvalidArgumentError(`"${reference}" matches several images; give a full digest or name`, { field: 'reference' });
      doc.manifests = doc.manifests.filter((m) => !hit.includes(m));
      const remaining = new Set(doc.manifests.map((m) => m.digest));
      return {
        untagged: hit.map((m) => refName(m) ?? m.digest),
        deleted: [...new Set(hit.map((m) => m.digest))].filter((d) => !remaining.has(d)),
      };
    });
  }

  /**
   * After a failed import: removes the blobs it created that nothing else references or holds,
   * so a failure leaves the store as it was.
   */
  private async discard(lease: Lease): Promise<void> {
    if (lease.created.size === 0) return;
    try {
      await this.index.exclusive(async () => {
        const referenced = await referencedDigests(this.content, await this.index.read());
        await this.content.gcLock.write(async () => {
          for (const d of lease.created) {
            if (!referenced.has(d)) await this.content.removeUnleased(d, 1);
          }
        });
      });
    } catch (err) {
      this.log.warn({ err }, 'could not remove the blobs of a failed import; GC will');
    }
  }

  /** Re-verifies blobs, manifests and base disks (see checkStore.ts). */
  async check(opts: { verifyDisks: boolean }, ctx: CallContext): Promise<StoreCheck> {
    await this.init();
    const manifestDigests = [...new Set((await this.list()).map((i) => i.digest))];
    return checkStore({ content: this.content, paths: this.paths, manifestDigests, verifyDisks: opts.verifyDisks }, ctx);
  }

  async gc(opts: { dryRun: boolean; inUseDigests: Set<string> }, ctx: CallContext): Promise<GcResult> {
    await this.init();
    return this.index.exclusive(() => collectGarbage({
      content: this.content,
      index: this.index,
      paths: this.paths,
      dryRun: opts.dryRun,
      inUse: opts.inUseDigests,
      graceMs: this.opts.gcGraceMs ?? 10 * 60_000,
      ingestMaxAgeMs: this.opts.ingestMaxAgeMs ?? 24 * 3600_000,
      log: this.log,
      ctx,
    }));
  }

  async validateVMFile(content: string, baseDir: string, opts: { allowOutsidePaths?: boolean; checkDisk?: boolean } = {}) {
    const v = await validateVMFile(content, baseDir, { allowOutsidePaths: opts.allowOutsidePaths, checkDisk: opts.checkDisk });
    return { vmfile: v.vmfile, errors: v.errors, warnings: v.warnings };
  }

  async beginBaseDisk(manifestBytes: Buffer, ctx: CallContext): Promise<BaseDiskBuilder | undefined> {
    await this.init();
    const digest = sha256Of(manifestBytes);
    const dest = this.paths.disk(digest);
    if (await exists(dest)) return undefined;
    let manifest: OciManifest;
    let config: VmImageConfig;
    let windows: Window[];
    let virtualSize: number;
    try {
      manifest = parseManifest(manifestBytes);
      if (manifest.config.mediaType !== VM_CONFIG || !(await this.content.has(manifest.config.digest))) return undefined;
      config = JSON.parse((await this.content.readAll(manifest.config.digest)).toString('utf8')) as VmImageConfig;
      ({ windows, virtualSize } = diskWindows(manifest, config));
    } catch {
      return undefined; // commitManifest reports what is wrong with it
    }
    const lease = this.content.leases.create();
    lease.add(digest);
    manifest.layers.forEach((l) => lease.add(l.digest));
    const p = byteProgress(ctx, 'assemble', windows.reduce((a, w) => a + w.size, 0), digest);
    let b: DiskBuilder;
    try {
      b = await DiskBuilder.open(dest, virtualSize, windows, this.content, { concurrency: this.concurrency, signal: ctx.signal, onBytes: (n) => p.add(n) });
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
    await this.init();
    assertDigest(digest);
    const dest = this.paths.disk(digest);
    if (await exists(dest)) return dest;
    return this.diskLocks.run(digest, async () => {
      if (await exists(dest)) return dest;
      const lease = this.content.leases.create();
      try {
        lease.add(digest);
        if (!(await this.content.has(digest))) throw new NotFoundError(`image ${digest} is not in the local store; pull it first`);
        const l = await this.load(digest);
        l.manifest.layers.forEach((x) => lease.add(x.digest));
        const { windows, virtualSize } = diskWindows(l.manifest, l.config);
        const p = byteProgress(ctx, 'assemble', windows.reduce((a, w) => a + w.size, 0), digest);
        await assembleDisk(dest, virtualSize, windows, this.content, { concurrency: this.concurrency, signal: ctx.signal, onBytes: (n) => p.add(n) });
        p.done();
        return dest;
      } finally {
        lease.release();
      }
    });
  }
}

function parseManifest(bytes: Buffer): OciManifest {
  let m: OciManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as OciManifest;
  } catch {
    throw new InvalidArgumentError('manifest is not JSON', { field: 'manifest' });
  }
  if (m?.schemaVersion !== 2 || (m.mediaType !== undefined && m.mediaType !== OCI_MANIFEST) || !m.config || !Array.isArray(m.layers)) {
    throw new InvalidArgumentError(`not an OCI image manifest (schemaVersion 2, mediaType ${OCI_MANIFEST}, config, layers)`, { field: 'manifest' });
  }
  for (const d of [m.config, ...m.layers]) {
    if (!isDigest(d?.digest) || !Number.isSafeInteger(d.size) || d.size < 0) throw new InvalidArgumentError(`manifest descriptor ${JSON.stringify(d)?.slice(0, 120)} is invalid`, { field: 'manifest' });
  }
  return m;
}

/** A reference that can name an index entry: tags only (a digest is already an id). */
function taggable(reference: string, field = 'reference'): string {
  const p = parseReference(reference, field);
  if (p.digest) throw new InvalidArgumentError(`"${reference}" names a digest; give a tag to store the image under (e.g. ${p.repository}:latest)`, { field });
  return p.reference;
}

function tryParse(reference: string) {
  try {
    return parseReference(reference);
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
