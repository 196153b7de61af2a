// Cutting a raw disk into fixed windows, each an independently compressed layer. All-zero windows
// are omitted; the manifest's coverage check accounts for them as holes.
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OciDescriptor } from '../ports/images.js';
import { CancelledError, FailedPreconditionError, fromSystemError } from '../errors.js';
import { tempName } from './atomicFile.js';
import { codecByName } from './codecs.js';
import { streamHash } from './hashWorkers.js';
import { ANN_DISK_NAME, ANN_OFFSET, ANN_TITLE, ANN_UDIGEST, ANN_USIZE, diskLayerMediaType } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import type { Lease } from './Leases.js';
import { mapLimit } from './pool.js';
import { isZero } from './zeros.js';

export interface WindowOptions {
  windowSize: number;
  codec: string;
  level: number;
  concurrency: number;
  diskName: string;
  content: OciContentStore;
  lease: Lease;
  signal: AbortSignal;
  /** Called with uncompressed bytes processed since the last call. */
  onBytes?: (n: number) => void;
  /**
   * The base disk being made from the same read (an import from a file the daemon reads in place): each
   * non-zero chunk is also written at its offset, so zero runs stay holes and the source is read once.
   */
  copyTo?: FileHandle;
}

export function windowCount(virtualSize: number, windowSize: number): number {
  return Math.ceil(virtualSize / windowSize);
}

/** Compresses every non-zero window of `rawFile` into the content store; returns the layers in offset order. */
export async function compressWindows(rawFile: string, virtualSize: number, o: WindowOptions): Promise<OciDescriptor[]> {
  const codec = codecByName(o.codec);
  const n = windowCount(virtualSize, o.windowSize);
  const idx = Array.from({ length: n }, (_, i) => i);
  // Fewer windows than workers (a disk of one or two windows): each window's zstd gets the spare cores.
  const threads = Math.max(1, Math.floor(o.concurrency / Math.max(1, Math.min(n, o.concurrency))));
  const layers = await mapLimit(idx, o.concurrency, async (i, _k, signal) => {
    const offset = i * o.windowSize;
    const usize = Math.min(o.windowSize, virtualSize - offset);
    const uhash = streamHash();
    const chash = streamHash();
    let zero = true;
    let csize = 0;
    let at = offset;
    const tmp = tempName(o.content.blobDir, `window-${i}`);
    const out = await open(tmp, 'wx', 0o644);
    try {
      await pipeline(
        createReadStream(rawFile, { start: offset, end: offset + usize - 1, highWaterMark: 1 << 20 }),
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            const pos = at;
            at += chunk.length;
            o.onBytes?.(chunk.length);
            (async () => {
              await uhash.update(chunk);
              if (isZero(chunk)) return;
              zero = false;
              if (o.copyTo) await o.copyTo.write(chunk, 0, chunk.length, pos);
            })().then(() => cb(null, chunk), cb);
          },
        }),
        codec.compress(o.level, threads),
        async function* (src: AsyncIterable<Buffer>) {
          // zstd's stdout arrives in pipe-sized pieces; written in batches of ~1 MiB.
          let batch: Buffer[] = [];
          let batched = 0;
          for await (const c of src) {
            await chash.update(c);
            csize += c.length;
            batch.push(c);
            batched += c.length;
            if (batched >= 1 << 20) {
              await out.writev(batch);
              batch = [];
              batched = 0;
            }
          }
          if (batch.length > 0) await out.writev(batch);
        },
        { signal },
      );
      // A source that shrank while it was read (an in-place import) must not yield a short window.
      if (at - offset !== usize) throw new FailedPreconditionError(`${rawFile} changed while it was read: window ${i} has ${at - offset} of ${usize} bytes; nothing was stored`);
      if (zero) return undefined;
      await out.sync();
      await out.close();
      const [digest, udigest] = await Promise.all([chash.digest(), uhash.digest()]);
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
          [ANN_UDIGEST]: udigest,
        },
      };
      return layer;
    } catch (err) {
      if (signal.aborted && (err as Error).name === 'AbortError') {
        throw o.signal.aborted ? new CancelledError('import cancelled', { cause: err }) : (signal.reason ?? err);
      }
      throw fromSystemError(err, `compressing window ${i} of ${rawFile}`);
    } finally {
      uhash.drop();
      chash.drop();
      await out.close().catch(() => {});
      await rm(tmp, { force: true });
    }
  }, o.signal);
  return layers.filter((l): l is OciDescriptor => l !== undefined);
}
