// Downloads one blob into the content store's resumable writer. A dropped connection resumes with
// Range from the bytes already written; the writer verifies size and digest on commit. A `sink` (the base
// disk being built during a pull) gets the same bytes in order and is ended only after that commit.
import {
  type BlobSink, type CallContext, type ContentStore, DataLossError, isVmrError, type OciDescriptor, sleep,
} from '../../plugin-api/index.js';
import type { Readable } from 'node:stream';
import { byteReporter } from './progress.js';
import { RawBody } from './rawGet.js';
import type { Repository } from './repository.js';
import { backoffMs, isTransient, toCancelled } from './transport.js';

const WRITE_BATCH = 1024 * 1024;
/** Batch buffers per download: one being filled, the others with the sink (the base disk's decompressor). */
const RING = 4;

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
  let offset = w.offset;
  let moved = 0;
  let failures = 0;
  const opts = repo.t.opts;
  // Network reads arrive in 64 KiB pieces; each is copied at once into one of RING reused 1 MiB buffers
  // and dropped, so it dies young. (Holding pieces until a batch was full got them promoted to the old
  // generation, whose buffers only a full GC frees: two dozen full GCs per GiB. A fresh buffer per batch
  // did the same.) The store's writes (in order) and the sink run behind the download; a buffer is
  // reused once both released it.
  const ring: Buffer[] = [];
  const busy: Array<Promise<void> | undefined> = [];
  const held: boolean[] = [];
  let turn = 0;
  let slot = -1;
  let fill = 0;
  let written: Promise<void> = Promise.resolve();
  // Synchronous while a buffer is free: a body read as views of one socket buffer (rawGet.ts) is paused
  // only when take() has to wait for one.
  const take = (chunk: Buffer, from = 0): Promise<void> | undefined => {
    for (let at = from; at < chunk.length;) {
      if (slot < 0) {
        const next = turn % RING;
        if (held[next]) return busy[next]!.then(() => take(chunk, at));
        turn++;
        ring[next] ??= Buffer.allocUnsafeSlow(WRITE_BATCH);
        slot = next;
        fill = 0;
      }
      const n = chunk.copy(ring[slot]!, fill, at);
      fill += n;
      at += n;
      if (fill === WRITE_BATCH) flush();
    }
    return undefined;
  };
  const flush = () => {
    if (slot < 0 || fill === 0) return;
    const buf = ring[slot]!.subarray(0, fill);
    const s = slot;
    slot = -1;
    const done = written.then(() => w.write(buf));
    written = done;
    done.catch(() => undefined); // awaited by settle() or the slot's next use
    held[s] = true;
    void done.finally(() => { held[s] = false; }).catch(() => undefined);
    busy[s] = done;
    offset += buf.length;
    moved += buf.length;
    report(offset);
    failures = 0;
  };
  /** Every batch written; `offset` is then what the store holds. */
  const settle = async () => {
    await Promise.all(busy);
    await written;
  };
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
          if (offset + (slot < 0 ? 0 : fill) + chunk.length > desc.size) {
            throw new DataLossError(`blob ${desc.digest} from ${repo.s.host}/${repo.name} is longer than the ${desc.size} bytes its descriptor says`);
          }
          return take(chunk);
        };
        await eachChunk(res.body, onChunk);
        flush();
        await settle();
        if (desc.size === 0 || offset >= desc.size) break;
        throw Object.assign(new Error(`connection closed at byte ${offset} of ${desc.size}`), { code: 'ECONNRESET' });
      } catch (err) {
        // Keep what arrived before the failure: the resume starts after it.
        flush();
        await settle();
        if (signal.aborted) toCancelled(signal, err);
        if (isVmrError(err) && err.code !== 'UNAVAILABLE') throw err;
        if (failures >= opts.retries || !isTransient(err)) throw err;
        ctx.log.debug({ digest: desc.digest, offset, err: (err as Error).message }, 'blob download interrupted, resuming');
        await sleep(backoffMs(failures++, opts, err), signal);
      }
    }
    await settle();
    await w.commit();
  } catch (err) {
    // DATA_LOSS from commit has already removed the partial; otherwise keep it for the next attempt.
    await w.close().catch(() => undefined);
    throw err;
  }
  return moved;
}
