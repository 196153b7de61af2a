// Reassembly of an image's disk into a sparse raw file: the backing file of every VM overlay.
// Windows decompress in parallel and are written at their offsets; zero runs are left as holes.
import { chmod, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fromSystemError } from '../errors.js';
import { tempName } from './atomicFile.js';
import { codecByName } from './codecs.js';
import type { Window } from './coverage.js';
import type { BaseDiskBuilder } from '../ports/images.js';
import type { OciContentStore } from './OciContentStore.js';
import { Limiter } from '../async/limiter.js';
import { mapLimit } from './pool.js';
import { publishDisk } from './durableLater.js';
import { inflateStream, type HandoffSink, type InflateResult, type InflateTarget, type StreamInflate } from './hashWorkers.js';

export interface AssembleOptions {
  concurrency: number;
  signal: AbortSignal;
  onBytes?: (n: number) => void;
  /** The zstd binding (nativeZstd.ts): a pull's zstd windows are decompressed while their blobs download. */
  zstdBinding?: string;
}

/**
 * Window `w` decompressed from its blob (the stored file's path, or a handle on the verified file, which
 * this closes) into `file` at its offset; the codec reads the blob and writes the file itself (zstd:
 * sparse unless `dense`) and checks its frames (zstd's content checksum, gzip's CRC) and that exactly the
 * window's size came out. The blob was verified by digest before, so the uncompressed-digest annotation
 * is not re-hashed here (1 GiB of sha256 per GiB of disk on every pull); `vmr system check` compares the
 * disks with it.
 */
async function writeWindow(file: string, w: Window, blob: string | FileHandle, signal: AbortSignal, onBytes?: (n: number) => void, dense = false): Promise<void> {
  if (signal.aborted) {
    if (typeof blob !== 'string') await blob.close();
    signal.throwIfAborted();
  }
  const what = `window at ${w.offset} (${w.layer.digest})`;
  const run = await codecByName(w.codec).decompressInto(blob, file, w.offset, w.size, !dense, what);
  const stop = () => run.kill();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await run.done;
  } catch (err) {
    throw signal.aborted ? (signal.reason ?? err) : err;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  onBytes?.(w.size);
}

/** Writes the disk to `dest` atomically (temp + rename): a reader sees all of it or nothing. */
export async function assembleDisk(dest: string, virtualSize: number, windows: Window[], content: OciContentStore, o: AssembleOptions): Promise<void> {
  const dir = path.dirname(dest);
  const tmp = tempName(dir, path.basename(dest));
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.truncate(virtualSize);
    await mapLimit(windows, o.concurrency, (w, _i, signal) => writeWindow(tmp, w, content.blobPath(w.layer.digest), signal, o.onBytes), o.signal);
    await fh.close();
    fh = undefined;
    // Private: the hypervisor plugin gives QEMU's group read access when a VM uses it (libvirt
    // plugin, filePermissions.ts); nobody else reads an image's disk.
    await chmod(tmp, 0o600);
    await publishDisk(tmp, dest); // synced in the background (durableLater.ts)
  } catch (err) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true });
    throw fromSystemError(err, `assembling base disk ${dest}`);
  }
}

/**
 * A base disk built while its pull downloads (issue 17). With the zstd binding each window is decompressed on a
 * hash worker as its blob's bytes arrive, into this private temp file; it counts as done only once the blob's
 * digest matched, the frame ended (its checksum checked by zstd) and exactly the window's size came out.
 * Otherwise (no binding, gzip) a window is decompressed from its blob as soon as that blob is verified by digest
 * (while it is synced and stored, and other blobs still download). The file is renamed into place only by
 * finish(), which the caller runs after the manifest was committed; a window that did not complete is redone
 * there, from the stored blob, densely if a stream wrote part of it.
 */
export class DiskBuilder implements BaseDiskBuilder {
  private readonly done = new Set<Window>();
  private readonly started = new Set<Window>();
  private readonly pending = new Map<string, Window[]>();
  private readonly running: Promise<void>[] = [];
  /** Windows decompressing as they download, until verified, ended or aborted. */
  private readonly inflating = new Set<StreamInflate>();
  /** Streams told to stop: once these settle their worker writes nothing more (a redo may then write there). */
  private readonly stopping: Promise<unknown>[] = [];
  private readonly ac = new AbortController();
  private readonly limiter: Limiter;
  /** Windows started and not finished (running or waiting for the limiter). */
  private queued = 0;

  private constructor(private readonly dest: string, private readonly fh: FileHandle, private readonly tmp: string,
    private readonly windows: Window[], private readonly content: OciContentStore, private readonly o: AssembleOptions) {
    this.limiter = new Limiter(Math.max(1, o.concurrency));
    for (const w of windows) this.pending.set(w.layer.digest, [...(this.pending.get(w.layer.digest) ?? []), w]);
  }

  static async open(dest: string, virtualSize: number, windows: Window[], content: OciContentStore, o: AssembleOptions): Promise<DiskBuilder> {
    const tmp = tempName(path.dirname(dest), path.basename(dest));
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.truncate(virtualSize);
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    return new DiskBuilder(dest, fh, tmp, windows, content, o);
  }

