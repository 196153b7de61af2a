// Blobs by digest in an OCI image layout (`blobs/sha256/<hex>`). A blob becomes visible only by a
// rename of a complete, fsynced, verified file, so a crash never leaves a partial blob readable.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, link, mkdir, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { CallContext } from '../ports/common.js';
import type { BlobFile, BlobSink, ContentStore, IngestOptions, IngestWriter } from '../ports/images.js';
import { DataLossError, NotFoundError, fromSystemError, throwIfAborted } from '../errors.js';
import { fsyncDir, tempName } from './atomicFile.js';
import { assertDigest, hexOf, sha256Of } from './digest.js';
import { FileIngestWriter, PresentWriter } from './IngestWriter.js';
import { Leases } from './Leases.js';
import { KeyedMutex, RwLock } from './locks.js';

export interface OciContentStoreOptions {
  /** The OCI layout root (holds `oci-layout`, `index.json`, `blobs/`). */
  layoutDir: string;
  /** Resumable partials, keyed by digest; must be on the same filesystem as the layout. */
  ingestDir: string;
}

export class OciContentStore implements ContentStore {
  readonly leases = new Leases();
  /** Shared by blob lookups/publishes, exclusive for a GC sweep. */
  readonly gcLock = new RwLock();
  private readonly ingestLocks = new KeyedMutex();
  private readonly activeIngests = new Set<string>();
  /**
   * Blobs committed through writer() (a pull) and not yet referenced by a committed manifest, with
   * the time of commit: GC spares them for a grace period, since the manifest comes last.
   */
  readonly unclaimed = new Map<string, number>();
  readonly blobDir: string;

  constructor(private readonly opts: OciContentStoreOptions) {
    this.blobDir = path.join(opts.layoutDir, 'blobs', 'sha256');
  }

  get ingestDir(): string {
    return this.opts.ingestDir;
  }

  private ready?: Promise<void>;

  /** Creates the directories and drops temp files of interrupted writes; idempotent, called by every write. */
  init(): Promise<void> {
    this.ready ??= this.doInit();
    return this.ready;
  }

