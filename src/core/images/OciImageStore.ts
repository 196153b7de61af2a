// The local image store (port `vmregistry.images.v1`): an OCI image layout under
// `<dataDir>/images/oci` plus one sparse raw base disk per manifest under `<dataDir>/images/disks`.
// Plain class, no DI: the core wires it. This file is the port's face: lookups and names here; import
// (ImageImporter), base disks (BaseDisks), exports (ImageExporter) and index writes (manifestWrites)
// in their own files, reached only after the store is initialised (parts()).
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CallContext, Logger } from '../ports/common.js';
import type {
  BaseDiskBuilder, ExportFormat, ImageInfo, ImageStore, ImportHeader, LocalImage, OciDescriptor, ProducedDisk,
} from '../ports/images.js';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { BaseDisks } from './BaseDisks.js';
import { checkStore, type StoreCheck } from './checkStore.js';
import { DEFAULT_CODEC, DEFAULT_LEVEL, codecByName } from './codecs.js';
import { sweepDisks } from './durableLater.js';
import { hexOf } from './digest.js';
import type { ExportBytes } from './exportImage.js';
import { collectGarbage, type GcResult } from './gc.js';
import { ImageExporter } from './ImageExporter.js';
import { ImageImporter, type ImportParts } from './ImageImporter.js';
import { ImageRecords, taggable, tryParse } from './imageRecords.js';
import { loadArchive } from './loadArchive.js';
import { commitManifest, setRef } from './manifestWrites.js';
import { OCI_MANIFEST } from './mediaTypes.js';
import { OciContentStore } from './OciContentStore.js';
import { OciIndex, refName } from './OciIndex.js';
import { HostPaths } from '../hostfs/HostPaths.js';
import { StorePaths } from './paths.js';
import { nativeZstd } from './nativeZstd.js';
import { defaultConcurrency } from './pool.js';
import { digestLike, parseReference } from './reference.js';
import { validateVMFile } from './validateVMFile.js';

export const DEFAULT_WINDOW_SIZE = 512 * 1024 * 1024;
export const DEFAULT_MAX_DISK_SIZE = 2 * 1024 ** 4;

export interface OciImageStoreOptions {
  /** The daemon's data dir; the store lives in `<dataDir>/images`. */
  dataDir: string;
  log?: Logger;
  /** Uncompressed bytes per disk layer (default 512 MiB; a multiple of 1 MiB). */
  windowSize?: number;
  /** `zstd` (default) or `gzip`. */
  codec?: string;
  /**
   * zstd windows are compressed (imports) and decompressed while they download (pulls) in-process by the zstd
   * binding when it was built (native/zstd.c; default true); false, or a binding that does not load: by the
   * `zstd` binary.
   */
  zstdBinding?: boolean;
  /** Codec level (default 2; see bench/README.md). */
  level?: number;
  /** Parallel window (de)compressions (default: available cores). */
  concurrency?: number;
  /** Blobs a pull wrote through content.writer() survive GC this long until a manifest claims them (default 10 min). */
  gcGraceMs?: number;
  /** Interrupted ingests older than this are removed by GC (default 24 h). */
  ingestMaxAgeMs?: number;
  now?: () => Date;
  /** Largest virtual disk an import, load or pull may bring (bytes; default 2 TiB; config images.maxDiskGiB). */
  maxDiskSize?: number;
  /** Host directories requests may read from / write to (default: `<dataDir>/import`, `<dataDir>/export`). */
  hostPaths?: HostPaths;
}

/** The store's jobs; only reachable through parts(), so no operation runs before init. */
interface Parts {
  /** What the store's jobs share (content, index, records, log, paths, the disk cap). */
  shared: ImportParts;
  records: ImageRecords;
  importer: ImageImporter;
  exporter: ImageExporter;
  disks: BaseDisks;
}

const noopLog: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => noopLog };

export class OciImageStore implements ImageStore {
  readonly content: OciContentStore;
  readonly paths: StorePaths;
  readonly hostPaths: HostPaths;
  private readonly index: OciIndex;
  private readonly log: Logger;
  private readonly built: Parts;
  private ready?: Promise<Parts>;
  /** How zstd windows are compressed, said once at init. */
  private readonly compressor?: string;