  /**
   * The sink for a layer, or undefined when it is no window of this disk (or already taken). With the binding, its
   * zstd windows are decompressed as the bytes arrive: by the blob's writer's worker when it takes them over
   * (handoff(), one copy of each piece on the main thread), else by a stream of this sink's own fed by write().
   * Without, they start decompressing as soon as the blob's digest matched — from the verified file, opened before
   * it is renamed into the store, while the store syncs it — or, when the writer did not say (a writer without
   * that step), from the store at end().
   */
  stream(layerDigest: string): HandoffSink | undefined {
    const ws = this.pending.get(layerDigest);
    if (!ws) return undefined;
    this.pending.delete(layerDigest);
    let started = false;
    const size = ws[0]!.size;
    const target: InflateTarget | undefined = this.o.zstdBinding && ws.every((w) => w.codec === 'zstd' && w.size === size)
      ? { native: this.o.zstdBinding, file: this.tmp, offsets: ws.map((w) => w.offset), size }
      : undefined;
    let inflate: StreamInflate | undefined;
    /** The outcome of a decompression the writer's worker ran, once its stream ended. */
    let handedOff: Promise<InflateResult | { error: Error } | undefined> | undefined;
    let streamed = false;
    const streaming = () => {
      if (!streamed) for (const w of ws) this.started.add(w); // redone dense if the stream does not complete
      streamed = true;
    };
    let stopped = false;
    const stop = () => {
      stopped = true;
      if (inflate) this.stopStream(inflate);
    };
    return {
      handoff: () => {
        if (!target || streamed || stopped) return undefined;
        streaming();
        let settle!: (r: InflateResult | { error: Error } | undefined) => void;
        const outcome = new Promise<InflateResult | { error: Error } | undefined>((resolve) => { settle = resolve; });
        // Once it settled the worker writes nothing more here: a redo waits for that.
        this.stopping.push(outcome);
        handedOff = outcome;
        return {
          target,
          settle: (r) => {
            if (r === undefined) { // not taken: write() gets the bytes
              handedOff = undefined;
              streamed = false;
              for (const w of ws) this.started.delete(w);
            }
            settle(r);
          },
        };
      },
      write: async (chunk) => {
        if (!target || stopped) return;
        if (!inflate) {
          if (streamed) return; // handed off
          inflate = inflateStream(target);
          this.inflating.add(inflate);
        }
        streaming();
        await inflate.update(chunk);
      },
      verified: async (file) => {
        if (handedOff || inflate) {
          let r: InflateResult | { error: Error } | undefined;
          if (handedOff) r = await handedOff;
          else if (inflate && this.inflating.delete(inflate)) r = await inflate.end().catch(() => undefined);
          started = true; // done here, or redone dense by finish() from the store, which says what is wrong
          if (r && 'ended' in r && r.ended && r.bytes === size) {
            for (const w of ws) {
              this.done.add(w);
              this.o.onBytes?.(w.size);
            }
          }
          return;
        }
        // Only onto free slots: a queued window holding a handle would add an open file per window.
        if (this.queued + ws.length > this.o.concurrency) return;
        // One handle per window: each zstd reads its own from the start.
        const tries = await Promise.allSettled(ws.map(() => open(file, 'r')));
        const opened = tries.flatMap((h) => (h.status === 'fulfilled' ? [h.value] : []));
        if (opened.length < ws.length) {
          await Promise.all(opened.map((h) => h.close()));
          return; // end() starts them from the store
        }
        started = true;
        ws.forEach((w, i) => this.start(w, opened[i]!));
      },
      end: async () => {
        if (started) return;
        stop(); // a writer that did not say when the digest matched: the stream is not trusted
        // A stream that wrote part of the windows: finish() redoes them dense.
        if (!streamed) for (const w of ws) this.start(w, this.content.blobPath(w.layer.digest));
      },
      abort: stop,
    };
  }

  private start(w: Window, blob: string | FileHandle): void {
    const signal = AbortSignal.any([this.ac.signal, this.o.signal]);
    this.queued++;
    const p = this.limiter.run(async () => {
      this.started.add(w);
      await writeWindow(this.tmp, w, blob, signal, this.o.onBytes);
      this.done.add(w);
    }).finally(() => this.queued--);
    this.running.push(p.catch(() => undefined)); // redone (and reported) by finish()
  }

  /** Writes the windows not done yet, then publishes the disk (temp + rename). */
  async finish(): Promise<string> {
    this.dropStreams(); // a layer whose blob never said it was verified: redone from the store
    try {
      await Promise.all(this.stopping);
      await Promise.all(this.running);
      // A window whose run failed may have written part of its region: redone dense.
      const rest = this.windows.filter((w) => !this.done.has(w));
      await mapLimit(rest, this.o.concurrency, (w, _i, signal) => writeWindow(this.tmp, w, this.content.blobPath(w.layer.digest), signal, this.o.onBytes, this.started.has(w)), this.o.signal);
      await this.fh.close();
      // Private like an imported or assembled disk: the hypervisor plugin gives QEMU access when a VM uses it.
      await chmod(this.tmp, 0o600);
      await publishDisk(this.tmp, this.dest); // synced in the background (durableLater.ts)
      return this.dest;
    } catch (err) {
      await this.abort();
      throw fromSystemError(err, `assembling base disk ${this.dest}`);
    }
  }

  async abort(): Promise<void> {
    this.dropStreams();
    this.ac.abort();
    await Promise.all(this.running);
    await Promise.all(this.stopping);
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }

  private dropStreams(): void {
    for (const s of [...this.inflating]) this.stopStream(s);
  }

  /** Ends a stream still running (once it settled, its worker writes nothing more here) and counts it as stopping. */
  private stopStream(s: StreamInflate): void {
    if (this.inflating.delete(s)) this.stopping.push(s.end().catch(() => undefined));
  }
}