  private async doInit(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true, mode: 0o755 });
    await mkdir(this.opts.ingestDir, { recursive: true, mode: 0o755 });
    // Temp files of writes a crash interrupted; never visible as blobs (they start with a dot).
    for (const f of await readdir(this.blobDir)) {
      if (f.startsWith('.') && f.endsWith('.tmp')) await rm(path.join(this.blobDir, f), { force: true });
    }
  }

  blobPath(digest: string): string {
    return path.join(this.blobDir, hexOf(assertDigest(digest)));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  async size(digest: string): Promise<number> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (err) {
      throw this.missing(digest, err);
    }
  }

  read(digest: string, opts: { start?: number } = {}): Readable {
    return createReadStream(this.blobPath(digest), { start: opts.start ?? 0 });
  }

  async open(digest: string): Promise<BlobFile> {
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(digest), 'r');
    } catch (err) {
      throw this.missing(digest, err);
    }
    return {
      read: async (into, position) => (await fh.read(into, 0, into.length, position)).bytesRead,
      close: () => fh.close(),
    };
  }

  /** Reads a (small) blob and verifies it against its digest. */
  async readAll(digest: string): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.blobPath(digest));
    } catch (err) {
      throw this.missing(digest, err);
    }
    if (sha256Of(data) !== digest) {
      throw new DataLossError(`blob ${digest} is corrupt on disk (content hashes to ${sha256Of(data)}); remove it and pull or import again`);
    }
    return data;
  }

  async put(digest: string, data: Buffer): Promise<void> {
    await this.putNew(digest, data);
  }

  /** `put`, resolving true when this call created the blob (false: it was there already). */
  async putNew(digest: string, data: Buffer): Promise<boolean> {
    assertDigest(digest);
    const got = sha256Of(data);
    if (got !== digest) throw new DataLossError(`blob content does not match its digest: expected ${digest}, got ${got}`);
    if (await this.has(digest)) return false;
    await this.init();
    const tmp = tempName(this.blobDir, hexOf(digest));
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return await this.publish(tmp, digest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fromSystemError(err, `writing blob ${digest}`);
    }
  }

  /**
   * Moves a complete, fsynced file (same filesystem) into place as `digest`. The caller computed
   * the digest while writing it. When the blob already exists the file is dropped: one copy wins.
   */
  async publish(file: string, digest: string): Promise<boolean> {
    const dst = this.blobPath(digest);
    const created = await this.gcLock.read(async () => {
      let made = true;
      try {
        // link() fails if the blob exists, so concurrent publishers never replace a visible blob.
        await link(file, dst);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        made = false;
      }
      await rm(file, { force: true });
      return made;
    });
    await fsyncDir(this.blobDir);
    return created;
  }

  /** Streams a file (e.g. from another layout) into the store, verifying it. */
  async putFile(src: string, digest: string, ctx: CallContext): Promise<boolean> {
    assertDigest(digest);
    if (await this.has(digest)) return false;
    await this.init();
    const tmp = tempName(this.blobDir, hexOf(digest));
    try {
      const h = createHash('sha256');
      const out = await open(tmp, 'wx', 0o644);
      try {
        for await (const b of createReadStream(src, { highWaterMark: 1 << 20 })) {
          throwIfAborted(ctx.signal);
          h.update(b as Buffer);
          await out.write(b as Buffer);
        }
        await out.sync();
      } finally {
        await out.close();
      }
      const got = 'sha256:' + h.digest('hex');
      if (got !== digest) throw new DataLossError(`blob ${src} does not match its digest: expected ${digest}, got ${got}`);
      return await this.publish(tmp, digest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fromSystemError(err, `copying blob ${digest}`);
    }
  }

  async writer(digest: string, size: number, ctx: CallContext, opts: IngestOptions = {}): Promise<IngestWriter> {
    try {
      return await this.openWriter(digest, size, ctx, opts.sink);
    } catch (err) {
      opts.sink?.abort();
      throw err;
    }
  }

  private async openWriter(digest: string, size: number, ctx: CallContext, sink?: BlobSink): Promise<IngestWriter> {
    const present = (release?: () => void) => {
      sink?.abort();
      return new PresentWriter(size, release);
    };
    assertDigest(digest);
    if (await this.has(digest)) return present();
    await this.init();
    // One writer per digest: a second one waits here until the first commits or closes.
    const release = await this.ingestLocks.acquire(digest);
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      this.activeIngests.delete(digest);
      release();
    };
    try {
      throwIfAborted(ctx.signal);
      if (await this.has(digest)) return present(done);
      this.activeIngests.add(digest);
      return await FileIngestWriter.open({
        digest,
        size,
        partialPath: path.join(this.opts.ingestDir, hexOf(digest)),
        publish: async (p) => {
          this.unclaimed.set(digest, Date.now());
          await this.publish(p, digest);
        },
        release: done,
      }, sink);
    } catch (err) {
      done();
      throw err;
    }
  }

  isIngesting(hex: string): boolean {
    return this.activeIngests.has('sha256:' + hex);
  }

  /** All blob digests on disk. */
  async listBlobs(): Promise<string[]> {
    const names = await readdir(this.blobDir);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => 'sha256:' + n);
  }

  /** Removes a blob unless more than `allowHolders` leases hold it; call only under `gcLock.write`. Returns freed bytes. */
  async removeUnleased(digest: string, allowHolders = 0): Promise<number> {
    if (this.leases.count(digest) > allowHolders) return 0;
    const p = this.blobPath(digest);
    try {
      const st = await stat(p);
      await rm(p);
      return st.size;
    } catch {
      return 0;
    }
  }

  private missing(digest: string, err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return new NotFoundError(`blob ${digest} is not in the local store; pull the image again`);
    }
    return fromSystemError(err, `reading blob ${digest}`);
  }
}
