// Reassembly of an image's disk into a sparse raw file: the backing file of every VM overlay.
// Windows decompress in parallel and are written at their offsets; zero runs are left as holes.
import { chmod, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataLossError, fromSystemError } from '../errors.js';
import { fsyncDir, tempName } from './atomicFile.js';
import { codecByName, isOverflow } from './codecs.js';
import type { Window } from './coverage.js';
import type { BaseDiskBuilder, BlobSink } from '../ports/images.js';
import type { OciContentStore } from './OciContentStore.js';
import { mapLimit } from './pool.js';
import { Writeback } from './writeback.js';

/** Compressed bytes fed between datasyncs of a disk being built (a window is about twice that on disk). */
const DISK_WRITEBACK = 32 * 1024 * 1024;

export interface AssembleOptions {
  concurrency: number;
  signal: AbortSignal;
  onBytes?: (n: number) => void;
}

type WindowJob = Awaited<ReturnType<typeof windowJob>>;

/**
 * Window `w` from its compressed bytes (written to `input`) into `file` at its offset; the codec writes
 * it there itself (zstd: sparse unless `dense`). `finished` resolves once the codec checked its frames
 * (zstd's content checksum, gzip's CRC) and exactly the window's size came out. The compressed bytes
 * are the blob the store verified by digest (or, while a pull streams, will verify before the window
 * counts), so the uncompressed digest annotation is not re-hashed here: that is 1 GiB of sha256 per GiB
 * of disk on every pull. `vmr system check` compares the disks with it.
 */
async function windowJob(file: string, w: Window, dense: boolean, onBytes?: (n: number) => void, writeback?: Writeback) {
  const what = `window at ${w.offset} (${w.layer.digest})`;
  const job = await codecByName(w.codec).decompressInto(file, w.offset, w.size, !dense, what);
  // Progress in uncompressed bytes, estimated from the compressed bytes fed so far.
  let fed = 0;
  let shown = 0;
  const feed = (n: number) => {
    fed += n;
    writeback?.wrote(n);
    const now = Math.min(w.size, Math.floor((fed / Math.max(1, w.layer.size)) * w.size));
    if (now > shown) onBytes?.(now - shown);
    shown = Math.max(shown, now);
  };
  const finished = job.done.then(() => {
    if (shown < w.size) onBytes?.(w.size - shown);
  });
  finished.catch(() => undefined);
  return { input: job.input, finished, kill: job.kill, feed };
}

/** Why a feeding pipeline broke: the codec's own failure (EPIPE after it exited) says more. */
async function jobFailure(err: unknown, job: { finished: Promise<void>; kill(): void }, signal?: AbortSignal): Promise<never> {
  const epipe = (err as NodeJS.ErrnoException)?.code === 'EPIPE';
  if (!epipe) job.kill();
  const own = await job.finished.then(() => undefined, (e: unknown) => e);
  job.kill();
  throw epipe && own && !signal?.aborted ? own : err;
}

async function writeWindow(file: string, w: Window, content: OciContentStore, signal: AbortSignal, onBytes?: (n: number) => void, dense = false, writeback?: Writeback): Promise<void> {
  const job = await windowJob(file, w, dense, onBytes, writeback);
  try {
    await pipeline(content.read(w.layer.digest), async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        job.feed(c.length);
        yield c;
      }
    }, job.input, { signal });
  } catch (err) {
    await jobFailure(err, job, signal);
  }
  await job.finished;
}

/** Writes the disk to `dest` atomically (temp + rename): a reader sees all of it or nothing. */
export async function assembleDisk(dest: string, virtualSize: number, windows: Window[], content: OciContentStore, o: AssembleOptions): Promise<void> {
  const dir = path.dirname(dest);
  const tmp = tempName(dir, path.basename(dest));
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.truncate(virtualSize);
    const wb = new Writeback(fh, DISK_WRITEBACK);
    await mapLimit(windows, o.concurrency, (w, _i, signal) => writeWindow(tmp, w, content, signal, o.onBytes, false, wb), o.signal).finally(() => wb.settle());
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
  private readonly writeback: Writeback;
  private overflowed = false;

  private constructor(private readonly dest: string, private readonly fh: FileHandle, tmp: string,
    private readonly windows: Window[], private readonly content: OciContentStore, private readonly o: AssembleOptions) {
    this.tmp = tmp;
    this.writeback = new Writeback(fh, DISK_WRITEBACK);
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
    let started: Promise<WindowJob> | undefined;
    let job: WindowJob | undefined;
    let failed = false;
    const fail = () => {
      failed = true;
      this.dirty.add(w);
      if (isOverflowed()) this.overflowed = true;
      job?.kill();
    };
    let lastError: unknown;
    const isOverflowed = () => isOverflow(lastError);
    const child = { abort: fail };
    const start = () => {
      this.children.add(child);
      started = windowJob(this.tmp, w, false, this.o.onBytes, this.writeback).then((j) => {
        job = j;
        j.finished.catch((err: unknown) => { lastError = err; fail(); });
        this.running.push(j.finished.catch(() => undefined));
        if (failed) j.kill(); // aborted while starting
        return j;
      });
      started.catch((err: unknown) => { lastError = err; fail(); });
      return started;
    };
    return {
      write: async (chunk) => {
        if (failed) return;
        let s: WindowJob;
        try {
          s = await (started ?? start());
        } catch {
          return; // redone from the stored blob by finish()
        }
        if (failed) return;
        s.feed(chunk.length);
        // Resolves once the decompressor has the bytes: the caller reuses `chunk` after that.
        await new Promise<void>((resolve) => { s.input.write(chunk, () => resolve()); });
      },
      end: async () => {
        if (failed || !started) return;
        try {
          const j = await started;
          j.input.end();
          await j.finished;
          if (!failed) this.done.add(w);
        } catch (err) {
          lastError = err;
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
      // A window that spilled past its end may have overwritten a finished neighbour: redo them all, dense.
      const rest = this.overflowed ? this.windows : this.windows.filter((w) => !this.done.has(w));
      await mapLimit(rest, this.o.concurrency, (w, _i, signal) => writeWindow(this.tmp, w, this.content, signal, this.o.onBytes, this.overflowed || this.dirty.has(w), this.writeback), this.o.signal);
      await this.writeback.settle();
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
    await this.writeback.settle();
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}
