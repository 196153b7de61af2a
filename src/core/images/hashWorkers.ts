// The work of imports and pulls on worker threads, off the main thread (issue 17): a pulled blob is written to its
// partial, hashed and (a base disk's window) decompressed as it downloads; an imported window is read, hashed, copied
// and compressed; a file is hashed. On the event loop that work serialises with the I/O and the other cores sit
// idle. A stream owns SLOTS slots of 1 MiB in one SharedArrayBuffer that a worker thread of a small pool reads:
// bytes are copied in once, a message names the slot, the worker acks it. Nothing is allocated or transferred per
// MiB (transferred buffers counted as new external memory in both threads and drove a full GC every few dozen MiB),
// and at most SLOTS MiB per stream wait, so memory stays bounded.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

import type { BlobSink } from '../ports/images.js';
import { BATCH, SLOTS, WORKER_SOURCE } from './hashWorkerSource.js';
import { copyIntoShared } from './sharedCopy.js';

interface WorkerMessage {
  id: number;
  slot?: number;
  digest?: string;
  error?: string;
  code?: string;
  zero?: boolean;
  blob?: { digest: string; size: number };
  short?: boolean;
  progress?: number;
  /** A stream's end with an inflate: bytes written and the last frame complete, or what went wrong. */
  bytes?: number;
  ended?: boolean;
  inflateError?: string;
}

interface Listener {
  acked(slot: number): void;
  progress?(n: number): void;
  digested(hex: string, m: WorkerMessage): void;
  failed(err: Error): void;
}

class HashWorker {
  readonly worker: Worker;
  readonly listeners = new Map<number, Listener>();

  constructor(onGone: (w: HashWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.on('message', (m: WorkerMessage) => {
      const l = this.listeners.get(m.id);
      if (!l) return;
      if (m.progress !== undefined) l.progress?.(m.progress);
      // The errno travels with the message: a full disk while writing a blob is RESOURCE_EXHAUSTED.
      else if (m.error !== undefined) l.failed(Object.assign(new Error(m.error), m.short ? { short: true } : {}, m.code ? { code: m.code } : {}));
      else if (m.digest !== undefined) l.digested(m.digest, m);
      else l.acked(m.slot ?? 0);
    });
    const gone = (err: Error) => {
      onGone(this);
      for (const l of this.listeners.values()) l.failed(err);
      this.listeners.clear();
      this.worker.unref();
    };
    this.worker.on('error', gone);
    this.worker.on('exit', (code) => gone(new Error(`hash worker exited with ${code}`)));
    this.worker.unref(); // after the listeners (they ref it again): an idle pool never keeps the process alive
  }

  /** Referenced while a hash is open: a caller awaiting a digest keeps the process alive. */
  add(id: number, l: Listener): void {
    this.listeners.set(id, l);
    if (this.listeners.size === 1) this.worker.ref();
  }

  remove(id: number): void {
    if (this.listeners.delete(id) && this.listeners.size === 0) this.worker.unref();
  }
}

let pool: HashWorker[] = [];
let nextId = 1;
let turn = 0;

function pickWorker(): HashWorker {
  const size = Math.max(1, availableParallelism());
  if (pool.length < size) {
    const w = new HashWorker((gone) => { pool = pool.filter((x) => x !== gone); });
    pool.push(w);
    return w;
  }
  return pool[turn++ % pool.length]!;
}

/**
 * Bytes handed to a worker through SLOTS 1 MiB slots of one SharedArrayBuffer: update() copies into a free slot, a
 * message names it, the worker acks it once done with it. A blob being ingested and a window being decompressed are
 * such streams.
 */
abstract class SlotStream {
  private readonly id = nextId++;
  private readonly slots: Buffer[];
  private readonly free: number[];
  private cur = -1;
  private used = 0;
  protected error?: Error;
  private waiting?: () => void;
  private result?: { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void };

  constructor(private readonly w: HashWorker, open: Record<string, unknown>) {
    const sab = new SharedArrayBuffer(SLOTS * BATCH);
    this.slots = Array.from({ length: SLOTS }, (_, i) => Buffer.from(sab, i * BATCH, BATCH));
    this.free = this.slots.map((_, i) => SLOTS - 1 - i);
    w.add(this.id, {
      acked: (slot) => {
        this.free.push(slot);
        this.wake();
      },
      digested: (_hex, m) => {
        w.remove(this.id);
        this.result?.resolve(m);
      },
      failed: (err) => {
        this.error = err;
        this.wake();
        this.result?.reject(err);
      },
    });
    w.worker.postMessage({ ...open, id: this.id, sab });
  }

  /** A copy still waiting for a free slot: later calls queue behind it, so bytes stay in order and no waiter is lost. */
  private backlog?: Promise<void>;

  /**
   * Copies `chunk` into the slots; waits only when all of them are still with the worker. Undefined when it was
   * copied at once (the caller may reuse it); calls made before the last one resolved queue in order.
   */
  update(chunk: Buffer): Promise<void> | undefined {
    const p = this.backlog ? this.backlog.then(() => this.put(chunk)) : this.put(chunk);
    if (!p) return undefined;
    this.backlog = p;
    const clear = () => { if (this.backlog === p) this.backlog = undefined; };
    p.then(clear, clear);
    return p;
  }

