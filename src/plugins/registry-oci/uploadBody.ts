// The body of one upload request: a stored blob's bytes [start, start+length), read in large pieces
// into a few buffers reused round-robin. Per-chunk buffers (a file ReadStream) cost a push more CPU
// than the bytes themselves: 64 KiB ones a stream turn and a syscall each, large ones the external
// memory that makes V8 run a full GC every few dozen MiB (issue 17).
import { type BlobFile, DataLossError } from '../../plugin-api/index.js';

export const UPLOAD_READ_SIZE = 2 << 20;
/**
 * undici's writer for an iterable body asks for the next chunk only once the previous one is written
 * to the socket (written at once, or after 'drain'), so one buffer would do; three leave two chunks of
 * slack. Should that ever not hold, the registry hashes what it received and refuses the blob: a failed
 * push, never a wrong blob.
 */
export const UPLOAD_BUFFERS = 3;

export interface BlobSource {
  open(digest: string): Promise<BlobFile>;
}

/**
 * The request body for bytes [start, start+length) of a blob: opened on the first read, closed when the
 * consumer finishes or stops early. An empty range is an empty Buffer (undici wants no iterable there).
 */
export function uploadBody(content: BlobSource, digest: string, start: number, length: number,
  readSize = UPLOAD_READ_SIZE): AsyncIterable<Buffer> | Buffer {
  return length > 0 ? chunks(content, digest, start, length, readSize) : Buffer.alloc(0);
}

async function* chunks(content: BlobSource, digest: string, start: number, length: number, readSize: number): AsyncGenerator<Buffer> {
  const file = await content.open(digest);
  try {
    const pool: Buffer[] = [];
    const size = Math.min(readSize, length);
    for (let done = 0, i = 0; done < length; i++) {
      const buf = (pool[i % UPLOAD_BUFFERS] ??= Buffer.allocUnsafeSlow(size));
      const n = await file.read(buf.subarray(0, Math.min(size, length - done)), start + done);
      if (n <= 0) throw new DataLossError(`blob ${digest} in the local store ends at ${start + done} bytes, before the ${start + length} its descriptor says`);
      done += n;
      yield buf.subarray(0, n);
    }
  } finally {
    await file.close();
  }
}
