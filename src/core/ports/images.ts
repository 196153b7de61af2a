import type { CallContext } from "./common.js";
import type { Issue } from "../errors.js";
import type { Readable } from 'node:stream';

/** VMFile as parsed (camelCase of proto/defs/image.proto VMFile). */
export interface VMFile {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    description: string;
    author: string;
    source: string;
    labels: Record<string, string>;
  };
  spec: {
    disk: { path: string; format: 'qcow2' | 'raw' | string };
    resources: { memoryMb: number; vcpuCount: number; diskSizeGb: number };
    os: { architecture: string; firmware: 'bios' | 'uefi' | string; defaultUser?: string };
  };
}

export interface ImageInfo {
  reference: string;
  repository: string;
  tag: string;
  digest: string;
  /** Compressed bytes of all blobs. */
  size: number;
  /** Virtual size of the disk. */
  diskSize: number;
  created: string;
  name: string;
  description: string;
  author: string;
  labels: Record<string, string>;
  diskFormat: string;
  architecture: string;
  /** The format the image came in: `vmregistry` (ours) or `containerdisk` (a KubeVirt containerDisk converted on pull). */
  sourceFormat?: string;
}

/** A local image resolved from a reference: what RunVM and push need. */
export interface LocalImage {
  reference: string;
  digest: string;
  manifest: OciManifest;
  manifestBytes: Buffer;
  config: VmImageConfig;
  info: ImageInfo;
}

/**
 * An image resolved once for a run: what the core read (reference → digest → manifest → config) and the
 * base disk it prepared, handed down as one value so no later step looks the image up again.
 */
export interface ResolvedImage {
  reference: string;
  digest: string;
  manifest: OciManifest;
  vmfile: VMFile;
  config: VmImageConfig;
  /** Sparse raw base disk (see ImageStore.baseDisk). */
  baseDiskPath: string;
  /** Virtual size of the base disk in bytes. */
  diskSize: number;
  firmware: 'bios' | 'uefi';
  architecture: string;
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  annotations?: Record<string, string>;
}

/** The config blob (`application/vnd.vmregistry.vm.config.v1+json`). */
export interface VmImageConfig {
  vmfile: VMFile;
  disks: Array<{
    name: string;
    /** What the layers carry: `raw`. */
    format: string;
    virtualSize: number;
    windowSize: number;
    codec: string;
    /** Format of the disk as it was imported (`qcow2` or `raw`), informational. */
    sourceFormat?: string;
  }>;
  created: string;
  /** Set when the image was converted from another format on pull (absent: made as a vmregistry image). */
  origin?: ImageOrigin;
}

/** Where a converted image came from. */
export interface ImageOrigin {
  /** `containerdisk`. */
  format: string;
  /** The reference it was pulled from and that manifest's digest. */
  reference: string;
  digest: string;
  /** The disk's path in the container image, e.g. `disk/disk.qcow2`. */
  path?: string;
  /** The container image's `org.opencontainers.image.*` labels and annotations. */
  annotations?: Record<string, string>;
}

/** What a producer of `ImageStore.importDisk` extracted into the work dir. */
export interface ProducedDisk {
  /** A file inside the work dir. */
  file: string;
  /** The VMFile to store with it; spec.disk.format is set from the disk's header. */
  vmfile: VMFile;
  origin: ImageOrigin;
}

export interface IngestCommitOptions {
  /**
   * Called once the digest matched, before the fsync and the rename into the store, with the path of the
   * verified bytes; awaited, so a file opened here is still the blob after the rename. A reader can start
   * on the blob while it is synced (a pull's base disk). Its failure does not fail the commit.
   */
  verified?: (file: string) => Promise<void>;
}

/** A resumable, digest-verified write into the content store (containerd content.Writer). */
export interface IngestWriter {
  /** Bytes already held from an earlier interrupted attempt; continue from here. */
  readonly offset: number;
  /** Resolves once `chunk` is written and hashed: the caller may reuse the buffer then. */
  write(chunk: Buffer): Promise<void>;
  /**
   * As write(), but takes the bytes before it returns when it can: undefined means `chunk` was copied and may be
   * reused at once; a promise, that the caller keeps `chunk` until it resolves. Calls made one after another are
   * written in that order without waiting in between; a failure shows in a later call or in commit().
   */
  writeNow?(chunk: Buffer): Promise<void> | undefined;
  /** Verifies size and digest, fsyncs, renames into place. DATA_LOSS on mismatch (the partial is removed). */
  commit(opts?: IngestCommitOptions): Promise<void>;
  /** Keeps the partial for a later resume unless `discard`. */
  close(opts?: { discard?: boolean }): Promise<void>;
}

export interface IngestOptions {
  /**
   * Where the blob's bytes go besides the store (a pull's base disk). The writer hands them over in order (a sink
   * of the core's own it may feed on the thread that hashes them), calls its verified() once the digest matched,
   * ends it after the commit, and aborts it otherwise: on close, when the blob is already stored, or when a
   * partial is resumed (the sink would miss the start).
   */
  sink?: BlobSink;
}

