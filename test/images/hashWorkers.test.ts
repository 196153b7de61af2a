import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { streamHash } from '../../src/core/images/hashWorkers.js';

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