  private put(chunk: Buffer): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    let off = 0;
    while (off < chunk.length) {
      if (this.cur < 0) {
        const slot = this.free.pop();
        if (slot === undefined) {
          const rest = chunk.subarray(off);
          return new Promise<void>((resolve) => { this.waiting = resolve; }).then(() => this.put(rest));
        }
        this.cur = slot;
        this.used = 0;
      }
      const n = copyIntoShared(this.slots[this.cur]!, this.used, off ? chunk.subarray(off) : chunk);
      this.used += n;
      off += n;
      if (this.used === BATCH) this.flush();
    }
    return undefined;
  }

  /** Stops it: the worker forgets it at once, a copy waiting for a slot rejects. */
  drop(): void {
    this.w.remove(this.id);
    if (!this.error) this.w.worker.postMessage({ op: 'drop', id: this.id });
    this.error ??= new Error('the stream was dropped');
    this.wake();
  }

  /** Sends what is left, then ends the stream; resolves with the worker's answer (the worker is done with it). */
  protected finish(): Promise<WorkerMessage> {
    const send = (): Promise<WorkerMessage> => {
      if (this.error) return Promise.reject(this.error);
      this.flush();
      return new Promise<WorkerMessage>((resolve, reject) => {
        this.result = {
          resolve,
          reject: (err) => {
            this.w.remove(this.id); // the worker has forgotten it, and nobody waits for it any more
            reject(err);
          },
        };
        this.w.worker.postMessage({ op: 'end', id: this.id });
      });
    };
    // Bytes still waiting for a slot go first.
    return this.backlog ? this.backlog.then(send, send) : send();
  }

  private flush(): void {
    if (this.cur < 0 || this.used === 0) return;
    this.w.worker.postMessage({ op: 'update', id: this.id, slot: this.cur, n: this.used });
    this.cur = -1;
    this.used = 0;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }
}

/** A zstd frame decompressed on a worker as it arrives (inflateStream()). */
export interface StreamInflate {
  /** Resolves once `chunk` was copied (the caller may reuse it); never rejects: a failure shows in end(). */
  update(chunk: Buffer): Promise<void>;
  /**
   * What was written, and whether the last frame ended; rejects with what went wrong. Also the way to stop one:
   * once it settled, the worker writes nothing more to the file.
   */
  end(): Promise<InflateResult>;
}

export interface InflateResult {
  bytes: number;
  ended: boolean;
}

const inflateResult = (m: WorkerMessage): InflateResult => {
  if (m.inflateError !== undefined) throw new Error(m.inflateError);
  return { bytes: m.bytes ?? 0, ended: m.ended === true };
};

class WorkerInflate extends SlotStream implements StreamInflate {
  constructor(w: HashWorker, o: InflateTarget) {
    super(w, { op: 'open', inflate: o });
  }

  /** After a failure the bytes are dropped: end() reports it. */
  override update(chunk: Buffer): Promise<void> {
    return super.update(chunk)?.catch(() => undefined) ?? Promise.resolve();
  }

  async end(): Promise<InflateResult> {
    return inflateResult(await this.finish());
  }
}

/** A blob written to its partial file, hashed, and maybe decompressed into a base disk, on a worker (ingestStream()). */
export interface IngestStream {
  /** As SlotStream.update(); rejects once the worker could not write the file (its errno in `code`). */
  update(chunk: Buffer): Promise<void> | undefined;
  /**
   * Everything handed over is in the file: the sha256 of the whole file (what it held before included) and, with
   * `inflate`, what came of the decompression (a failure there is `inflate.error`, not a rejection).
   */
  end(): Promise<IngestResult>;
  /** Stops it; the worker closes the file without waiting for anything. */
  drop(): void;
}

export interface IngestResult {
  digest: string;
  inflate?: InflateResult | { error: Error };
}

class WorkerIngest extends SlotStream implements IngestStream {
  constructor(w: HashWorker, private readonly o: IngestTarget) {
    super(w, { op: 'open', hash: true, file: o.file, at: o.at, inflate: o.inflate });
  }

  async end(): Promise<IngestResult> {
    const m = await this.finish();
    const digest = 'sha256:' + m.digest!;
    if (!this.o.inflate) return { digest };
    try {
      return { digest, inflate: inflateResult(m) };
    } catch (err) {
      return { digest, inflate: { error: err as Error } };
    }
  }
}

export interface IngestTarget {
  /** The partial file, written from `at`; its first `at` bytes are hashed first (a resumed download). */
  file: string;
  at: number;
  /** The same bytes decompressed into a base disk's windows. */
  inflate?: InflateTarget;
}

/**
 * A blob's bytes written, hashed (and maybe decompressed) on a worker thread, one copy into shared memory on the
 * caller's thread; undefined when there is no second core to run it (the caller writes and hashes itself).
 */
