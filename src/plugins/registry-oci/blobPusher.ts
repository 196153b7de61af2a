// Uploads one blob from the content store. Small blobs: POST then one PUT. Large blobs: PATCH chunks,
// following the newest Location each time and counting offsets ourselves (distribution 2.8 ignores
// Content-Range); a failed chunk asks the upload URL where it stands and goes on from there.
import {
  type CallContext, hasCode, isVmrError, type OciDescriptor, sleep,
} from '../../plugin-api/index.js';
import { byteReporter } from './progress.js';
import { withQuery, type Repository, type UploadSession } from './repository.js';
import { backoffMs, isTransient, readText, toCancelled } from './transport.js';
import { type BlobSource, uploadBody } from './uploadBody.js';

export interface PushOptions {
  /** Blobs up to this size go in one PUT; larger ones in chunks of this size (or the registry's minimum). */
  chunkSize: number;
  /** Repository on the same registry that already holds the blob (cross-repo mount). */
  mountFrom?: string;
}

/** Upload sessions kept across attempts, so a push retried after a failure resumes where it stopped. */
export type UploadMemo = Map<string, { location: string; offset: number }>;

export async function pushBlob(anyRepo: Repository, desc: OciDescriptor, content: BlobSource, ctx: CallContext,
  signal: AbortSignal, opts: PushOptions, memo: UploadMemo): Promise<number> {
  const repo = anyRepo.withSignal(signal);
  if (await repo.blobExists(desc.digest)) return 0;
  const memoKey = `${repo.s.host}/${repo.name}@${desc.digest}`;
  const report = byteReporter(ctx, 'upload', desc.digest, desc.size);
  const t = repo.t.opts;

  let session: UploadSession | undefined;
  let offset = 0;
  const remembered = memo.get(memoKey);
  if (remembered) {
    const st = await repo.uploadStatus(remembered.location).catch(() => undefined);
    if (st) {
      session = { location: st.location, minChunk: 0 };
      offset = st.offset;
      ctx.log.info({ digest: desc.digest, offset }, 'resuming blob upload');
      ctx.progress?.({ phase: 'upload', item: desc.digest, current: offset, total: desc.size, unit: 'bytes', message: `resumed at ${offset}` });
    }
    memo.delete(memoKey);
  }
  if (!session) {
    const started = await repo.startUpload(opts.mountFrom ? { digest: desc.digest, from: opts.mountFrom } : undefined);
    if (started === 'mounted') return 0;
    session = started;
  }
  const chunk = Math.max(opts.chunkSize, session.minChunk);
  let moved = 0;

  if (desc.size <= chunk && offset === 0) {
    // Monolithic: one PUT carrying the whole blob; on failure start over with a new session.
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await repo.t.send(repo.s, {
          method: 'PUT', url: withQuery(session.location, `digest=${encodeURIComponent(desc.digest)}`),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
          body: () => uploadBody(content, desc.digest, 0, desc.size), scopes: repo.scopesFor(), ok: [201, 204],
          what: `upload of blob ${desc.digest} to ${repo.s.host}/${repo.name}`, retry: false,
        });
        await readText(res.body);
        report(desc.size);
        return desc.size;
      } catch (err) {
        if (signal.aborted) toCancelled(signal, err);
        if ((isVmrError(err) && err.code !== 'UNAVAILABLE') || attempt >= t.retries || !isTransient(err)) throw err;
        await sleep(backoffMs(attempt, t, err), signal);
        const again = await repo.startUpload();
        if (again === 'mounted') return 0;
        session = again;
      }
    }
  }

  let failures = 0;
  while (offset < desc.size) {
    const len = Math.min(chunk, desc.size - offset);
    try {
      const res = await repo.t.send(repo.s, {
        method: 'PATCH', url: session.location,
        headers: {
          'content-type': 'application/octet-stream', 'content-length': String(len),
          'content-range': `${offset}-${offset + len - 1}`,
        },
        body: ((start) => () => uploadBody(content, desc.digest, start, len))(offset),
        scopes: repo.scopesFor(), ok: [202, 204], what: `chunk ${offset}+${len} of blob ${desc.digest} to ${repo.s.host}/${repo.name}`,
        retry: false,
      });
      await readText(res.body);
      session.location = repo.resolve(res.header('location') ?? session.location);
      offset += len;
      moved += len;
      failures = 0;
      memo.set(memoKey, { location: session.location, offset });
      report(offset);
    } catch (err) {
      if (signal.aborted) toCancelled(signal, err);
      if ((isVmrError(err) && err.code !== 'UNAVAILABLE') || failures >= t.retries || !isTransient(err)) throw err;
      await sleep(backoffMs(failures++, t, err), signal);
      // Ask the registry how much it kept; it may hold part of the failed chunk.
      const st = await repo.uploadStatus(session.location).catch((e: unknown) => {
        if (hasCode(e, 'UNAVAILABLE')) return 'retry' as const;
        throw e;
      });
      if (st === 'retry') continue;
      if (!st) {
        ctx.log.warn({ digest: desc.digest }, 'upload session lost, starting the blob again');
        const again = await repo.startUpload();
        if (again === 'mounted') return moved;
        session = { ...again };
        offset = 0;
      } else {
        ctx.log.info({ digest: desc.digest, from: offset, to: st.offset }, 'resuming chunked upload');
        ctx.progress?.({ phase: 'upload', item: desc.digest, current: st.offset, total: desc.size, unit: 'bytes', message: `resumed at ${st.offset}` });
        session.location = st.location;
        offset = st.offset;
      }
    }
  }
  const res = await repo.t.send(repo.s, {
    method: 'PUT', url: withQuery(session.location, `digest=${encodeURIComponent(desc.digest)}`),
    headers: { 'content-length': '0' }, scopes: repo.scopesFor(), ok: [201, 204],
    what: `closing upload of blob ${desc.digest} to ${repo.s.host}/${repo.name}`,
  });
  await readText(res.body);
  memo.delete(memoKey);
  return moved;
}
