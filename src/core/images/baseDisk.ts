// Reassembly of an image's disk into a sparse raw file: the backing file of every VM overlay.
// Windows decompress in parallel and are written at their offsets; zero runs are left as holes.
import { chmod, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataLossError, fromSystemError } from '../errors.js';
import { fsyncDir, tempName } from './atomicFile.js';
import { streamHash } from './hashWorkers.js';
import { codecByName } from './codecs.js';
import type { Window } from './coverage.js';
import type { BaseDiskBuilder, BlobSink } from '../ports/images.js';
import type { OciContentStore } from './OciContentStore.js';
import { mapLimit } from './pool.js';
import { isZero } from './zeros.js';

export interface AssembleOptions {
  concurrency: number;
  signal: AbortSignal;
  onBytes?: (n: number) => void;
}

/** Decompressed bytes of window `w` → `fh` at its offset, checking size and uncompressed digest. */
function windowWriter(fh: FileHandle, w: Window, opts: { dense?: boolean; onBytes?: (n: number) => void } = {}) {
  const h = streamHash();
  let pos = w.offset;
  return {
    async *sink(src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        if (pos + chunk.length > w.offset + w.size) throw new DataLossError(`window at ${w.offset} (${w.layer.digest}) decompresses to more than ${w.size} bytes`);
        await h.update(chunk);
        // Zero runs stay holes, unless the region may hold bytes of an abandoned attempt.
        if (opts.dense || !isZero(chunk)) await fh.write(chunk, 0, chunk.length, pos);
        pos += chunk.length;
        opts.onBytes?.(chunk.length);
      }
    },
    drop: () => h.drop(),
    async check() {
      if (pos !== w.offset + w.size) {
        h.drop();
        throw new DataLossError(`window at ${w.offset} (${w.layer.digest}) decompresses to ${pos - w.offset} bytes, expected ${w.size}`);
      }
      const got = await h.digest();
      if (got !== w.udigest) throw new DataLossError(`window at ${w.offset} (${w.layer.digest}) decompresses to ${got}, annotated ${w.udigest}`);
    },
  };
}

async function writeWindow(fh: FileHandle, w: Window, content: OciContentStore, signal: AbortSignal, onBytes?: (n: number) => void, dense = false): Promise<void> {
  const out = windowWriter(fh, w, { dense, onBytes });
  try {
    await pipeline(content.read(w.layer.digest), codecByName(w.codec).decompress(), out.sink, { signal });
  } catch (err) {
    out.drop();
    throw err;
  }
  await out.check();
}

/** Writes the disk to `dest` atomically (temp + rename): a reader sees all of it or nothing. */
export async function assembleDisk(dest: string, virtualSize: number, windows: Window[], content: OciContentStore, o: AssembleOptions): Promise<void> {
  const dir = path.dirname(dest);
  const tmp = tempName(dir, path.basename(dest));
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.truncate(virtualSize);
    const f = fh;
    await mapLimit(windows, o.concurrency, (w, _i, signal) => writeWindow(f, w, content, signal, o.onBytes), o.signal);
    await fh.sync();
    await fh.close();
    fh = undefined;
    // Private: the hypervisor plugin gives QEMU's group read access when a VM uses it (libvirt
    // plugin, filePermissions.ts); nobody else reads an image's disk.
    await chmod(tmp, 0o600);
    await rename(tmp, dest);
    await fsyncDir(dir);
  } catch (err) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true });
    throw fromSystemError(err, `assembling base disk ${dest}`);
  }
}

/**
 * A base disk built while its pull downloads (issue 17): each window's compressed bytes are decompressed
 * into a temp file as they arrive. Nothing is trusted early: a window counts as done only after its blob's
 * digest was verified (end() comes after the writer's commit) and its uncompressed size and digest match;
 * any other window is redone from the stored blob by finish(), and the file is renamed into place only
 * by finish(), which the caller runs after the manifest was committed.
 */
export class DiskBuilder implements BaseDiskBuilder {
  private readonly done = new Set<Window>();
  private readonly dirty = new Set<Window>();
  private readonly streams = new Map<string, Window>();
  private readonly children = new Set<{ abort(): void }>();
  private readonly running: Promise<void>[] = [];
  private readonly tmp: string;

  private constructor(private readonly dest: string, private readonly fh: FileHandle, tmp: string,
    private readonly windows: Window[], private readonly content: OciContentStore, private readonly o: AssembleOptions) {
    this.tmp = tmp;
    for (const w of windows) if (!this.streams.has(w.layer.digest)) this.streams.set(w.layer.digest, w);
  }

  static async open(dest: string, virtualSize: number, windows: Window[], content: OciContentStore, o: AssembleOptions): Promise<DiskBuilder> {
    const tmp = tempName(path.dirname(dest), path.basename(dest));
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.truncate(virtualSize);
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    return new DiskBuilder(dest, fh, tmp, windows, content, o);
  }

  /** The sink for a layer's bytes, or undefined when it is no window of this disk (or already taken). Its
   * write() never rejects: a window that fails here is redone from the stored blob by finish(). */
  stream(layerDigest: string): BlobSink | undefined {
    const w = this.streams.get(layerDigest);
    if (!w) return undefined;
    this.streams.delete(layerDigest);
    let started: { input: import('node:stream').Duplex; finished: Promise<void> } | undefined;
    let failed = false;
    const fail = () => {
      failed = true;
      this.dirty.add(w);
      started?.input.destroy();
    };
    const child = { abort: fail };
    const start = () => {
      const input = codecByName(w.codec).decompress();
      const out = windowWriter(this.fh, w, { onBytes: this.o.onBytes });
      const finished = pipeline(input, out.sink).then(() => out.check(), (err) => { out.drop(); throw err; });
      finished.catch(() => { failed = true; this.dirty.add(w); });
      this.running.push(finished.catch(() => undefined));
      this.children.add(child);
      started = { input, finished };
      return started;
    };
    return {
      write: async (chunk) => {
        if (failed) return;
        const s = started ?? start();
        if (!s.input.write(chunk)) {
          await new Promise<void>((resolve) => {
            const go = () => { s.input.off('drain', go); s.input.off('close', go); resolve(); };
            s.input.on('drain', go);
            s.input.on('close', go);
          });
        }
      },
      end: async () => {
        if (failed || !started) return;
        started.input.end();
        try {
          await started.finished;
          this.done.add(w);
        } catch {
          fail();
        } finally {
          this.children.delete(child);
        }
      },
      abort: () => {
        if (started && !this.done.has(w)) fail();
        this.children.delete(child);
      },
    };
  }

  /** Writes the windows not streamed from the store, then publishes the disk (temp + rename). */
  async finish(): Promise<string> {
    try {
      // An abandoned stream must not write into a window while it is being redone.
      for (const c of [...this.children]) c.abort();
      await Promise.all(this.running);
      const rest = this.windows.filter((w) => !this.done.has(w));
      await mapLimit(rest, this.o.concurrency, (w, _i, signal) => writeWindow(this.fh, w, this.content, signal, this.o.onBytes, this.dirty.has(w)), this.o.signal);
      await this.fh.sync();
      await this.fh.close();
      await chmod(this.tmp, 0o644); // libvirt-qemu reads it as a backing file
      await rename(this.tmp, this.dest);
      await fsyncDir(path.dirname(this.dest));
      return this.dest;
    } catch (err) {
      await this.abort();
      throw fromSystemError(err, `assembling base disk ${this.dest}`);
    }
  }

  async abort(): Promise<void> {
    for (const c of [...this.children]) c.abort();
    await Promise.all(this.running);
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}
