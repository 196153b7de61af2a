// Receiving a disk stream into a sparse file. Memory stays bounded (one block plus the chunk in
// hand): the caller's iterator is pulled only after the previous block is on disk.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { CancelledError, DataLossError, InvalidArgumentError, fromSystemError } from '../errors.js';
import { isZero } from './zeros.js';

const BLOCK = 1 << 20;

/** Bytes written from offset 0 of `fh` one block at a time; all-zero blocks are skipped, so they stay holes. */
export class SparseBlocks {
  private readonly block = Buffer.allocUnsafe(BLOCK);
  private fill = 0;
  private pos = 0; // file offset of block[0]

  constructor(private readonly fh: FileHandle) {}

  async write(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
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

export interface SpoolResult {
  size: number;
  sha256: string;
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

export async function spoolToSparseFile(
  source: AsyncIterable<Buffer>, file: string, expected: { totalSize: number; sha256?: string },
  signal: AbortSignal, onBytes?: (n: number) => void,
): Promise<SpoolResult> {
  const h = createHash('sha256');
  let fh: FileHandle | undefined;
  let received = 0;
  const it = source[Symbol.asyncIterator]();
  try {
    fh = await open(file, 'wx', 0o600);
    const out = new SparseBlocks(fh);
    for (;;) {
      const r = await nextOrAbort(it, signal);
      if (r.done) break;
      const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      received += chunk.length;
      if (received > expected.totalSize) {
        throw new InvalidArgumentError(`the disk stream carries more than the declared total_size ${expected.totalSize} bytes`, { field: 'total_size' });
      }
      h.update(chunk);
      await out.write(chunk);
      onBytes?.(chunk.length);
    }
    await out.flush();
    if (received !== expected.totalSize) {
      throw new InvalidArgumentError(`the disk stream ended after ${received} of the declared ${expected.totalSize} bytes; nothing was stored`, { field: 'total_size' });
    }
    const sha256 = h.digest('hex');
    const want = expected.sha256?.replace(/^sha256:/, '').toLowerCase();
    if (want && want !== sha256) {
      throw new DataLossError(`the disk's sha256 is ${sha256}, but the request declared ${want}; nothing was stored`);
    }
    await fh.truncate(expected.totalSize); // trailing zeros stay a hole
    await fh.sync();
    return { size: received, sha256 };
  } catch (err) {
    // Tell the producer we stopped listening (e.g. a gRPC call stream) so it is not left hanging.
    void Promise.resolve(it.return?.()).catch(() => {});
    throw fromSystemError(err, `receiving the disk into ${file}`);
  } finally {
    await fh?.close().catch(() => {});
  }
}
