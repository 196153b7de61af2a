// Receiving a disk stream into a sparse file. Memory stays bounded (one block plus the chunk in
// hand): the caller's iterator is pulled only after the previous block is in the file. The file is not
// fsynced: it is a work file, deleted or published as a base disk, which is made durable later
// (durableLater.ts); everything else is derived from it into blobs that are synced.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { CancelledError, DataLossError, InvalidArgumentError, fromSystemError } from '../errors.js';
import { Writeback } from './writeback.js';
import { isZero } from './zeros.js';

const BLOCK = 1 << 20;

/** Bytes written from offset 0 of `fh` one block at a time; all-zero blocks are skipped, so they stay holes. */
export class SparseBlocks {
  private readonly block = Buffer.allocUnsafe(BLOCK);
  private fill = 0;
  private pos = 0; // file offset of block[0]

  constructor(private readonly fh: FileHandle) {}

  /** Bytes from offset 0 that are in the file (written, or a zero block left a hole). */
  get landed(): number {
    return this.pos;
  }

  /** Resolves once `chunk` is in the file or in the block buffer: the caller may reuse it then, not before. */
  async write(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      // A whole block at a block boundary (a 1 MiB upload chunk, a zero run) is written from the chunk itself, or
      // skipped when zero: no copy into the block buffer.
      if (this.fill === 0 && chunk.length - off >= BLOCK) {
        const b = chunk.subarray(off, off + BLOCK);
        if (!isZero(b)) await this.fh.write(b, 0, BLOCK, this.pos);
        this.pos += BLOCK;
        off += BLOCK;
        continue;
      }
      const n = Math.min(BLOCK - this.fill, chunk.length - off);
      chunk.copy(this.block, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === BLOCK) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    const b = this.block.subarray(0, this.fill);
    if (!isZero(b)) await this.fh.write(b, 0, this.fill, this.pos);
    this.pos += this.fill;
    this.fill = 0;
  }
}

/**
 * How much of a file being spooled can be read: a reader waits for its range (the windows of a raw disk are
 * compressed while the rest of its stream still arrives, issue 17).
 */
export class Landing {
  private at = 0;
  private failure?: { err: unknown };
  private readonly waiting: { end: number; resolve: () => void; reject: (err: unknown) => void }[] = [];

  /** Bytes [0, pos) are in the file. */
  reach(pos: number): void {
    this.at = pos;
    for (const w of this.waiting.filter((x) => x.end <= pos)) {
      this.waiting.splice(this.waiting.indexOf(w), 1);
      w.resolve();
    }
  }

  /** The stream failed: every reader waiting now or later gets `err`. */
  fail(err: unknown): void {
    this.failure ??= { err };
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  /** Resolves once bytes [0, end) are in the file; rejects with the stream's failure, or `signal`'s reason when it fires first. */
  until(end: number, signal?: AbortSignal): Promise<void> {
    if (this.failure) return Promise.reject(this.failure.err);
    if (end <= this.at) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        reject(signal!.reason);
      };
      const w = {
        end,
        resolve: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
        reject: (err: unknown) => { signal?.removeEventListener('abort', onAbort); reject(err); },
      };
      this.waiting.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export interface SpoolOptions {
  /** The declared size: the file has it from the start (readers of a landed range never meet its end), and the stream must carry exactly it. */
  totalSize: number;
  /** The stream's declared sha256 (hex, optionally `sha256:`-prefixed); hashed only when declared. */
  sha256?: string;
  signal: AbortSignal;
  /** Bytes received since the last call. */
  onBytes?: (n: number) => void;
  /** Told how much of the file can be read, as it grows (and reaches `totalSize` at the end). */
  landing?: Landing;
  /**
   * The file outlives the call (it becomes a base disk): written back while it grows (writeback.ts), or its dirty
   * GiB would be left to the first fsync after it — the index's, at the end of the import.
   */
  writeback?: boolean;
}

/** Pulls the next item, or rejects with CANCELLED as soon as `signal` fires (even if the source stalls). */
async function nextOrAbort<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  if (signal.aborted) throw new CancelledError('import cancelled', { cause: signal.reason });
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new CancelledError('import cancelled', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([it.next(), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Receives `source` into the new file `file`; resolves once exactly `totalSize` bytes (with the declared digest) are in it. */
export async function spoolToSparseFile(source: AsyncIterable<Buffer>, file: string, o: SpoolOptions): Promise<void> {
  const want = o.sha256?.replace(/^sha256:/, '').toLowerCase();
  const h = want ? createHash('sha256') : undefined;
  let fh: FileHandle | undefined;
  let back: Writeback | undefined;
  let received = 0;
  const it = source[Symbol.asyncIterator]();
  try {
    fh = await open(file, 'wx', 0o600);
    await fh.truncate(o.totalSize); // zeros past the last non-zero block stay a hole
    if (o.writeback) back = new Writeback(fh).periodic();
    const out = new SparseBlocks(fh);
    for (;;) {
      const r = await nextOrAbort(it, o.signal);
      if (r.done) break;
      const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      received += chunk.length;
      if (received > o.totalSize) {
        throw new InvalidArgumentError(`the disk stream carries more than the declared total_size ${o.totalSize} bytes`, { field: 'total_size' });
      }
      h?.update(chunk);
      await out.write(chunk);
      o.landing?.reach(out.landed);
      o.onBytes?.(chunk.length);
    }
    await out.flush();
    if (received !== o.totalSize) {
      throw new InvalidArgumentError(`the disk stream ended after ${received} of the declared ${o.totalSize} bytes; nothing was stored`, { field: 'total_size' });
    }
    const sha256 = h?.digest('hex');
    if (want && want !== sha256) {
      throw new DataLossError(`the disk's sha256 is ${sha256}, but the request declared ${want}; nothing was stored`);
    }
    o.landing?.reach(out.landed);
  } catch (err) {
    // Tell the producer we stopped listening (e.g. a gRPC call stream) so it is not left hanging.
    void Promise.resolve(it.return?.()).catch(() => {});
    const e = fromSystemError(err, `receiving the disk into ${file}`);
    o.landing?.fail(e);
    throw e;
  } finally {
    await back?.settle();
    await fh?.close().catch(() => {});
  }
}
