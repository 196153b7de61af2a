import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hashFileRange, ingestStream, readWindow } from '../../src/core/images/hashWorkers.js';

const digestOf = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** An ingest stream into a new file of `dir`, from byte `at` of what `prefix` already holds there. */
async function ingest(dir: string, name: string, prefix = Buffer.alloc(0)) {
  const file = path.join(dir, name);
  await writeFile(file, prefix);
  return { file, s: ingestStream({ file, at: prefix.length })! };
}

describe('ingestStream (a blob written and hashed on the worker threads)', () => {
  it('writes and hashes pieces of every size, across batch boundaries; the caller may reuse each at once', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-hw-'));
    try {
      const data = randomBytes(9 * (1 << 20) + 12345);
      const { file, s } = await ingest(dir, 'blob');
      const sizes = [1, 7, 4096, 65536, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 5];
      let off = 0;
      for (let i = 0; off < data.length; i++) {
        const n = Math.min(sizes[i % sizes.length]!, data.length - off);
        const piece = Buffer.from(data.subarray(off, off + n));
        await s.update(piece);
        piece.fill(0xff); // the caller may reuse its buffer once update() returned
        off += n;
      }
      assert.equal((await s.end()).digest, digestOf(data));
      assert.deepEqual(await readFile(file), data, 'all of it is in the file once end() resolved');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps concurrent streams apart; pieces handed over without waiting stay in order; an empty one is the empty digest', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-hw-'));
    try {
      const blobs = Array.from({ length: 6 }, (_, i) => randomBytes(i * 700_000 + 3));
      const streams = await Promise.all(blobs.map((_, i) => ingest(dir, `b${i}`)));
      for (let k = 0; k < 20; k++) {
        await Promise.all(blobs.map(async (b, i) => {
          const step = Math.ceil(b.length / 20);
          // two calls before either resolved: the second queues behind the first
          const piece = b.subarray(k * step, Math.min(b.length, (k + 1) * step));
          await Promise.all([streams[i]!.s.update(piece.subarray(0, piece.length >> 1)), streams[i]!.s.update(piece.subarray(piece.length >> 1))]);
        }));
      }
      assert.deepEqual((await Promise.all(streams.map(({ s }) => s.end()))).map((r) => r.digest), blobs.map(digestOf));
      for (const [i, { file }] of streams.entries()) assert.deepEqual(await readFile(file), blobs[i]);
      assert.equal((await (await ingest(dir, 'empty')).s.end()).digest, digestOf(Buffer.alloc(0)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a resumed stream hashes what the file held first; a dropped one does not disturb the next', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-hw-'));
    try {
      const a = await ingest(dir, 'dropped');
      await a.s.update(randomBytes(3 << 20));
      a.s.drop();
      const data = randomBytes(5 << 20);
      const { file, s } = await ingest(dir, 'resumed', data.subarray(0, (2 << 20) + 7));
      await s.update(data.subarray((2 << 20) + 7));
      assert.equal((await s.end()).digest, digestOf(data));
      assert.deepEqual(await readFile(file), data);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('file readers on the hash workers', () => {
  const KiB = 1024;
  const MiB = 1 << 20;

  // A sparse disk: random data in [1 MiB, 1 MiB + 300 KiB), a 128 KiB-aligned zero block inside a non-zero MiB,
  // a last odd-sized block at the end, zeros elsewhere.
  async function disk(dir: string) {
    const file = path.join(dir, 'disk.raw');
    const size = 6 * MiB + 777;
    await writeFile(file, '');
    await truncate(file, size);
    const fh = await open(file, 'r+');
    const head = randomBytes(300 * KiB);
    const mid = randomBytes(128 * KiB);
    const tail = randomBytes(777);
    await fh.write(head, 0, head.length, MiB);
    await fh.write(mid, 0, mid.length, 4 * MiB + 256 * KiB); // 4 MiB + [0,256 KiB) and + [384 KiB, 1 MiB) stay zero
    await fh.write(tail, 0, tail.length, 6 * MiB);
    await fh.close();
    return { file, size, data: await readFile(file) };
  }

  it('hashFileRange hashes any range, and rejects a range past the end', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-hw-'));
    try {
      const { file, size, data } = await disk(dir);
      for (const [off, len] of [[0, size], [MiB + 1, 5 * MiB], [123, 128 * KiB], [size - 5, 5]] as const) {
        assert.equal(await hashFileRange(file, off, len), digestOf(data.subarray(off, off + len)), `${off}+${len}`);
      }
      await assert.rejects(hashFileRange(file, MiB, size), /short/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('readWindow: digest, all-zero windows, and only the non-zero blocks copied (holes stay holes)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-hw-'));
    try {
      const { file, size, data } = await disk(dir);
      const copy = path.join(dir, 'base.raw');
      await writeFile(copy, '');
      await truncate(copy, size);
      const windows = [[0, 2 * MiB], [2 * MiB, 2 * MiB], [4 * MiB, size - 4 * MiB]] as const;
      let bytes = 0;
      const reads = await Promise.all(windows.map(([off, len]) => readWindow(file, off, len, { copyTo: copy, onBytes: (n) => { bytes += n; } })));
      assert.equal(bytes, size);
      reads.forEach((r, i) => assert.equal(r.digest, digestOf(data.subarray(windows[i]![0], windows[i]![0] + windows[i]![1]))));
      assert.deepEqual(reads.map((r) => r.zero), [false, true, false]);
      assert.ok((await readFile(copy)).equals(data), 'the copy has the same bytes');
      // Written: 384 KiB around the head (three 128 KiB blocks), 128 KiB in the middle, one block at the end.
      assert.ok((await stat(copy)).blocks * 512 <= 640 * KiB, `copy allocates ${(await stat(copy)).blocks * 512} bytes`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('readWindow: a file that ends early is short, a cancelled read rejects', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-hw-'));
    try {
      const { file } = await disk(dir);
      await assert.rejects(readWindow(file, 4 * MiB, 4 * MiB), (e: Error & { short?: boolean }) => e.short === true && /ends at/.test(e.message));
      const big = path.join(dir, 'big.raw');
      await writeFile(big, '');
      await truncate(big, 256 * MiB);
      const ac = new AbortController();
      const r = readWindow(big, 0, 256 * MiB, { signal: ac.signal });
      ac.abort();
      await assert.rejects(r, /cancelled/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