export function ingestStream(o: IngestTarget): IngestStream | undefined {
  if (availableParallelism() < 2) return undefined;
  return new WorkerIngest(pickWorker(), o);
}

/**
 * A sink (BlobSink) of the core's own may hand its decompression over to the writer of the blob, whose worker then
 * writes, hashes and decompresses each piece (IngestWriter.ts). `settle` is called once: with the outcome when that
 * stream ended, or with undefined when the writer did not take it (the sink then gets the bytes through write()).
 */
export interface InflateHandoff {
  target: InflateTarget;
  settle(r: InflateResult | { error: Error } | undefined): void;
}

export interface HandoffSink extends BlobSink {
  /** The target to decompress into, or undefined to be given the bytes through write() as any sink. */
  handoff?(): InflateHandoff | undefined;
}

export interface InflateTarget {
  /** The zstd binding (nativeZstd.ts). */
  native: string;
  /** The file written, at each of `offsets`: the same frame fills each (windows with the same content). */
  file: string;
  offsets: number[];
  /** Bytes the frame must decompress to; more is an error at once. */
  size: number;
}

/**
 * A window of a pull decompressed from its blob as it downloads, on a worker thread. Only for a file that is new
 * (its zero blocks are not written: holes) and not yet visible: the bytes are not verified until the blob is.
 */
export function inflateStream(o: InflateTarget): StreamInflate {
  return new WorkerInflate(pickWorker(), o);
}

/** `sha256:<hex>` of `length` bytes of `file` from `offset`, read and hashed on a worker thread. */
export function hashFileRange(file: string, offset: number, length: number): Promise<string> {
  const inline = async () => {
    const fh = await open(file, 'r');
    try {
      const h = createHash('sha256');
      let n = 0;
      for await (const b of fh.createReadStream({ start: offset, end: offset + length - 1, highWaterMark: 4 << 20 })) {
        h.update(b as Buffer);
        n += (b as Buffer).length;
      }
      if (n !== length) throw new Error(`${file} ends ${length - n} bytes short of ${offset + length}`);
      return 'sha256:' + h.digest('hex');
    } finally {
      await fh.close();
    }
  };
  if (length === 0) return Promise.resolve('sha256:' + createHash('sha256').digest('hex'));
  if (availableParallelism() < 2) return inline();
  const w = pickWorker();
  const id = nextId++;
  return new Promise<string>((resolve, reject) => {
    w.add(id, {
      acked: () => {},
      digested: (hex) => { w.remove(id); resolve('sha256:' + hex); },
      failed: (err) => { w.remove(id); reject(err); },
    });
    w.worker.postMessage({ op: 'file', id, path: file, offset, length });
  });
}

export interface WindowRead {
  /** `sha256:<hex>` of the window. */
  digest: string;
  /** Every byte was zero. */
  zero: boolean;
  /** With `compress`: what was written to its file, `sha256:<hex>` and bytes. */
  blob?: { digest: string; size: number };
}

/** A window compressed as it is read, by the zstd binding (nativeZstd.ts) on the worker. */
export interface WindowCompression {
  /** The binding's path. */
  native: string;
  level: number;
  /** zstd's own threads inside the frame (a disk of fewer windows than cores); 1: none. */
  threads: number;
  /** An open file the frame is written to from its start. */
  outFd: number;
}

/**
 * Reads `length` bytes of `file` from `offset` on a worker thread: their sha256 and whether they are all
 * zeros; with `copyTo`, the non-zero 128 KiB blocks are written at the same offsets of that file; with
 * `compress`, the window becomes one zstd frame in `compress.outFd`, hashed as it is written (`blob`). With `holes`
 * (holes.ts), a hole of the file is not read: a window that is one is all zeros at once. A file that ends early rejects
 * with an error whose `short` is true (one that ends in a hole of the window may not: callers compare its size).
 */
export function readWindow(file: string, offset: number, length: number, o: { copyTo?: string; compress?: WindowCompression; holes?: string; signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<WindowRead> {
  const w = pickWorker();
  const id = nextId++;
  let reported = 0;
  const cancel = () => w.worker.postMessage({ op: 'cancel', id });
  o.signal?.addEventListener('abort', cancel, { once: true });
  return new Promise<WindowRead>((resolve, reject) => {
    w.add(id, {
      acked: () => {},
      progress: (n) => { reported += n; o.onBytes?.(n); },
      digested: (hex, m) => {
        w.remove(id);
        if (length > reported) o.onBytes?.(length - reported);
        resolve({ digest: 'sha256:' + hex, zero: m.zero === true, ...(m.blob ? { blob: { digest: 'sha256:' + m.blob.digest, size: m.blob.size } } : {}) });
      },
      failed: (err) => { w.remove(id); reject(err); },
    });
    w.worker.postMessage({ op: 'window', id, path: file, offset, length, copyTo: o.copyTo, compress: o.compress, holes: o.holes });
  }).finally(() => o.signal?.removeEventListener('abort', cancel));
}
