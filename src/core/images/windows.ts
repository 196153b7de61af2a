// Cutting a raw disk into fixed windows, each an independently compressed layer. All-zero windows
// are omitted; the manifest's coverage check accounts for them as holes.
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import type { OciDescriptor } from '../ports/images.js';
import { CancelledError, FailedPreconditionError, fromSystemError, throwIfAborted } from '../errors.js';
import { tempName } from './atomicFile.js';
import { type CodecRun, codecByName } from './codecs.js';
import { hashFileRange, readWindow } from './hashWorkers.js';
import { holesHelper } from './holes.js';
import { ANN_DISK_NAME, ANN_OFFSET, ANN_TITLE, ANN_UDIGEST, ANN_USIZE, diskLayerMediaType } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import type { Lease } from './Leases.js';
import { mapLimit } from './pool.js';
import { Writeback } from './writeback.js';

export interface WindowOptions {
  windowSize: number;
  codec: string;
  level: number;
  concurrency: number;
  diskName: string;
  content: OciContentStore;
  lease: Lease;
  signal: AbortSignal;
  /** The zstd binding (nativeZstd.ts): with the zstd codec, windows are compressed on the hash workers. */
  zstdBinding?: string;
  /** Called with uncompressed bytes processed since the last call. */
  onBytes?: (n: number) => void;
  /**
   * The base disk being made (an import from a file the daemon reads in place): a raw file of the disk's
   * size; each window's non-zero blocks are written at their offsets, so zero runs stay holes.
   */
  copyTo?: string;
  /**
   * The file is still being written (a stream being received): a window is read once `ready(end)` resolves for
   * its end (it rejects when `signal` fires). Its size and mtime move meanwhile, so the check for a source changed
   * under the import is left out.
   */
  ready?: (end: number, signal: AbortSignal) => Promise<void>;
}

export function windowCount(virtualSize: number, windowSize: number): number {
  return Math.ceil(virtualSize / windowSize);
}

/**
 * Compresses every non-zero window of `rawFile` into the content store; returns the layers in offset order.
 * The daemon's event loop moves none of the bytes: a hash worker reads each window once, hashes it (the
 * uncompressed-digest annotation), notes whether it is all zeros, writes its non-zero blocks to the base disk
 * (`copyTo`) and, with the zstd binding, compresses it into the window's blob file, hashing the blob as it is
 * written. Without the binding (or with gzip) the codec's own run compresses the window beside that read —
 * `dd | zstd` children reading the file themselves — and the blob's digest is read back from its file. The
 * file is read more than once then, so it must not change meanwhile: its size and mtime are compared before
 * and after (either way: the base disk and the digests must describe one state of the file).
 */
export async function compressWindows(rawFile: string, virtualSize: number, o: WindowOptions): Promise<OciDescriptor[]> {
  const codec = codecByName(o.codec);
  const n = windowCount(virtualSize, o.windowSize);
  const idx = Array.from({ length: n }, (_, i) => i);
  // Fewer windows than workers (a disk of one or two windows): each window's zstd gets the spare cores.
  const threads = Math.max(1, Math.floor(o.concurrency / Math.max(1, Math.min(n, o.concurrency))));
  const before = o.ready ? undefined : await stat(rawFile);
  const layers = await mapLimit(idx, o.concurrency, async (i, _k, signal) => {
    const offset = i * o.windowSize;
    const usize = Math.min(o.windowSize, virtualSize - offset);
    const tmp = tempName(o.content.blobDir, `window-${i}`);
    let out: FileHandle | undefined;
    let run: CodecRun | undefined;
    const stop = () => run?.kill();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await o.ready?.(offset + usize, signal);
      out = await open(tmp, 'wx', 0o644);
      const blob = new Writeback(out).periodic();
      const inWorker = codec.name === 'zstd' && o.zstdBinding !== undefined;
      const compress = inWorker ? { native: o.zstdBinding!, level: o.level, threads, outFd: out.fd } : undefined;
      if (!inWorker) run = await codec.compressRange(rawFile, offset, usize, out.fd, o.level, threads);
      const [read, window] = await Promise.all([run?.done ?? usize, readWindow(rawFile, offset, usize, { copyTo: o.copyTo, compress, holes: holesHelper(), signal, onBytes: o.onBytes })])
        .finally(() => blob.settle());
      throwIfAborted(signal);
      // A source that shrank while it was read (an in-place import) must not yield a short window.
      if (read !== usize) throw changed(rawFile, `window ${i} has ${read} of ${usize} bytes`);
      if (window.zero) return undefined;
      const csize = window.blob?.size ?? (await out.stat()).size;
      // The digest is read from the page cache while the fsync writes the same pages back.
      const [digest] = await Promise.all([window.blob?.digest ?? hashFileRange(tmp, 0, csize), out.sync()]);
      await out.close();
      out = undefined;
      o.lease.add(digest);
      if (await o.content.publish(tmp, digest)) o.lease.created.add(digest);
      const layer: OciDescriptor = {
        mediaType: diskLayerMediaType(codec.name),
        digest,
        size: csize,
        annotations: {
          [ANN_TITLE]: `${o.diskName}.raw.${String(i).padStart(6, '0')}`,
          [ANN_DISK_NAME]: o.diskName,
          [ANN_OFFSET]: String(offset),
          [ANN_USIZE]: String(usize),
          [ANN_UDIGEST]: window.digest,
        },
      };
      return layer;
    } catch (err) {
      run?.kill();
      if (signal.aborted) {
        throw o.signal.aborted ? new CancelledError('import cancelled', { cause: err }) : (signal.reason ?? err);
      }
      if ((err as { short?: boolean }).short) throw changed(rawFile, (err as Error).message);
      throw fromSystemError(err, `compressing window ${i} of ${rawFile}`);
    } finally {
      signal.removeEventListener('abort', stop);
      await out?.close().catch(() => {});
      await rm(tmp, { force: true });
    }
  }, o.signal);
  if (before) {
    const after = await stat(rawFile);
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) throw changed(rawFile, 'its size or mtime moved');
  }
  return layers.filter((l): l is OciDescriptor => l !== undefined);
}

function changed(file: string, detail: string): FailedPreconditionError {
  return new FailedPreconditionError(`${file} changed while it was read (${detail}); nothing was stored`);
}