  constructor(private readonly opts: OciImageStoreOptions) {
    this.paths = new StorePaths(opts.dataDir);
    this.hostPaths = opts.hostPaths ?? new HostPaths({ dataDir: opts.dataDir });
    this.content = new OciContentStore({ layoutDir: this.paths.layout, ingestDir: this.paths.ingest });
    this.index = new OciIndex(this.paths.layout);
    this.log = opts.log ?? noopLog;
    const windowSize = opts.windowSize ?? DEFAULT_WINDOW_SIZE;
    if (!Number.isSafeInteger(windowSize) || windowSize < 1 << 20 || windowSize % (1 << 20) !== 0) {
      throw new InvalidArgumentError(`images.windowSize ${windowSize} must be a positive multiple of 1 MiB`);
    }
    const concurrency = opts.concurrency ?? defaultConcurrency();
    const codec = codecByName(opts.codec ?? DEFAULT_CODEC).name;
    const binding = codec === 'zstd' && opts.zstdBinding !== false ? nativeZstd() : undefined;
    this.compressor = !binding ? undefined : binding.path !== undefined ? `libzstd ${binding.version} in-process` : `the zstd binary (${binding.reason})`;
    const records = new ImageRecords(this.content);
    const shared = {
      content: this.content, index: this.index, records, log: this.log, paths: this.paths, hostPaths: this.hostPaths, maxDiskSize: opts.maxDiskSize ?? DEFAULT_MAX_DISK_SIZE,
    };
    const disks = new BaseDisks(shared, concurrency, binding?.path);
    this.built = {
      shared,
      records,
      disks,
      importer: new ImageImporter(shared, {
        windowSize, codec, level: opts.level ?? DEFAULT_LEVEL, concurrency, zstdBinding: binding?.path, now: opts.now,
      }),
      exporter: new ImageExporter({ ...shared, get: (r) => this.get(r), baseDisk: (d, ctx) => disks.baseDisk(d, ctx) }),
    };
  }

  /** Creates the layout and removes leftovers of interrupted work. Every operation waits for it (parts()). */
  async init(): Promise<void> {
    await this.parts();
  }

