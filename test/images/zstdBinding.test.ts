// The in-process zstd binding (native/zstd.c) as the hash workers use it: a window compressed while it is read
// is one zstd frame the `zstd` binary decompresses to the same bytes, with its content checksum; the blob digest
// is of what was written; a full disk keeps its errno; a cancelled frame does not leak into the next window. A frame
// decompressed as it arrives lands at its offsets, in order however many pieces are handed over at once, and a frame
// that is too long, cut short or corrupt is reported at its end.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { nativeZstd } from '../../src/core/images/nativeZstd.js';
import { inflateStream, ingestStream, readWindow } from '../../src/core/images/hashWorkers.js';

const MiB = 1 << 20;
const digestOf = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('zstd binding on the hash workers', () => {
  let dir: string;
  let native: string;
  let file: string;
  let data: Buffer;

  before(async () => {
    await requireService('packages'); // gcc and libzstd-dev, which `npm run build` compiles the binding with
    const z = nativeZstd();
    assert.ok(z.path !== undefined, `the binding is built and loads: ${z.path === undefined ? z.reason : ''}`);
    native = z.path;
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-zb-'));
    // Text, random and zero runs, and an odd tail, so frames span many 128 KiB reads and output buffers.
    file = path.join(dir, 'disk.raw');
    const text = Buffer.alloc(2 * MiB, 'the quick brown fox jumps over the lazy dog 0123456789\n');
    data = Buffer.concat([text, randomBytes(3 * MiB), Buffer.alloc(2 * MiB), text.subarray(0, 777_777)]);
    await writeFile(file, data);
  });
  after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  const compressTo = async (out: string, offset: number, length: number, threads = 1, copyTo?: string) => {
    const fd = openSync(out, 'w');
    try {
      return await readWindow(file, offset, length, { copyTo, compress: { native, level: 2, threads, outFd: fd } });
    } finally {
      closeSync(fd);
    }
  };

  it('compresses windows into frames zstd -d restores, the blob hashed as written', async () => {
    const copy = path.join(dir, 'base.raw');
    await writeFile(copy, '');
    await truncate(copy, data.length);
    const windows = [[0, 4 * MiB, 1], [4 * MiB, data.length - 4 * MiB, 1], [0, data.length, 2]] as const;
    for (const [i, [off, len, threads]] of windows.entries()) {
      const out = path.join(dir, `w${i}.zst`);
      const r = await compressTo(out, off, len, threads, threads === 1 ? copy : undefined);
      const want = data.subarray(off, off + len);
      assert.equal(r.digest, digestOf(want));
      assert.equal(r.zero, false);
      assert.ok(r.blob, 'a compressed window says what it wrote');
      assert.equal(r.blob.size, statSync(out).size);
      assert.equal(r.blob.digest, digestOf(readFileSync(out)));
      assert.ok(r.blob.size < len, 'text and zeros compress');
      assert.deepEqual(execFileSync('zstd', ['-dc', out], { maxBuffer: 64 * MiB }), want, `window ${i}`);
      // The frame carries its content checksum (zstd -lv: "Check: XXH64"), as the zstd binary writes them.
      assert.match(execFileSync('zstd', ['-lv', out], { encoding: 'utf8' }), /Check:\s+XXH64/);
    }
    assert.ok(readFileSync(copy).equals(data), 'the base disk copy is still made');
  });

  it('an all-zero window is only read: no frame (the image leaves it out), the digest of its zeros', async () => {
    const out = path.join(dir, 'zero.zst');
    for (let i = 0; i < 2; i++) { // the second time, that digest is known
      const r = await compressTo(out, 5 * MiB, 2 * MiB); // [2 MiB text][3 MiB random][2 MiB zeros]
      assert.equal(r.zero, true);
      assert.equal(r.digest, digestOf(Buffer.alloc(2 * MiB)));
      assert.equal(r.blob, undefined);
      assert.equal(statSync(out).size, 0);
    }
  });

  it('decompresses a frame handed over in many pieces at once into its offsets, sparse, and reports bad frames at the end', { timeout: 60_000 }, async () => {
    // Over the stream's four 1 MiB slots once compressed, so pieces wait for the worker to free one.
    const src = path.join(dir, 'inflate-src.raw');
    const content = Buffer.concat([randomBytes(6 * MiB), data]);
    await writeFile(src, content);
    const frame = execFileSync('zstd', ['-q', '-c', '-3', src], { maxBuffer: 64 * MiB });
    assert.ok(frame.length > 5 * MiB);
    const disk = path.join(dir, 'inflated.raw');
    const size = content.length;
    await writeFile(disk, '');
    await truncate(disk, 3 * size);
    const s = inflateStream({ native, file: disk, offsets: [0, 2 * size], size });
    // Like a download's ring of buffers: every piece handed over before the first was taken (more than the slots).
    const pieces: Promise<void>[] = [];
    for (let i = 0; i < frame.length; i += 100_000) pieces.push(s.update(Buffer.from(frame.subarray(i, i + 100_000))));
    await Promise.all(pieces);
    assert.deepEqual(await s.end(), { bytes: size, ended: true });
    const back = readFileSync(disk);
    assert.ok(back.subarray(0, size).equals(content) && back.subarray(2 * size).equals(content), 'the frame at both offsets');
    assert.ok(back.subarray(size, 2 * size).every((b) => b === 0));
    assert.ok(statSync(disk).blocks * 512 < 2 * size, 'zero blocks are not written');

    const into = async (bytes: Buffer, want: number) => {
      const t = inflateStream({ native, file: disk, offsets: [0], size: want });
      await t.update(bytes);
      return t.end();
    };
    await assert.rejects(into(frame, size - 1), /more than/);
    assert.deepEqual(await into(frame.subarray(0, frame.length >> 1), size).then((r) => r.ended), false);
    const bad = Buffer.from(frame);
    bad[bad.length - 2]! ^= 0xff; // in the content checksum
    await assert.rejects(into(bad, size), /checksum/);
    await assert.rejects(into(randomBytes(5000), size), /Unknown frame descriptor|unknown/i);
  });

  it("a blob's ingest stream writes, hashes and decompresses the same pieces; a window it cannot open or decode fails alone", async () => {
    const frame = execFileSync('zstd', ['-q', '-c', '-3', file], { maxBuffer: 64 * MiB });
    const disk = path.join(dir, 'ingest-disk.raw');
    await writeFile(disk, '');
    await truncate(disk, data.length);
    const run = async (name: string, bytes: Buffer, target: string) => {
      const blob = path.join(dir, name);
      await writeFile(blob, '');
      const s = ingestStream({ file: blob, at: 0, inflate: { native, file: target, offsets: [0], size: data.length } })!;
      for (let i = 0; i < bytes.length; i += 65_536) await s.update(bytes.subarray(i, i + 65_536));
      const r = await s.end();
      assert.equal(r.digest, digestOf(bytes), `${name}: the blob's digest`);
      assert.deepEqual(readFileSync(blob), bytes, `${name}: the blob is written whatever became of the window`);
      return r.inflate;
    };
    assert.deepEqual(await run('good.zst', frame, disk), { bytes: data.length, ended: true });
    assert.ok(readFileSync(disk).equals(data));
    const missing = await run('no-disk.zst', frame, path.join(dir, 'no-such-dir', 'disk.raw'));
    assert.match(String(missing && 'error' in missing && missing.error.message), /ENOENT/);
    const garbage = await run('garbage.zst', randomBytes(300_000), disk);
    assert.match(String(garbage && 'error' in garbage && garbage.error.message), /Unknown frame descriptor|unknown/i);
  });

  it('a full disk rejects with ENOSPC, and the next frame on that worker starts clean', async () => {
    await assert.rejects(readWindow(file, 0, 4 * MiB, { compress: { native, level: 2, threads: 1, outFd: openSync('/dev/full', 'w') } }),
      (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    // A frame cut short on every worker of the pool (round-robin), then a whole window on each.
    const big = path.join(dir, 'big.raw');
    await writeFile(big, '');
    await truncate(big, 256 * MiB);
    const fh = await open(big, 'r+');
    await fh.write(data, 0, data.length, 0);
    await fh.close();
    for (let k = 0; k < os.availableParallelism(); k++) {
      const ac = new AbortController();
      const fd = openSync(path.join(dir, `cut${k}.zst`), 'w');
      const cut = readWindow(big, 0, 256 * MiB, { signal: ac.signal, compress: { native, level: 2, threads: 1, outFd: fd } });
      setTimeout(() => ac.abort(), 5);
      await assert.rejects(cut, /cancelled/);
      closeSync(fd);
    }
    for (let k = 0; k < os.availableParallelism(); k++) {
      const out = path.join(dir, `after${k}.zst`);
      await compressTo(out, 0, data.length);
      assert.deepEqual(execFileSync('zstd', ['-dc', out], { maxBuffer: 64 * MiB }), data, `worker ${k}`);
    }
  });
});