/** A blob opened for positional reads into the caller's buffers (a push reuses a few instead of allocating per chunk). */
export interface BlobFile {
  /** Reads up to `into.length` bytes at `position`; 0 at the end. */
  read(into: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

/** Blobs by digest, shared by all images. */
export interface ContentStore {
  has(digest: string): Promise<boolean>;
  size(digest: string): Promise<number>;
  read(digest: string, opts?: { start?: number }): Readable;
  /** NOT_FOUND when the blob is not stored. */
  open(digest: string): Promise<BlobFile>;
  readAll(digest: string): Promise<Buffer>;
  /** Small blobs (manifests, configs): verified and atomically written. */
  put(digest: string, data: Buffer): Promise<void>;
  /** Large blobs: resumable. Concurrent writers of one digest write it once (the second waits). */
  writer(digest: string, size: number, ctx: CallContext, opts?: IngestOptions): Promise<IngestWriter>;
}

export interface ImportHeader {
  vmfile: VMFile;
  reference: string;
  totalSize: number;
  sha256?: string;
  /** Allow the VMFile's disk path to leave its directory. */
  allowOutsidePaths?: boolean;
  baseDir?: string;
}

export type ExportFormat = 'OCI_LAYOUT_DIR' | 'OCI_ARCHIVE' | 'DISK';

/** Port `vmregistry.images.v1`, provided by the core (src/core/images). */
export interface ImageStore {
  readonly content: ContentStore;
  resolve(reference: string): Promise<LocalImage | undefined>;
  /** NOT_FOUND with a hint when missing. */
  get(reference: string): Promise<LocalImage>;
  list(): Promise<ImageInfo[]>;
  /** Records a manifest (whose blobs must all be present and verified) under a reference. */
  commitManifest(reference: string, manifestBytes: Buffer, ctx: CallContext): Promise<LocalImage>;
  importStream(header: ImportHeader, disk: AsyncIterable<Buffer>, ctx: CallContext): Promise<LocalImage>;
  /** Imports a VMFile from a path on the daemon's host (disk read from beside it). */
  importFile?(vmfilePath: string, reference: string, ctx: CallContext, opts?: { allowOutsidePaths?: boolean }): Promise<LocalImage>;
  export(reference: string, outputPath: string, format: ExportFormat, opts: { overwrite: boolean; diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ outputPath: string; digest: string; size: number }>;
  /**
   * An export's bytes for the client to write itself (OCI archive or disk); `size` is 0 when not known in
   * advance. The caller runs `dispose()` when done (or on failure) to free temp files and leases.
   */
  exportStream?(reference: string, format: Exclude<ExportFormat, 'OCI_LAYOUT_DIR'>, opts: { diskFormat?: 'raw' | 'qcow2' }, ctx: CallContext): Promise<{ reference: string; digest: string; size: number; chunks: AsyncIterable<Buffer>; dispose(): Promise<void> }>;
  /** Imports an OCI archive (tar of a layout) received through the socket. */
  loadArchive?(chunks: AsyncIterable<Buffer>, opts: { reference?: string; totalSize: number }, ctx: CallContext): Promise<LocalImage>;
  tag(source: string, target: string): Promise<LocalImage>;
  /** Untags; returns untagged references and digests whose last reference went away. */
  untag(reference: string): Promise<{ untagged: string[]; deleted: string[] }>;
  /** `removedDisks`: base disks removed (optional for other store implementations). */
  gc(opts: { dryRun: boolean; inUseDigests: Set<string> }, ctx: CallContext): Promise<{ removedBlobs: string[]; removedManifests: string[]; freedBytes: number; removedDisks?: string[] }>;
  /** `checkDisk: false` skips probing the disk file on the host (base_dir outside paths.import). */
  validateVMFile(content: string, baseDir: string, opts?: { allowOutsidePaths?: boolean; checkDisk?: boolean }): Promise<{ vmfile?: VMFile; errors: Issue[]; warnings: Issue[] }>;
  /** Re-verifies every blob, manifest and base disk; optional for other store implementations. */
  check?(opts: { verifyDisks: boolean }, ctx: CallContext): Promise<{
    checkedBlobs: number; corruptBlobs: string[]; missingBlobs: string[]; checkedDisks: number;
    corruptDisks: string[]; orphanDisks: string[]; partialIngests: number;
    /** Each partial download with its size and age (optional for other stores). */
    partialIngestList?: Array<{ digest: string; size: number; ageSeconds: number }>;
  }>;
  /** Path of the sparse raw base disk of a manifest, reassembled on first use. */
  baseDisk(digest: string, ctx: CallContext): Promise<string>;
  /**
   * A pull about to download `manifestBytes` (its config blob already stored): the base disk, built while the
   * layers arrive. undefined when there is nothing to build (not a VM image here, disk already present).
   */
  beginBaseDisk?(manifestBytes: Buffer, ctx: CallContext): Promise<BaseDiskBuilder | undefined>;
  /**
   * Imports a disk that `produce` writes into a private work dir of the store (a containerDisk pull): its header is
   * checked as for any import (no backing or external files), then it is stored as our image. Nothing is left on failure.
   */
  importDisk?(reference: string, produce: (workDir: string) => Promise<ProducedDisk>, ctx: CallContext): Promise<LocalImage>;
  /** Imports the image a local OCI layout holds (e.g. written by `skopeo copy … oci:<dir>:<ref>`). */
  importLayout?(dir: string, reference: string | undefined, ctx: CallContext): Promise<LocalImage>;
}

/** Compressed bytes of one layer, in order from its first byte; see OciImageStore.beginBaseDisk. */
export interface BlobSink {
  /** Resolves once the sink no longer needs `chunk`: the caller may reuse the buffer then. */
  write(chunk: Buffer): Promise<void>;
  /** After the blob's digest was verified and it was stored. */
  end(): Promise<void>;
  /** Optional, before end(): the digest matched; see IngestCommitOptions.verified. */
  verified?(file: string): Promise<void>;
  /** The blob will not complete (or its bytes will not come here); may be called more than once. */
  abort(): void;
}

export interface BaseDiskBuilder {
  /** Where a layer's bytes go while it downloads; undefined when the layer is no window of the disk. */
  stream(layerDigest: string): BlobSink | undefined;
  /** After the manifest was committed: completes what was not streamed and publishes the disk. */
  finish(): Promise<string>;
  abort(): Promise<void>;
}
