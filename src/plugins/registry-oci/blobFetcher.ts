// Downloads one blob into the content store's resumable writer. A dropped connection resumes with
// Range from the bytes already written; the writer verifies size and digest on commit. A `sink` (the base
// disk being built during a pull) goes to the writer, which gives it the same bytes in order and ends it only
// after that commit.
import {
  type BlobSink, type CallContext, type ContentStore, DataLossError, isVmrError, type OciDescriptor, sleep,
} from '../../plugin-api/index.js';
import type { Readable } from 'node:stream';
import { byteReporter } from './progress.js';
import { RawBody } from './rawGet.js';
import type { Repository } from './repository.js';
import { backoffMs, isTransient, toCancelled } from './transport.js';

/**
 * Each piece of `body` to `onChunk`, in order; a promise from it holds the next piece back. A bare
 * connection's body (rawGet.ts) lends views of its read buffer; any other stream's pieces are its own.
 */
async function eachChunk(body: Readable, onChunk: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  if (body instanceof RawBody) {
    let last: Promise<void> | undefined;
    try {
      await body.consume((c) => {
        try {
          last = onChunk(c);
        } catch (err) {
          last = Promise.reject(err);
        }
        return last;
      });
    } finally {
      // A piece still being taken when the connection broke is finished first: the caller's resume
      // offset must include it.
      await last?.catch(() => undefined);
    }
    return;
  }
  try {
    for await (const c of body) await onChunk(c as Buffer);
  } finally {
    body.destroy();
  }
}

/** Returns the bytes moved over the network (0 when the store already had the blob). */
export async function fetchBlob(anyRepo: Repository, desc: OciDescriptor, content: ContentStore, ctx: CallContext,
  signal: AbortSignal, sink?: BlobSink): Promise<number> {
  const repo = anyRepo.withSignal(signal);
  if (await content.has(desc.digest)) {
    sink?.abort();
    return 0;
  }
  // The writer hands the sink the bytes, tells it when the digest matched and ends or aborts it; a partial
  // resumed from an earlier attempt aborts it (the sink would miss the start: the window is built from the store).
  const w = await content.writer(desc.digest, desc.size, { ...ctx, signal }, { sink });
  // The writer waits for a concurrent writer of the same digest; by then the blob may be complete.
  if (await content.has(desc.digest)) {
    await w.close();
    return 0;
  }
  const report = byteReporter(ctx, 'download', desc.digest, desc.size);
  const from = w.offset;
  let offset = from;
  let failures = 0;
  const opts = repo.t.opts;
  // Each network piece goes to the writer as it arrives: the store's writer copies it at once (writeNow; a body
  // read as views of one socket buffer, rawGet.ts, is paused only when the writer has to wait), any other
  // writer's write() is awaited with the piece held.
  const put = (chunk: Buffer) => (w.writeNow ? w.writeNow(chunk) : w.write(chunk));
  try {
    while (offset < desc.size || desc.size === 0) {
      try {
        const res = await repo.getBlob(desc.digest, offset, false);
        // A registry that ignores Range sends everything again: skip what we hold.
        let skip = res.status === 200 ? offset : 0;
        const onChunk = (raw: Buffer): Promise<void> | undefined => {
          let chunk = raw;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (!chunk.length) return undefined;
          }
          if (offset + chunk.length > desc.size) {
            throw new DataLossError(`blob ${desc.digest} from ${repo.s.host}/${repo.name} is longer than the ${desc.size} bytes its descriptor says`);
          }
          offset += chunk.length;
          failures = 0;
          report(offset);
          return put(chunk);
        };
        await eachChunk(res.body, onChunk);
        if (desc.size === 0 || offset >= desc.size) break;
        throw Object.assign(new Error(`connection closed at byte ${offset} of ${desc.size}`), { code: 'ECONNRESET' });
      } catch (err) {
        // What arrived before the failure is the writer's (eachChunk let the last piece finish): the resume starts after it.
        if (signal.aborted) toCancelled(signal, err);
        if (isVmrError(err) && err.code !== 'UNAVAILABLE') throw err;
        if (failures >= opts.retries || !isTransient(err)) throw err;
        ctx.log.debug({ digest: desc.digest, offset, err: (err as Error).message }, 'blob download interrupted, resuming');
        await sleep(backoffMs(failures++, opts, err), signal);
      }
    }
    await w.commit();
  } catch (err) {
    // DATA_LOSS from commit has already removed the partial; otherwise keep it for the next attempt.
    await w.close().catch(() => undefined);
    throw err;
  }
  return offset - from;
}
