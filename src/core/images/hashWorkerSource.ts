// The hash workers' own code (hashWorkers.ts starts it with `eval`, so there is no worker file to find beside the
// compiled module); the constants are spliced in as literals.
export const BATCH = 1 << 20;
export const SLOTS = 4;
/** A window being read reports progress every PROGRESS bytes (a power of two). */
const PROGRESS = 64 * BATCH;
/** Files are read READ bytes at a time, and the event loop turns every PIECE bytes (powers of two). */
const READ = 128 << 10;
const PIECE = 4 << 20;
/** A compressing window hands the zstd binding OUT bytes of room (over ZSTD_CStreamOutSize(), ~128 KiB). */
const OUT = 256 << 10;

export const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
// Files are read with synchronous 128 KiB reads on this thread: the copy out of the page cache runs here and
// the hash reads it while it is still in this core's cache. Async reads (the copy on a libuv thread, maybe
// another core) or MiB buffers made hashing a cached file half again as costly (issue 17). Every 4 MiB the loop
// gives the event loop a turn, so cancels and the other hashes on this thread go on.
const turn = () => new Promise((resolve) => setImmediate(resolve));
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
// Streams by id: bytes handed over in shared-memory slots are written to a file at their position (a blob being
// downloaded into its partial), hashed, and/or decompressed into a base disk (a pull's window): one copy into
// shared memory on the main thread, everything else here.
const streams = new Map();
// A window decompressed while its blob downloads: the frame's output is written at each window's offset of the base
// disk being built, 128 KiB at a time, all-zero blocks skipped (the new file's holes are zeros).
const idleD = [];
function inflateOpen(m) {
  const z = require(m.native);
  const d = idleD.pop() || z.dcreate();
  z.dreset(d);
  const fd = fs.openSync(m.file, 'r+');
  return { z, d, fd, offsets: m.offsets, size: m.size, pos: 0, out: Buffer.allocUnsafe(${READ}), fill: 0, ended: false, st: new Float64Array(3), error: undefined };
}
function inflateUpdate(s, input) {
  if (s.error) return;
  try {
    for (let at = 0; at < input.length;) {
      s.z.decompress(s.d, at ? input.subarray(at) : input, s.out.subarray(s.fill), s.st);
      at += s.st[0];
      s.fill += s.st[1];
      s.ended = s.st[2] === 0;
      if (s.fill === s.out.length) inflateFlush(s);
      else if (s.st[0] === 0 && s.st[1] === 0 && !s.ended) throw new Error('zstd took no input and wrote nothing');
    }
  } catch (e) {
    s.error = e; // the download goes on; the window is redone from the stored blob, which reports what is wrong
  }
}
function inflateFlush(s) {
  if (s.fill === 0) return;
  if (s.pos + s.fill > s.size) throw new Error('the window decompresses to more than ' + s.size + ' bytes');
  const b = s.out.subarray(0, s.fill);
  if (!b.equals(ZERO.subarray(0, b.length))) for (const off of s.offsets) writeAll(s.fd, b, off + s.pos);
  s.pos += s.fill;
  s.fill = 0;
}
function inflateEnd(s) {
  if (!s.error) {
    try {
      inflateFlush(s);
    } catch (e) {
      s.error = e;
    }
  }
  if (s.error) return { inflateError: String(s.error.message || s.error) };
  return { bytes: s.pos, ended: s.ended };
}
function streamOpen(m) {
  const s = { h: m.hash ? createHash('sha256') : undefined, fd: undefined, pos: m.at || 0, inflate: undefined };
  streams.set(m.id, s);
  memory.set(m.id, m.sab);
  if (m.file) {
    s.fd = fs.openSync(m.file, 'r+');
    // A resumed download: what the partial already holds is hashed first (Node cannot persist a hash's state).
    if (s.h && s.pos > 0) hashRange(s.h, s.fd, 0, s.pos, m.file);
  }
  if (m.inflate) {
    try {
      s.inflate = inflateOpen(m.inflate);
    } catch (e) {
      s.inflate = { error: e }; // the blob is still written and hashed; end() reports this
    }
  }
}
function streamUpdate(id, b) {
  const s = streams.get(id);
  if (!s) return;
  if (s.fd !== undefined) {
    writeAll(s.fd, b, s.pos); // throws: the stream fails (a full disk), nothing more is written
    s.pos += b.length;
  }
  s.h?.update(b);
  if (s.inflate) inflateUpdate(s.inflate, b);
}
function streamEnd(id) {
  const s = streams.get(id);
  if (!s) return { error: 'no such stream' };
  const r = { digest: s.h ? s.h.digest('hex') : '', ...(s.inflate ? inflateEnd(s.inflate) : {}) };
  streamClose(id);
  return r;
}
function streamClose(id) {
  const s = streams.get(id);
  memory.delete(id);
  if (!s) return;
  streams.delete(id);
  if (s.fd !== undefined) fs.closeSync(s.fd);
  if (s.inflate?.d) {
    fs.closeSync(s.inflate.fd);
    idleD.push(s.inflate.d); // reset when next taken
  }
}
// One window of a raw disk being imported: its sha256, whether it is all zeros, and (copyTo) its
// non-zero 128 KiB blocks written at the same offsets of the base disk, which keeps the zero runs holes.
// Leading zero blocks are hashed and compressed only once a block with data follows: an all-zero window (a
// disk's free space, most of a cloud image) is omitted from the image, and its sha256 is that of N zeros, known
// from the first such window of that size on (zeroDigests).
const zeroDigests = new Map();
function zeroDigest(length) {
  let hex = zeroDigests.get(length);
  if (hex === undefined) {
    const h = createHash('sha256');
    for (let left = length; left > 0; left -= ZERO.length) h.update(ZERO.subarray(0, Math.min(ZERO.length, left)));
    hex = h.digest('hex');
    zeroDigests.set(length, hex);
  }
  return hex;
}
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
    const end = m.offset + m.length;
    let from = m.offset;
    if (m.holes) {
      // Where the file's data starts (SEEK_DATA): a window that is a hole is not read at all, and the hole before
      // the first data is skipped in whole pieces (they are zeros, fed below if data follows).
      const at = require(m.holes).dataAt(src, m.offset);
      if (at < 0 || at >= end) return { digest: zeroDigest(m.length), zero: true };
      from = m.offset + Math.floor((at - m.offset) / ${READ}) * ${READ};
    }
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(${READ});
    let zero = true;
    for (let pos = from; pos < end;) {
      const want = Math.min(buf.length, end - pos);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(src, buf, got, want - got, pos + got);
        if (n === 0) throw Object.assign(new Error(m.path + ' ends at ' + (pos + got) + ', before ' + end), { short: true });
        got += n;
      }
      const b = buf.subarray(0, want);
      const blank = b.equals(ZERO.subarray(0, want));
      if (zero && !blank) {
        zero = false;
        // The zero blocks before this one, in the same ${READ}-byte pieces they were read in (a window never ends
        // before its last piece, so every piece before this one was whole).
        for (let at = m.offset; at < pos; at += ${READ}) {
          h.update(ZERO);
          zc?.add(ZERO);
        }
      }
      if (!zero) {
        h.update(b);
        zc?.add(b);
        if (!blank && dst !== undefined) writeAll(dst, b, pos);
      }
      pos += want;
      const done = pos - m.offset;
      if ((done & (${PIECE} - 1)) === 0) {
        await turn();
        if (state.cancelled) throw new Error('cancelled');
      }
      if ((done & (${PROGRESS} - 1)) === 0) parentPort.postMessage({ id: m.id, progress: ${PROGRESS} });
    }
    if (zero) return { digest: zeroDigest(m.length), zero };
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
    for (let pos = m.offset, end = m.offset + m.length; pos < end; pos += ${PIECE}) {
      hashRange(h, fd, pos, Math.min(${PIECE}, end - pos), m.path, end);
      await turn();
    }
    return h.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}
