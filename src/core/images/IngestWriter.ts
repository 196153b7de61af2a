// A resumable, digest-verified blob write (containerd's content.Writer). The partial lives under
// the ingest dir keyed by digest, so an interrupted pull resumes where it stopped.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import type { BlobSink, IngestCommitOptions, IngestWriter } from '../ports/images.js';
import { DataLossError, FailedPreconditionError, fromSystemError } from '../errors.js';
import { ingestStream, type HandoffSink, type InflateHandoff, type IngestStream } from './hashWorkers.js';
import { Writeback } from './writeback.js';

export interface IngestTarget {
  digest: string;
  size: number;
  partialPath: string;
  /** Moves the verified, fsynced partial into the blob store. */
  publish(partialPath: string): Promise<void>;
  /** Called exactly once when the writer is done (commit or close). */
  release(): void;
}

/** Writer for a blob that is already present: nothing to write. */
export class PresentWriter implements IngestWriter {
  constructor(readonly offset: number, private readonly release: () => void = () => {}) {}
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length > 0) throw new FailedPreconditionError('blob is already complete; nothing more may be written');
  }
  async commit(): Promise<void> { this.release(); }
  async close(): Promise<void> { this.release(); }
}

/**
 * How the bytes reach the partial and its hash: with a second core, a worker thread writes and hashes them (and
 * decompresses them for a sink that hands that over: one copy on this thread in all); else this thread does.
 */
type Path =
  | { kind: 'worker'; stream: IngestStream; handoff?: InflateHandoff; ended?: Promise<string> }
  | { kind: 'inline'; hash: Hash };

export class FileIngestWriter implements IngestWriter {
  private done = false;
  private readonly writeback: Writeback;

  private constructor(private readonly t: IngestTarget, private readonly fh: FileHandle, private readonly path: Path,
    public offset: number, private readonly sink?: BlobSink) {
    this.writeback = new Writeback(fh);
  }

  static async open(t: IngestTarget, sink?: BlobSink): Promise<FileIngestWriter> {
    let fh: FileHandle | undefined;
    let path: Path | undefined;
    try {
      let have = 0;
      try {
        have = (await stat(t.partialPath)).size;
      } catch { /* no partial */ }
      if (have > t.size) {
        await truncate(t.partialPath, 0);
        have = 0;
      }
      if (have > 0 && sink) {
        sink.abort(); // it would miss the start: the caller builds from the stored blob
        sink = undefined;
      }
      fh = await open(t.partialPath, have > 0 ? 'r+' : 'w');
      const handoff = (sink as HandoffSink | undefined)?.handoff?.();
      let stream: IngestStream | undefined;
      try {
        stream = ingestStream({ file: t.partialPath, at: have, inflate: handoff?.target });
      } catch (err) {
        handoff?.settle({ error: err as Error });
        throw err;
      }
      if (stream) {
        path = { kind: 'worker', stream, handoff };
      } else {
        handoff?.settle(undefined); // not taken: the sink gets the bytes through write()
        const hash = createHash('sha256');
        path = { kind: 'inline', hash };
        // Node cannot persist a hash state, so a resume re-reads what is already there.
        if (have > 0) for await (const b of createReadStream(t.partialPath, { end: have - 1 })) hash.update(b as Buffer);
      }
      return new FileIngestWriter(t, fh, path, have, sink);
    } catch (err) {
      if (path?.kind === 'worker') await endStream(path).catch(() => undefined);
      await fh?.close().catch(() => undefined);
      t.release();
      throw fromSystemError(err, `opening ingest for ${t.digest}`);
    }
  }

  write(chunk: Buffer): Promise<void> {
    return this.writeNow(chunk) ?? Promise.resolve();
  }

  writeNow(chunk: Buffer): Promise<void> | undefined {
    if (this.done) return Promise.reject(new FailedPreconditionError('ingest writer is closed'));
    if (this.offset + chunk.length > this.t.size) {
      return this.fail().then(() => {
        throw new DataLossError(`blob ${this.t.digest}: received more than the declared ${this.t.size} bytes`);
      });
    }
    const at = this.offset;
    this.offset += chunk.length;
    this.writeback.wrote(chunk.length);
    const failed = (err: unknown): never => { throw fromSystemError(err, `writing blob ${this.t.digest}`); };
    // Everything below starts before the first await, so calls made one after another keep their order.
    // A sink whose decompression the worker took over has the bytes already.
    const sunk = this.path.kind === 'worker' && this.path.handoff ? undefined : this.sink?.write(chunk);
    if (this.path.kind === 'worker') {
      const copied = this.path.stream.update(chunk)?.catch(failed);
      return sunk ? Promise.all([copied, sunk]).then(() => undefined) : copied;
    }
    this.path.hash.update(chunk);
    return Promise.all([this.fh.write(chunk, 0, chunk.length, at).catch(failed), sunk]).then(() => undefined);
  }

  async commit(opts: IngestCommitOptions = {}): Promise<void> {
    if (this.done) throw new FailedPreconditionError('ingest writer is closed');
    if (this.offset !== this.t.size) {
      await this.close();
      throw new DataLossError(`blob ${this.t.digest}: got ${this.offset} of ${this.t.size} bytes; resume the transfer`);
    }
    let got: string;
    try {
      got = this.path.kind === 'worker' ? await endStream(this.path) : 'sha256:' + this.path.hash.digest('hex');
    } catch (err) {
      await this.close();
      throw fromSystemError(err, `writing blob ${this.t.digest}`);
    }
    if (got !== this.t.digest) {
      await this.fail();
      throw new DataLossError(`blob content does not match its digest: expected ${this.t.digest}, got ${got}; the partial was discarded`);
    }
    await opts.verified?.(this.t.partialPath).catch(() => undefined);
    await this.sink?.verified?.(this.t.partialPath).catch(() => undefined);
    try {
      await this.writeback.settle();
      await this.fh.sync();
      await this.fh.close();
      this.done = true;
      await this.t.publish(this.t.partialPath);
    } catch (err) {
      this.sink?.abort();
      throw fromSystemError(err, `committing blob ${this.t.digest}`);
    } finally {
      this.finish();
    }
    await this.sink?.end();
  }

  async close(opts: { discard?: boolean } = {}): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.sink?.abort();
    try {
      // The worker writes nothing more once its stream ended: only then may another writer take the partial.
      if (this.path.kind === 'worker') await endStream(this.path).catch(() => undefined);
      await this.writeback.settle();
      await this.fh.close();
      if (opts.discard) await rm(this.t.partialPath, { force: true });
    } finally {
      this.finish();
    }
  }

  private async fail(): Promise<void> {
    await this.close({ discard: true });
  }

  private released = false;
  private finish(): void {
    if (!this.released) {
      this.released = true;
      this.t.release();
    }
  }
}

/**
 * Ends the worker's stream once (all bytes are then written) and tells a sink that handed over its decompression
 * how it went.
 */
function endStream(p: Extract<Path, { kind: 'worker' }>): Promise<string> {
  p.ended ??= settleStream(p);
  return p.ended;
}

async function settleStream(p: Extract<Path, { kind: 'worker' }>): Promise<string> {
  try {
    const r = await p.stream.end();
    p.handoff?.settle(r.inflate);
    return r.digest;
  } catch (err) {
    p.handoff?.settle({ error: err as Error });
    throw err;
  }
}
