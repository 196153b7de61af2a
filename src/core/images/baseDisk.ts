// Reassembly of an image's disk into a sparse raw file: the backing file of every VM overlay.
// Windows decompress in parallel and are written at their offsets; zero runs are left as holes.
import { createHash } from 'node:crypto';
import { chmod, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataLossError, fromSystemError } from '../errors.js';
import { fsyncDir, tempName } from './atomicFile.js';
import { codecByName } from './codecs.js';
import type { Window } from './coverage.js';
import type { OciContentStore } from './OciContentStore.js';
import { mapLimit } from './pool.js';
import { isZero } from './zeros.js';

export interface AssembleOptions {
  concurrency: number;
  signal: AbortSignal;
  onBytes?: (n: number) => void;
}

async function writeWindow(fh: FileHandle, w: Window, content: OciContentStore, signal: AbortSignal, onBytes?: (n: number) => void): Promise<void> {
  const h = createHash('sha256');
  let pos = w.offset;
  await pipeline(
    content.read(w.layer.digest),
    codecByName(w.codec).decompress(),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        if (pos + chunk.length > w.offset + w.size) throw new DataLossError(`window at ${w.offset} (${w.layer.digest}) decompresses to more than ${w.size} bytes`);
        h.update(chunk);
        if (!isZero(chunk)) await fh.write(chunk, 0, chunk.length, pos);
        pos += chunk.length;
        onBytes?.(chunk.length);
      }
    },
    { signal },
  );
  if (pos !== w.offset + w.size) throw new DataLossError(`window at ${w.offset} (${w.layer.digest}) decompresses to ${pos - w.offset} bytes, expected ${w.size}`);
  const got = 'sha256:' + h.digest('hex');
  if (got !== w.udigest) throw new DataLossError(`window at ${w.offset} (${w.layer.digest}) decompresses to ${got}, annotated ${w.udigest}`);
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
