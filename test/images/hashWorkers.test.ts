import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hashFileRange, readWindow, streamHash } from '../../src/core/images/hashWorkers.js';

const digestOf = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('streamHash (sha256 on worker threads)', () => {
  it('matches an inline sha256 for pieces of every size, across batch boundaries', async () => {
    const data = randomBytes(9 * (1 << 20) + 12345);
    const h = streamHash();
    const sizes = [1, 7, 4096, 65536, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 5];
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      const n = Math.min(sizes[i % sizes.length]!, data.length - off);
      const piece = Buffer.from(data.subarray(off, off + n));
      await h.update(piece);
      piece.fill(0xff); // the caller may reuse its buffer once update() returned
      off += n;
    }
    assert.equal(await h.digest(), digestOf(data));
  });

  it('keeps concurrent hashes apart, and an empty one is the empty digest', async () => {
    const blobs = Array.from({ length: 6 }, (_, i) => randomBytes(i * 700_000 + 3));
    const hashes = blobs.map(() => streamHash());
    for (let k = 0; k < 20; k++) {
      await Promise.all(blobs.map(async (b, i) => {
        const step = Math.ceil(b.length / 20);
        await hashes[i]!.update(b.subarray(k * step, Math.min(b.length, (k + 1) * step)));
      }));
    }
    assert.deepEqual(await Promise.all(hashes.map((h) => h.digest())), blobs.map(digestOf));
    assert.equal(await streamHash().digest(), digestOf(Buffer.alloc(0)));
  });

  it('a dropped hash does not disturb the next one', async () => {
    const a = streamHash();
    await a.update(randomBytes(3 << 20));
    a.drop();
    const b = randomBytes(2 << 20);
    const h = streamHash();
    await h.update(b);
    assert.equal(await h.digest(), digestOf(b));
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
