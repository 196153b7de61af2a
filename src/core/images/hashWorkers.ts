// sha256 of streamed bytes off the main thread (issue 17). A pull or an import hashes every byte it
// moves (compressed and uncompressed); on the event loop that hashing serialises with the I/O, so the
// other cores sit idle while zstd waits for input. Each hash owns SLOTS slots of 1 MiB in one
// SharedArrayBuffer that a worker thread of a small pool reads: bytes are copied in once, a message
// names the slot, the worker acks it. Nothing is allocated or transferred per MiB (transferred buffers
// counted as new external memory in both threads and drove a full GC every few dozen MiB), and at most
// SLOTS MiB per hash wait, so memory stays bounded.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const BATCH = 1 << 20;
const SLOTS = 4;
/** A window being read reports progress every PROGRESS bytes (a power of two). */
const PROGRESS = 64 * BATCH;
/** Files are read READ bytes at a time, and the event loop turns every PIECE bytes (powers of two). */
const READ = 128 << 10;
const PIECE = 4 << 20;
/** A compressing window hands the zstd binding OUT bytes of room (over ZSTD_CStreamOutSize(), ~128 KiB). */
const OUT = 256 << 10;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
// Files are read with synchronous 128 KiB reads on this thread: the copy out of the page cache runs here and
// the hash reads it while it is still in this core's cache. Async reads (the copy on a libuv thread, maybe
// another core) or MiB buffers made hashing a cached file half again as costly (issue 17). Every 4 MiB the loop
// gives the event loop a turn, so cancels and the other hashes on this thread go on.
const turn = () => new Promise((resolve) => setImmediate(resolve));
const hashes = new Map();
const memory = new Map();
// Windows being read, by id: a cancel for one that already finished is dropped, not kept.
const reading = new Map();
const ZERO = Buffer.alloc(${READ});
// Compression contexts of the zstd binding, idle ones by level and threads: a context holds MiBs its finalizer
// frees only at a GC, so windows reuse them (two windows read at once on this thread each take their own).
const idle = new Map();
// A window's zstd frame written to the open file outFd from its start, and the sha256 of what was written.
function compressor(c) {
  const z = require(c.native);
  const key = c.level + '/' + c.threads;
  const ctx = (idle.get(key) || []).pop() || z.create(c.level, c.threads > 1 ? c.threads : 0);
  z.reset(ctx);
  const out = Buffer.allocUnsafe(${OUT});
  const st = new Float64Array(3);
  const h = createHash('sha256');
  let size = 0;
  const emit = () => {
    if (st[1] === 0) return;
    const b = out.subarray(0, st[1]);
    h.update(b);
    writeAll(c.outFd, b, size);
    size += b.length;
  };
  return {
    add(b) {
      for (let at = 0; at < b.length; at += st[0]) {
        z.compress(ctx, at ? b.subarray(at) : b, out, false, st);
        emit();
      }
    },
    end() {
      do {
        z.compress(ctx, ZERO.subarray(0, 0), out, true, st);
        emit();
      } while (st[2] !== 0);
      return { digest: h.digest('hex'), size };
    },
    release() {
      if (!idle.has(key)) idle.set(key, []);
      idle.get(key).push(ctx);
    },
  };
}
// One window of a raw disk being imported: its sha256, whether it is all zeros, and (copyTo) its
// non-zero 128 KiB blocks written at the same offsets of the base disk, which keeps the zero runs holes.
async function readWindow(m) {
  const state = { cancelled: false };
  reading.set(m.id, state);
  try {
    return await readWindowRange(m, state);
  } finally {
    reading.delete(m.id);
  }
}
async function readWindowRange(m, state) {
  const src = fs.openSync(m.path, 'r');
  let dst;
  let zc;
  try {
    dst = m.copyTo ? fs.openSync(m.copyTo, 'r+') : undefined;
    zc = m.compress ? compressor(m.compress) : undefined;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(${READ});
    let zero = true;
    for (let pos = m.offset, end = m.offset + m.length; pos < end;) {
      const want = Math.min(buf.length, end - pos);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(src, buf, got, want - got, pos + got);
        if (n === 0) throw Object.assign(new Error(m.path + ' ends at ' + (pos + got) + ', before ' + end), { short: true });
        got += n;
      }
      const b = buf.subarray(0, want);
      h.update(b);
      zc?.add(b);
      if (!b.equals(ZERO.subarray(0, want))) {
        zero = false;
        if (dst !== undefined) writeAll(dst, b, pos);
      }
      pos += want;
      const done = pos - m.offset;
      if ((done & (${PIECE} - 1)) === 0) {
        await turn();
        if (state.cancelled) throw new Error('cancelled');
      }
      if ((done & (${PROGRESS} - 1)) === 0) parentPort.postMessage({ id: m.id, progress: ${PROGRESS} });
    }
    return { digest: h.digest('hex'), zero, blob: zc?.end() };
  } finally {
    zc?.release(); // reset when next taken: a frame cut short by a failure is dropped there
    fs.closeSync(src);
    if (dst !== undefined) fs.closeSync(dst);
  }
}
function writeAll(fd, b, pos) {
  for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off, b.length - off, pos + off);
}
async function hashFile(m) {
  const fd = fs.openSync(m.path, 'r');
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(${READ});
    for (let pos = m.offset, left = m.length; left > 0;) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), pos);
      if (n === 0) throw new Error(m.path + ' ends ' + left + ' bytes short of ' + (m.offset + m.length));
      h.update(buf.subarray(0, n));
      pos += n;
      left -= n;
      if (((pos - m.offset) & (${PIECE} - 1)) === 0) await turn();
    }
    return h.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    memory.set(m.id, m.sab);
    hashes.set(m.id, createHash('sha256'));
  } else if (m.op === 'update') {
    hashes.get(m.id).update(new Uint8Array(memory.get(m.id), m.slot * ${BATCH}, m.n));
    parentPort.postMessage({ id: m.id, slot: m.slot });
  } else if (m.op === 'digest') {
    const h = hashes.get(m.id) || createHash('sha256');
    hashes.delete(m.id);
    memory.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: h.digest('hex') });
  } else if (m.op === 'window') {
    readWindow(m).then((r) => parentPort.postMessage({ id: m.id, digest: r.digest, zero: r.zero, blob: r.blob }), (e) => parentPort.postMessage({ id: m.id, error: String(e && e.message || e), short: !!(e && e.short), code: e && e.code }));
  } else if (m.op === 'cancel') {
    const state = reading.get(m.id);
    if (state) state.cancelled = true;
  } else if (m.op === 'file') {
    hashFile(m).then((hex) => parentPort.postMessage({ id: m.id, digest: hex }), (e) => parentPort.postMessage({ id: m.id, error: String(e && e.message || e) }));
  } else {
    hashes.delete(m.id);
    memory.delete(m.id);
  }
});`.replaceAll('${BATCH}', String(BATCH)).replaceAll('${OUT}', String(OUT)).replaceAll('${PROGRESS}', String(PROGRESS)).replaceAll('${READ}', String(READ)).replaceAll('${PIECE}', String(PIECE));

/** A running sha256: update() resolves at once unless too many bytes wait for the worker. */
export interface StreamHash {
  update(chunk: Buffer): Promise<void> | undefined;
  /** `sha256:<hex>` of everything given to update(). */
  digest(): Promise<string>;
  /** Forget the state (an abandoned transfer); no digest follows. */
  drop(): void;
}

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
  private readonly slots: Buffer[];
  private readonly free: number[];
  private cur = -1;
  private used = 0;
  private error?: Error;
  private waiting?: () => void;
  private result?: { resolve: (d: string) => void; reject: (e: Error) => void };

  constructor(private readonly w: HashWorker) {
    const sab = new SharedArrayBuffer(SLOTS * BATCH);
    this.slots = Array.from({ length: SLOTS }, (_, i) => Buffer.from(sab, i * BATCH, BATCH));
    this.free = this.slots.map((_, i) => SLOTS - 1 - i);
    w.add(this.id, {
      acked: (slot) => {
        this.free.push(slot);
        this.wake();
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
    w.worker.postMessage({ op: 'open', id: this.id, sab });
  }

  /** Copies `chunk` into the slots; waits only when all of them are still with the worker. */
  update(chunk: Buffer): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    let off = 0;
    while (off < chunk.length) {
      if (this.cur < 0) {
        const slot = this.free.pop();
        if (slot === undefined) {
          const rest = chunk.subarray(off);
          return new Promise<void>((resolve) => { this.waiting = resolve; }).then(() => this.update(rest));
        }
        this.cur = slot;
        this.used = 0;
      }
      const n = chunk.copy(this.slots[this.cur]!, this.used, off);
      this.used += n;
      off += n;
      if (this.used === BATCH) this.flush();
    }
    return undefined;
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

/** A sha256 on a worker thread when there is a second core to run it; inline otherwise. */
export function streamHash(): StreamHash {
  if (availableParallelism() < 2) return new InlineHash();
  try {
    return new WorkerHash(pickWorker());
  } catch {
    return new InlineHash();
  }
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
 * `compress`, the window becomes one zstd frame in `compress.outFd`, hashed as it is written (`blob`). A file that
 * ends early rejects with an error whose `short` is true.
 */
export function readWindow(file: string, offset: number, length: number, o: { copyTo?: string; compress?: WindowCompression; signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<WindowRead> {
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
    w.worker.postMessage({ op: 'window', id, path: file, offset, length, copyTo: o.copyTo, compress: o.compress });
  }).finally(() => o.signal?.removeEventListener('abort', cancel));
}
