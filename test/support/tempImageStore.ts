// A small temp-dir ImageStore/ContentStore for the registry tests, honouring the port contract that
// the real store (core images) gives: resumable digest-verified writers, one writer per digest at a
// time, manifests committed only when all their blobs are present.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DataLossError, FailedPreconditionError, NotFoundError, NotImplementedError } from '../../src/core/errors.js';
import type { CallContext } from '../../src/core/ports/common.js';
import type { ContentStore, ImageStore, IngestOptions, IngestWriter, LocalImage, OciManifest } from '../../src/core/ports/images.js';

const hex = (d: string) => d.replace(/^sha256:/, '');

export class TempContentStore implements ContentStore {
  private readonly locks = new Map<string, Promise<void>>();
  /** Writers opened per digest, to let tests assert dedupe. */
  readonly writersOpened = new Map<string, number>();

  constructor(readonly root: string) {}

  blobPath(d: string) { return path.join(this.root, 'blobs/sha256', hex(d)); }
  private ingestPath(d: string) { return path.join(this.root, 'ingest', hex(d)); }

  async has(d: string) { return stat(this.blobPath(d)).then(() => true, () => false); }
  async size(d: string) { return (await stat(this.blobPath(d))).size; }
  read(d: string, opts?: { start?: number }): Readable { return createReadStream(this.blobPath(d), { start: opts?.start ?? 0, highWaterMark: 1024 * 1024 }); }
  async open(d: string) {
    const fh = await open(this.blobPath(d), 'r').catch(() => { throw new NotFoundError(`blob ${d} not in the store`); });
    return { read: async (into: Buffer, pos: number) => (await fh.read(into, 0, into.length, pos)).bytesRead, close: () => fh.close() };
  }
  async readAll(d: string) {
    try { return await readFile(this.blobPath(d)); } catch { throw new NotFoundError(`blob ${d} not in the store`); }
  }
  async put(d: string, data: Buffer) {
    const got = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (got !== d) throw new DataLossError(`blob ${d}: digest mismatch (got ${got})`);
    await mkdir(path.dirname(this.blobPath(d)), { recursive: true });
    const tmp = `${this.blobPath(d)}.${process.pid}.${Math.random()}`;
    await writeFile(tmp, data);
    await rename(tmp, this.blobPath(d));
  }

  async writer(d: string, size: number, _ctx: CallContext, opts: IngestOptions = {}): Promise<IngestWriter> {
    // One writer per digest: the next one waits until the previous committed or closed.
    while (this.locks.has(d)) await this.locks.get(d)!.catch(() => undefined);
    let release!: () => void;
    this.locks.set(d, new Promise<void>((r) => { release = r; }));
    this.writersOpened.set(d, (this.writersOpened.get(d) ?? 0) + 1);
    const done = () => { this.locks.delete(d); release(); };
    const p = this.ingestPath(d);
    await mkdir(path.dirname(p), { recursive: true });
    const fh = await open(p, 'a');
    const offset = (await fh.stat()).size;
    let written = offset;
    // Hash while writing (a resumed partial is hashed once on open), as a real store would.
    const h = createHash('sha256');
    if (offset > 0) for await (const c of createReadStream(p)) h.update(c as Buffer);
    let finished = false;
    const blobPath = this.blobPath(d);
    // The port's sink contract: the same bytes in order, verified() then end() after the commit, abort() otherwise
    // (a resumed partial included: the sink would miss its start).
    if (offset > 0) opts.sink?.abort();
    const sink = offset > 0 ? undefined : opts.sink;
    return {
      offset,
      async write(chunk: Buffer) { h.update(chunk); await fh.write(chunk); written += chunk.length; await sink?.write(chunk); },
      async commit() {
        if (finished) return;
        finished = true;
        await fh.close();
        try {
          const got = `sha256:${h.digest('hex')}`;
          if (written !== size || got !== d) {
            await rm(p, { force: true });
            throw new DataLossError(`blob ${d}: expected ${size} bytes with that digest, got ${written} bytes hashing to ${got}`);
          }
          await sink?.verified?.(p).catch(() => undefined);
          await mkdir(path.dirname(blobPath), { recursive: true });
          await rename(p, blobPath);
        } catch (err) {
          sink?.abort();
          throw err;
        } finally {
          done();
        }
        await sink?.end();
      },
      async close(opts?: { discard?: boolean }) {
        if (finished) return;
        finished = true;
        sink?.abort();
        await fh.close();
        if (opts?.discard) await rm(p, { force: true });
        done();
      },
    };
  }
}

