// Window codecs. zstd runs as the system binary (Debian `zstd`) in child processes: Node 20's zlib
// has no zstd, and the npm zstd bindings need native build scripts (see bench/README.md); its output
// goes straight to files (childJobs.ts). gzip uses Node's zlib in-process. Each window is an
// independent frame, so windows (de)compress in parallel.
import { createReadStream, write } from 'node:fs';
import { open } from 'node:fs/promises';
import { type Duplex, PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { DataLossError, InvalidArgumentError } from '../errors.js';
import { type CodecJob, type CodecRun, zstdCompressRange, zstdDecompressInto } from './childJobs.js';
import { isZero } from './zeros.js';

export { type CodecJob, type CodecRun, isOverflow } from './childJobs.js';

export interface Codec {
  /** The suffix of the layer media type (`…disk.v1.raw+<name>`). */
  readonly name: string;
  /**
   * Compresses `size` bytes of the file `source` from `offset` into the open file `outFd`; `done` resolves
   * with the bytes read (fewer: the file shrank). `threads`: workers inside one frame (zstd -T).
   */
  compressRange(source: string, offset: number, size: number, outFd: number, level: number | undefined, threads: number): Promise<CodecRun>;
  /**
   * Decompresses the job's input into `file` at `offset`; exactly `size` bytes or `done` rejects with
   * DATA_LOSS naming `what`. `sparse`: all-zero blocks are skipped (the region is known to be a hole).
   */
  decompressInto(file: string, offset: number, size: number, sparse: boolean, what: string): Promise<CodecJob>;
}

export const DEFAULT_CODEC = 'zstd';
export const DEFAULT_LEVEL = 2; // chosen by bench/codecs.ts: see bench/README.md

const zstd: Codec = {
  name: 'zstd',
  compressRange: (source, offset, size, outFd, level = 3, threads = 1) => zstdCompressRange(source, offset, size, outFd, level, threads),
  decompressInto: zstdDecompressInto,
};

/** An in-process codec job: `transform` between the input and a sink. */
function inProcess(transform: Duplex, sink: (src: AsyncIterable<Buffer>) => Promise<number>, what?: string): CodecJob {
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  const done = (async () => {
    let bytes = 0;
    try {
      await pipeline(input, transform, async (src: AsyncIterable<string | Buffer>) => { bytes = await sink(src as AsyncIterable<Buffer>); });
    } catch (err) {
      // zlib's Z_DATA_ERROR, Z_BUF_ERROR…: the blob verified, so its content is not a valid stream.
      if (what && /^Z_/.test(String((err as NodeJS.ErrnoException).code))) throw new DataLossError(`${what} does not decompress: ${(err as Error).message}`);
      throw err;
    }
    return bytes;
  })();
  done.catch(() => undefined);
  return { input, done, kill: () => input.destroy(new Error('stopped')) };
}

const writeAt = promisify(write);

const gzip: Codec = {
  name: 'gzip',
  compressRange: async (source, offset, size, outFd, level = 1) => {
    let read = 0;
    const job = inProcess(createGzip({ level, chunkSize: 1 << 20 }), async (src) => {
      let pos = 0;
      for await (const c of src) pos += (await writeAt(outFd, c, 0, c.length, pos)).bytesWritten;
      return pos;
    });
    const input = createReadStream(source, { start: offset, end: offset + size - 1, highWaterMark: 1 << 20 });
    input.on('data', (c) => { read += c.length; });
    const fed = pipeline(input, job.input);
    return { done: Promise.all([fed, job.done]).then(() => read), kill: job.kill };
  },
  decompressInto: async (file, offset, size, sparse, what) => inProcess(createGunzip({ chunkSize: 1 << 20 }), async (src) => {
    const fh = await open(file, 'r+');
    let pos = offset;
    try {
      for await (const c of src) {
        if (pos + c.length > offset + size) throw new DataLossError(`${what} decompresses to more than ${size} bytes`); // checked before writing: nothing spilled
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
