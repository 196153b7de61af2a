// A resumable, digest-verified blob write (containerd's content.Writer). The partial lives under
// the ingest dir keyed by digest, so an interrupted pull resumes where it stopped.
import { createReadStream } from 'node:fs';
import { open, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import type { IngestCommitOptions, IngestWriter } from '../ports/images.js';
import { DataLossError, FailedPreconditionError, fromSystemError } from '../errors.js';
import { streamHash, type StreamHash } from './hashWorkers.js';
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

export class FileIngestWriter implements IngestWriter {
  private done = false;
  private readonly writeback: Writeback;

  private constructor(private readonly t: IngestTarget, private fh: FileHandle, private readonly hash: StreamHash, public offset: number) {
    this.writeback = new Writeback(fh);
  }

  static async open(t: IngestTarget): Promise<FileIngestWriter> {
    let hash: StreamHash | undefined;
    try {
      let have = 0;
      try {
        have = (await stat(t.partialPath)).size;
      } catch { /* no partial */ }
      if (have > t.size) {
        await truncate(t.partialPath, 0);
        have = 0;
      }
      hash = streamHash();
      if (have > 0) {
        // Node cannot persist a hash state, so a resume re-reads what is already there.
        for await (const b of createReadStream(t.partialPath, { end: have - 1 })) await hash.update(b as Buffer);
      }
      const fh = await open(t.partialPath, have > 0 ? 'r+' : 'w');
      return new FileIngestWriter(t, fh, hash, have);
    } catch (err) {
      hash?.drop();
      t.release();
      throw fromSystemError(err, `opening ingest for ${t.digest}`);
    }
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.done) throw new FailedPreconditionError('ingest writer is closed');
    if (this.offset + chunk.length > this.t.size) {
      await this.fail();
      throw new DataLossError(`blob ${this.t.digest}: received more than the declared ${this.t.size} bytes`);
    }
    try {
      await this.fh.write(chunk, 0, chunk.length, this.offset);
    } catch (err) {
      throw fromSystemError(err, `writing blob ${this.t.digest}`);
    }
    this.offset += chunk.length;
    this.writeback.wrote(chunk.length);
    await this.hash.update(chunk);
  }

  async commit(opts: IngestCommitOptions = {}): Promise<void> {
    if (this.done) throw new FailedPreconditionError('ingest writer is closed');
    if (this.offset !== this.t.size) {
      await this.close();
      throw new DataLossError(`blob ${this.t.digest}: got ${this.offset} of ${this.t.size} bytes; resume the transfer`);
    }
    const got = await this.hash.digest();
    if (got !== this.t.digest) {
      await this.fail();
      throw new DataLossError(`blob content does not match its digest: expected ${this.t.digest}, got ${got}; the partial was discarded`);
    }
    await opts.verified?.(this.t.partialPath).catch(() => undefined);
    try {
      await this.writeback.settle();
      await this.fh.sync();
      await this.fh.close();
      this.done = true;
      await this.t.publish(this.t.partialPath);
    } catch (err) {
      throw fromSystemError(err, `committing blob ${this.t.digest}`);
    } finally {
      this.finish();
    }
  }

  async close(opts: { discard?: boolean } = {}): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.hash.drop();
    try {
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
