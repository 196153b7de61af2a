// Window codecs. zstd runs as the system binary (Debian `zstd`) in child processes that read and write
// the files themselves (childJobs.ts): Node 20's zlib has no zstd, and the npm zstd bindings need native
// build scripts (see bench/README.md). Imports compress zstd windows in-process instead when our own
// binding was built (nativeZstd.ts; windows.ts chooses); decompression always uses the binary. gzip uses
// Node's zlib in-process. Each window is an independent frame, so windows (de)compress in parallel.
import { createReadStream, write } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, createGzip } from 'node:zlib';
import { DataLossError, InvalidArgumentError } from '../errors.js';
import { type CodecRun, zstdCompressRange, zstdDecompressInto } from './childJobs.js';
import { isZero } from './zeros.js';

export type { CodecRun } from './childJobs.js';

export interface Codec {
  /** The suffix of the layer media type (`…disk.v1.raw+<name>`). */
  readonly name: string;
  /**
   * Compresses `size` bytes of the file `source` from `offset` into the open file `outFd`; `done` resolves
   * with the bytes read (fewer: the file shrank). `threads`: workers inside one frame (zstd -T).
   */
  compressRange(source: string, offset: number, size: number, outFd: number, level: number | undefined, threads: number): Promise<CodecRun>;
  /**
   * Decompresses the stored blob `blob` (its path, or a handle opened on it at its start, which the run then
   * owns) into `file` at `offset`: exactly `size` bytes (checked with the codec's own frame checks) or `done`
   * rejects with DATA_LOSS naming `what`. `sparse`: zero blocks are skipped (the region is known to be a hole).
   */
  decompressInto(blob: string | FileHandle, file: string, offset: number, size: number, sparse: boolean, what: string): Promise<CodecRun>;
}

export const DEFAULT_CODEC = 'zstd';
export const DEFAULT_LEVEL = 2; // chosen by bench/codecs.ts: see bench/README.md

const zstd: Codec = {
  name: 'zstd',
  compressRange: (source, offset, size, outFd, level = 3, threads = 1) => zstdCompressRange(source, offset, size, outFd, level, threads),
  decompressInto: zstdDecompressInto,
};

const writeAt = promisify(write);

/** An in-process run: `input` through `transform` into `sink`. */
function inProcess(input: Readable, transform: Duplex, sink: (src: AsyncIterable<Buffer>) => Promise<number>, what?: string): CodecRun {
  const ac = new AbortController();
  const done = (async () => {
    let bytes = 0;
    try {
      await pipeline(input, transform, async (src: AsyncIterable<string | Buffer>) => { bytes = await sink(src as AsyncIterable<Buffer>); }, { signal: ac.signal });
    } catch (err) {
      // zlib's Z_DATA_ERROR, Z_BUF_ERROR…: the blob verified, so its content is not a valid stream.
      if (what && /^Z_/.test(String((err as NodeJS.ErrnoException).code))) throw new DataLossError(`${what} does not decompress: ${(err as Error).message}`);
      throw err;
    }
    return bytes;
  })();
  done.catch(() => undefined);
  return { done, kill: () => ac.abort() };
}

const gzip: Codec = {
  name: 'gzip',
  compressRange: async (source, offset, size, outFd, level = 1) => {
    let read = 0;
    const input = createReadStream(source, { start: offset, end: offset + size - 1, highWaterMark: 1 << 20 });
    input.on('data', (c) => { read += c.length; });
    const run = inProcess(input, createGzip({ level, chunkSize: 1 << 20 }), async (src) => {
      let pos = 0;
      for await (const c of src) pos += (await writeAt(outFd, c, 0, c.length, pos)).bytesWritten;
      return pos;
    });
    return { done: run.done.then(() => read), kill: run.kill };
  },
  decompressInto: async (blob, file, offset, size, sparse, what) => inProcess(createReadStream(typeof blob === 'string' ? blob : '', { fd: typeof blob === 'string' ? undefined : blob, highWaterMark: 1 << 20 }), createGunzip({ chunkSize: 1 << 20 }), async (src) => {
    const fh = await open(file, 'r+');
    let pos = offset;
    try {
      for await (const c of src) {
        // Checked before writing: nothing spills into the next window.
        if (pos + c.length > offset + size) throw new DataLossError(`${what} decompresses to more than ${size} bytes`);
        if (!sparse || !isZero(c)) await fh.write(c, 0, c.length, pos);
        pos += c.length;
      }
    } finally {
      await fh.close();
    }
    if (pos - offset !== size) throw new DataLossError(`${what} decompresses to ${pos - offset} bytes, expected ${size}`);
    return size;
  }, what),
};

const CODECS: Record<string, Codec> = { zstd, gzip };

export function codecByName(name: string): Codec {
  const c = CODECS[name];
  if (!c) throw new InvalidArgumentError(`unknown disk codec "${name}"; supported: ${Object.keys(CODECS).join(', ')}`);
  return c;
}