  private parts(): Promise<Parts> {
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
      await sweepDisks(this.paths.disks, this.log);
      if (this.compressor) this.log.info({ compressor: this.compressor }, 'image windows are compressed with ' + this.compressor);
      return this.built;
    })();
    return this.ready;
  }

  // ---- lookups -------------------------------------------------------------------------------

  async resolve(reference: string): Promise<LocalImage | undefined> {
    const { records } = await this.parts();
    const doc = await this.index.read();
    const byId = digestLike(reference);
    if (byId) {
      // A name that happens to look like hex wins over an id prefix (as in Docker).
      const named = tryParse(reference);
      const entry = named && doc.manifests.find((m) => refName(m) === named.reference);
      if (entry) return records.local(named.reference, entry.digest);
      let digest = byId.digest;
      if (!digest) {
        const hits = [...new Set(doc.manifests.map((m) => m.digest).filter((d) => hexOf(d).startsWith(byId.prefix!)))];
        if (hits.length > 1) throw new InvalidArgumentError(`image id prefix "${reference}" is ambiguous (${hits.length} images); give more characters`, { field: 'reference' });
        digest = hits[0];
      }
      if (!digest || !(await this.content.has(digest))) return undefined;
      const tagged = doc.manifests.find((m) => m.digest === digest && refName(m));
      return records.local(tagged ? refName(tagged)! : digest, digest);
    }
    const p = parseReference(reference);
    if (p.digest) {
      if (!(await this.content.has(p.digest))) return undefined;
      return records.local(p.reference, p.digest);
    }
    const entry = doc.manifests.find((m) => refName(m) === p.reference);
    if (!entry) return undefined;
    return records.local(p.reference, entry.digest);
  }

  async get(reference: string): Promise<LocalImage> {
    const img = await this.resolve(reference);
    if (!img) throw new NotFoundError(`image "${reference}" not found locally; pull or import it first, or check "vmr images"`);
    return img;
  }

  async list(): Promise<ImageInfo[]> {
    const { records } = await this.parts();
    const doc = await this.index.read();
    const out: ImageInfo[] = [];
    for (const m of doc.manifests) {
      const ref = refName(m);
      if (!ref || m.mediaType !== OCI_MANIFEST) continue;
      try {
        out.push(await records.info(ref, m.digest));
      } catch (err) {
        this.log.warn({ err, reference: ref, digest: m.digest }, 'skipping unreadable image in the store');
      }
    }
    return out.sort((a, b) => a.reference.localeCompare(b.reference));
  }

  // ---- writes --------------------------------------------------------------------------------

  async commitManifest(reference: string, manifestBytes: Buffer, ctx: CallContext): Promise<LocalImage> {
    return commitManifest((await this.parts()).shared, reference, manifestBytes, ctx);
  }

  async importStream(header: ImportHeader, disk: AsyncIterable<Buffer>, ctx: CallContext): Promise<LocalImage> {
    return (await this.parts()).importer.importStream(header, disk, ctx);
  }

  async importFile(vmfilePath: string, reference: string, ctx: CallContext, opts: { allowOutsidePaths?: boolean } = {}): Promise<LocalImage> {
    return (await this.parts()).importer.importFile(vmfilePath, reference, ctx, opts);
  }

  /** A containerDisk pull: the disk a producer extracts into a work dir of the store (containerDisk/importDisk.ts). */
  async importDisk(reference: string, produce: (workDir: string) => Promise<ProducedDisk>, ctx: CallContext): Promise<LocalImage> {
    return (await this.parts()).importer.importDisk(reference, produce, ctx);
  }

  /** Imports an image from an OCI layout directory (e.g. one `skopeo copy` wrote). */
  async importLayout(dir: string, reference: string | undefined, ctx: CallContext): Promise<LocalImage> {
    return (await this.parts()).importer.importLayout(dir, reference, ctx);
  }

  /** LoadImage: an OCI archive from the client (loadArchive.ts checks it before unpacking). */
  async loadArchive(chunks: AsyncIterable<Buffer>, opts: { reference?: string; totalSize: number }, ctx: CallContext): Promise<LocalImage> {
    const { importer } = await this.parts();
    return loadArchive({ tmpDir: this.paths.tmp, importLayout: (d, r, c) => importer.importLayout(d, r, c) }, chunks, opts, ctx);
  }

  async export(reference: string, outputPath: string, format: ExportFormat, opts: { overwrite: boolean; diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ outputPath: string; digest: string; size: number }> {
    return (await this.parts()).exporter.export(reference, outputPath, format, opts, ctx);
  }

  /**
   * The bytes of an export for the client to write with its own permissions: an OCI archive (tar) or
   * the disk (raw or qcow2). The image's blobs stay leased until the stream is consumed or dropped.
   */
  async exportStream(reference: string, format: Exclude<ExportFormat, 'OCI_LAYOUT_DIR'>, opts: { diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ digest: string; reference: string } & ExportBytes> {
    return (await this.parts()).exporter.exportStream(reference, format, opts, ctx);
  }

  async tag(source: string, target: string): Promise<LocalImage> {
    const img = await this.get(source);
    const ref = taggable(target, 'target');
    await setRef(this.index, ref, { mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifestBytes.length, artifactType: img.manifest.artifactType });
    return (await this.parts()).records.local(ref, img.digest);
  }

  async untag(reference: string): Promise<{ untagged: string[]; deleted: string[] }> {
    await this.parts();
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

  /** Re-verifies blobs, manifests and base disks (see checkStore.ts). */
  async check(opts: { verifyDisks: boolean }, ctx: CallContext): Promise<StoreCheck> {
    await this.parts();
    const manifestDigests = [...new Set((await this.list()).map((i) => i.digest))];
    return checkStore({ content: this.content, paths: this.paths, manifestDigests, verifyDisks: opts.verifyDisks }, ctx);
  }

  async gc(opts: { dryRun: boolean; inUseDigests: Set<string> }, ctx: CallContext): Promise<GcResult> {
    await this.parts();
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
    return (await this.parts()).disks.beginBaseDisk(manifestBytes, ctx);
  }

  async baseDisk(digest: string, ctx: CallContext): Promise<string> {
    return (await this.parts()).disks.baseDisk(digest, ctx);
  }
}