export class TempImageStore implements ImageStore {
  readonly content: TempContentStore;
  private readonly refs = new Map<string, string>();
  readonly baseDiskCalls: string[] = [];

  private constructor(readonly root: string) {
    this.content = new TempContentStore(root);
  }

  static async create(): Promise<TempImageStore> {
    return new TempImageStore(await mkdtemp(path.join(os.tmpdir(), 'vmr-store-')));
  }

  async dispose() { await rm(this.root, { recursive: true, force: true }); }

  async resolve(reference: string): Promise<LocalImage | undefined> {
    const digest = this.refs.get(reference);
    if (!digest) return undefined;
    const manifestBytes = await this.content.readAll(digest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as OciManifest;
    return {
      reference, digest, manifest, manifestBytes,
      config: manifest.config ? JSON.parse((await this.content.readAll(manifest.config.digest)).toString('utf8')) : undefined,
      info: { reference, digest } as LocalImage['info'],
    } as LocalImage;
  }
  async get(reference: string) {
    const img = await this.resolve(reference);
    if (!img) throw new NotFoundError(`image "${reference}" not found locally`);
    return img;
  }
  async commitManifest(reference: string, bytes: Buffer, _ctx: CallContext): Promise<LocalImage> {
    const m = JSON.parse(bytes.toString('utf8')) as OciManifest;
    for (const d of [m.config, ...(m.layers ?? [])]) {
      if (d && !(await this.content.has(d.digest))) throw new FailedPreconditionError(`blob ${d.digest} missing`);
    }
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await this.content.put(digest, bytes);
    this.refs.set(reference, digest);
    return this.get(reference);
  }
  async baseDisk(digest: string, _ctx: CallContext) {
    this.baseDiskCalls.push(digest);
    return path.join(this.root, 'disks', hex(digest));
  }
  references() { return new Map(this.refs); }
  async list() { return []; }
  importStream(): never { throw new NotImplementedError('test store'); }
  export(): never { throw new NotImplementedError('test store'); }
  async tag(source: string, target: string) { const d = this.refs.get(source); if (!d) throw new NotFoundError(source); this.refs.set(target, d); return this.get(target); }
  async untag(reference: string) { this.refs.delete(reference); return { untagged: [reference], deleted: [] }; }
  gc(): never { throw new NotImplementedError('test store'); }
  validateVMFile(): never { throw new NotImplementedError('test store'); }
}

/** Stores a VM-shaped image (config + random windows) under `reference`; returns its manifest digest. */
export async function makeTestImage(store: TempImageStore, reference: string, layerSizes: number[], seed = 1): Promise<{ digest: string; manifest: OciManifest }> {
  const layers = [];
  let offset = 0;
  for (const [i, size] of layerSizes.entries()) {
    const data = pseudoRandom(size, seed * 1000 + i);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (!(await store.content.has(digest))) {
      const w = await store.content.writer(digest, size, undefined as unknown as CallContext);
      for (let o = 0; o < size; o += 4 << 20) await w.write(data.subarray(o, o + (4 << 20)));
      await w.commit();
    }
    layers.push({
      mediaType: 'application/vnd.vmregistry.vm.disk.window.v1+zstd', digest, size,
      annotations: { 'io.vmregistry.window.offset': String(offset), 'io.vmregistry.window.size': String(size) },
    });
    offset += size;
  }
  const config = Buffer.from(JSON.stringify({ vmfile: { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: reference } }, disks: [], created: '2026-11-29T00:00:00Z' }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  await store.content.put(configDigest, config);
  const manifest: OciManifest = {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.vmregistry.vm.v1',
    config: { mediaType: 'application/vnd.vmregistry.vm.config.v1+json', digest: configDigest, size: config.length }, layers,
  };
  const img = await store.commitManifest(reference, Buffer.from(JSON.stringify(manifest)), undefined as unknown as CallContext);
  return { digest: img.digest, manifest };
}

/** Incompressible, reproducible bytes (AES-CTR keystream of the seed: fast and deterministic). */
export function pseudoRandom(size: number, seed: number): Buffer {
  const key = createHash('sha256').update(`vmr-test-${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}