// length bytes of fd from offset into the hash h, in synchronous reads; a file that ends first is short of until.
function hashRange(h, fd, offset, length, path, until = offset + length) {
  const buf = Buffer.allocUnsafe(${READ});
  for (let pos = offset, left = length; left > 0;) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), pos);
    if (n === 0) throw Object.assign(new Error(path + ' ends ' + (until - pos) + ' bytes short of ' + until), { short: true });
    h.update(buf.subarray(0, n));
    pos += n;
    left -= n;
  }
}
const fail = (id, e) => parentPort.postMessage({ id, error: String(e && e.message || e), short: !!(e && e.short), code: e && e.code });
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    try {
      streamOpen(m);
    } catch (e) {
      streamClose(m.id);
      fail(m.id, e);
    }
  } else if (m.op === 'update') {
    const sab = memory.get(m.id);
    try {
      if (sab) streamUpdate(m.id, Buffer.from(sab, m.slot * ${BATCH}, m.n));
      parentPort.postMessage({ id: m.id, slot: m.slot });
    } catch (e) {
      streamClose(m.id);
      fail(m.id, e);
    }
  } else if (m.op === 'end') {
    const r = streamEnd(m.id);
    parentPort.postMessage(r.error ? { id: m.id, error: r.error } : { id: m.id, ...r });
  } else if (m.op === 'window') {
    readWindow(m).then((r) => parentPort.postMessage({ id: m.id, digest: r.digest, zero: r.zero, blob: r.blob }), (e) => fail(m.id, e));
  } else if (m.op === 'cancel') {
    const state = reading.get(m.id);
    if (state) state.cancelled = true;
  } else if (m.op === 'file') {
    hashFile(m).then((hex) => parentPort.postMessage({ id: m.id, digest: hex }), (e) => fail(m.id, e));
  } else {
    streamClose(m.id);
  }
});`.replaceAll('${BATCH}', String(BATCH)).replaceAll('${OUT}', String(OUT)).replaceAll('${PROGRESS}', String(PROGRESS)).replaceAll('${READ}', String(READ)).replaceAll('${PIECE}', String(PIECE));
