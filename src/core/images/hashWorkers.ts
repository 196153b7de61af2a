// sha256 of streamed bytes off the main thread (issue 17). A pull or an import hashes every byte it
// moves (compressed and uncompressed); on the event loop that hashing serialises with the I/O, so the
// other cores sit idle while zstd waits for input. Bytes are batched into 1 MiB transfers to a small pool
// of worker threads; at most IN_FLIGHT bytes per hash wait there, so memory stays bounded.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const BATCH = 1 << 20;
const IN_FLIGHT = 4 * BATCH;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let h = hashes.get(m.id);
    if (!h) hashes.set(m.id, (h = createHash('sha256')));
    h.update(m.buf);
    // The buffer goes back for reuse: freed memory would otherwise wait for this thread's GC.
    parentPort.postMessage({ id: m.id, n: m.buf.byteLength, buf: m.buf }, m.buf.byteOffset === 0 && m.buf.byteLength === m.buf.buffer.byteLength ? [m.buf.buffer] : []);
  } else if (m.op === 'digest') {
    const h = hashes.get(m.id) || createHash('sha256');
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: h.digest('hex') });
  } else {
    hashes.delete(m.id);
  }
});`;

/** A running sha256: update() resolves at once unless too many bytes wait for the worker. */
export interface StreamHash {
  update(chunk: Buffer): Promise<void> | undefined;
  /** `sha256:<hex>` of everything given to update(). */
  digest(): Promise<string>;
  /** Forget the state (an abandoned transfer); no digest follows. */
  drop(): void;
}

interface Listener {
  acked(n: number, buf?: Uint8Array): void;
  digested(hex: string): void;
  failed(err: Error): void;
}

class HashWorker {
  readonly worker: Worker;
  readonly listeners = new Map<number, Listener>();

  constructor(onGone: (w: HashWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.on('message', (m: { id: number; n?: number; digest?: string; buf?: Uint8Array }) => {
      const l = this.listeners.get(m.id);
      if (!l) return;
      if (m.digest !== undefined) l.digested(m.digest);
      else l.acked(m.n ?? 0, m.buf);
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

class InlineHash implements StreamHash {
  private readonly h = createHash('sha256');
  update(chunk: Buffer): undefined {
    this.h.update(chunk);
    return undefined;
  }
  digest(): Promise<string> {
    return Promise.resolve('sha256:' + this.h.digest('hex'));
  }
  drop(): void {}
}

class WorkerHash implements StreamHash {
  private readonly id = nextId++;
  private staged: Buffer = Buffer.allocUnsafeSlow(BATCH);
  private readonly spare: Buffer[] = [];
  private used = 0;
  private inFlight = 0;
  private error?: Error;
  private waiting?: () => void;
  private result?: { resolve: (d: string) => void; reject: (e: Error) => void };

  constructor(private readonly w: HashWorker) {
    w.add(this.id, {
      acked: (n, buf) => {
        this.inFlight -= n;
        if (buf && buf.byteLength === BATCH && this.spare.length < 6) this.spare.push(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
        if (this.inFlight <= IN_FLIGHT) this.wake();
      },
      digested: (hex) => {
        w.remove(this.id);
        this.result?.resolve('sha256:' + hex);
      },
      failed: (err) => {
        this.error = err;
        this.wake();
        this.result?.reject(err);
      },
    });
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    let off = 0;
    while (off < chunk.length) {
      const n = chunk.copy(this.staged, this.used, off);
      this.used += n;
      off += n;
      if (this.used === BATCH) this.flush();
    }
    if (this.inFlight <= IN_FLIGHT) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.waiting = () => (this.error ? reject(this.error) : resolve());
    });
  }

  digest(): Promise<string> {
    if (this.error) return Promise.reject(this.error);
    this.flush();
    return new Promise<string>((resolve, reject) => {
      this.result = { resolve, reject };
      this.w.worker.postMessage({ op: 'digest', id: this.id });
    });
  }

  drop(): void {
    this.w.remove(this.id);
    if (!this.error) this.w.worker.postMessage({ op: 'drop', id: this.id });
  }

  private flush(): void {
    if (this.used === 0) return;
    const buf = this.used === BATCH ? this.staged : Buffer.from(this.staged.subarray(0, this.used));
    const view = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    this.inFlight += buf.length;
    this.w.worker.postMessage({ op: 'update', id: this.id, buf: view }, buf.byteOffset === 0 && buf.length === buf.buffer.byteLength ? [buf.buffer as ArrayBuffer] : []);
    if (this.used === BATCH) this.staged = this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH);
    this.used = 0;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }
}

/** A sha256 on a worker thread when there is a second core to run it; inline otherwise. */
export function streamHash(): StreamHash {
  if (availableParallelism() < 2) return new InlineHash();
  try {
    return new WorkerHash(pickWorker());
  } catch {
    return new InlineHash();
  }
}
