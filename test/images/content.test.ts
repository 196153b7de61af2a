import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OciContentStore } from '../../src/core/images/index.js';
import { FileIngestWriter } from '../../src/core/images/IngestWriter.js';
import { ctx, tempDir } from './helpers.js';

const digestOf = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function store(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const s = new OciContentStore({ layoutDir: path.join(dir, 'oci'), ingestDir: path.join(dir, 'ingest') });
  await s.init();
  return { s, dir };
}

describe('OciContentStore', () => {
  it('put verifies the digest and readAll reads it back', async (t) => {
    const { s } = await store(t);
    const data = Buffer.from('{"hello":"world"}');
    await assert.rejects(s.put(digestOf(Buffer.from('other')), data), { code: 'DATA_LOSS' });
    assert.equal(readdirSync(s.blobDir).length, 0);
    await s.put(digestOf(data), data);
    assert.deepEqual(await s.readAll(digestOf(data)), data);
    assert.equal(await s.size(digestOf(data)), data.length);
    await assert.rejects(s.readAll(digestOf(Buffer.from('missing'))), { code: 'NOT_FOUND' });
    await assert.rejects(s.put('sha256:nothex', data), { code: 'INVALID_ARGUMENT' });
  });

  it('writes through a store nobody initialised (the registry client uses content directly)', async (t) => {
    const dir = tempDir(t);
    const s = new OciContentStore({ layoutDir: path.join(dir, 'oci'), ingestDir: path.join(dir, 'ingest') });
    const data = randomBytes(1000);
    assert.equal(await s.has(digestOf(data)), false);
    const w = await s.writer(digestOf(data), data.length, ctx());
    await w.write(data);
    await w.commit();
    assert.deepEqual(await s.readAll(digestOf(data)), data);
  });

  it('resumes an interrupted ingest from its offset', async (t) => {
    const { s } = await store(t);
    const data = randomBytes(300_000);
    const d = digestOf(data);
    const w1 = await s.writer(d, data.length, ctx());
    assert.equal(w1.offset, 0);
    await w1.write(data.subarray(0, 100_000));
    await w1.close();
    assert.equal(await s.has(d), false, 'a partial is never a blob');
    const w2 = await s.writer(d, data.length, ctx());
    assert.equal(w2.offset, 100_000);
    await w2.write(data.subarray(100_000));
    await w2.commit();
    assert.deepEqual(readFileSync(s.blobPath(d)), data);
    const w3 = await s.writer(d, data.length, ctx());
    assert.equal(w3.offset, data.length, 'a present blob needs no bytes');
    await w3.commit();
  });

  it('commit shows the verified bytes before it syncs and stores them; never unverified ones', async (t) => {
    const { s } = await store(t);
    const data = randomBytes(200_000);
    const d = digestOf(data);
    const w = await s.writer(d, data.length, ctx());
    await w.write(data);
    let seen: { bytes: Buffer; stored: boolean } | undefined;
    await w.commit({ verified: async (file) => { seen = { bytes: readFileSync(file), stored: await s.has(d) }; } });
    assert.deepEqual(seen?.bytes, data);
    assert.equal(seen?.stored, false, 'called before the blob is in the store');
    assert.deepEqual(readFileSync(s.blobPath(d)), data);

    const other = randomBytes(1000);
    const failing = await s.writer(digestOf(other), other.length, ctx());
    await failing.write(other);
    await failing.commit({ verified: async () => { throw new Error('reader gone'); } });
    assert.equal(await s.has(digestOf(other)), true, "a reader's failure does not fail the commit");

    const wrong = await s.writer(digestOf(randomBytes(8)), 1000, ctx());
    await wrong.write(other);
    let called = false;
    await assert.rejects(wrong.commit({ verified: async () => { called = true; } }), { code: 'DATA_LOSS' });
    assert.equal(called, false, 'not for bytes that do not match');
  });

  it('rejects wrong content with DATA_LOSS and discards the partial', async (t) => {
    const { s } = await store(t);
    const data = randomBytes(1000);
    const d = digestOf(data);
    const w = await s.writer(d, data.length, ctx());
    await w.write(randomBytes(1000));
    await assert.rejects(w.commit(), { code: 'DATA_LOSS' });
    assert.equal(await s.has(d), false);
    assert.deepEqual(readdirSync(s.ingestDir), []);
    const short = await s.writer(d, data.length, ctx());
    await short.write(data.subarray(0, 10));
    await assert.rejects(short.commit(), { code: 'DATA_LOSS' });
    const over = await s.writer(d, data.length, ctx());
    assert.equal(over.offset, 10);
    await assert.rejects(over.write(Buffer.alloc(data.length)), { code: 'DATA_LOSS' });
  });

  it('writes a blob once when two writers race for it', async (t) => {
    const { s } = await store(t);
    const data = randomBytes(200_000);
    const d = digestOf(data);
    const order: string[] = [];
    const writeAll = async (name: string) => {
      const w = await s.writer(d, data.length, ctx());
      order.push(`${name}@${w.offset}`);
      if (w.offset < data.length) {
        for (let off = w.offset; off < data.length; off += 50_000) {
          await w.write(data.subarray(off, off + 50_000));
          await new Promise((r) => setImmediate(r));
        }
      }
      await w.commit();
    };
    await Promise.all([writeAll('a'), writeAll('b')]);
    assert.deepEqual(order, ['a@0', `b@${data.length}`], 'the second writer waited and found the blob complete');
    assert.deepEqual(readFileSync(s.blobPath(d)), data);
    assert.ok(!existsSync(path.join(s.ingestDir, d.slice(7))));
  });
  it('close() returns once every byte handed over is in the partial; the next writer resumes after them', async (t) => {
    const { s } = await store(t);
    const data = randomBytes(9 * 1024 * 1024 + 123);
    const d = digestOf(data);
    const w = await s.writer(d, data.length, ctx());
    // Handed over in pieces without waiting in between (a download's ring hands over several at once).
    const cut = 7 * 1024 * 1024 + 5;
    await Promise.all(Array.from({ length: Math.ceil(cut / 100_000) }, (_, k) => w.write(data.subarray(k * 100_000, Math.min(cut, (k + 1) * 100_000)))));
    await w.close();
    assert.equal(statSync(path.join(s.ingestDir, d.slice(7))).size, cut, 'nothing written after close()');
    assert.deepEqual(readFileSync(path.join(s.ingestDir, d.slice(7))), data.subarray(0, cut));
    const w2 = await s.writer(d, data.length, ctx());
    assert.equal(w2.offset, cut);
    await w2.write(data.subarray(cut));
    await w2.commit();
    assert.deepEqual(readFileSync(s.blobPath(d)), data, 'the resumed hash covers what the partial held');
  });

  it('a write the disk refuses fails the writer with RESOURCE_EXHAUSTED and releases it once', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    let released = 0;
    // /dev/full: every write fails with ENOSPC, wherever the writer's bytes are written (worker or this thread).
    const w = await FileIngestWriter.open({ digest: digestOf(data), size: data.length, partialPath: '/dev/full', publish: async () => assert.fail('published'), release: () => { released++; } });
    const failed = async () => {
      for (let off = 0; off < data.length; off += 256 * 1024) await w.write(data.subarray(off, off + 256 * 1024));
      await w.commit();
    };
    await assert.rejects(failed(), { code: 'RESOURCE_EXHAUSTED' });
    await w.close();
    assert.equal(released, 1);
  });
  it('on a one-core machine the writer writes and hashes on this thread, and gives a sink every byte', async (t) => {
    t.mock.method(os, 'availableParallelism', () => 1);
    syncBuiltinESMExports(); // the named import in hashWorkers.ts sees the mock
    t.after(() => { t.mock.restoreAll(); syncBuiltinESMExports(); });
    const { s } = await store(t);
    const data = randomBytes(3 * 1024 * 1024 + 11);
    const d = digestOf(data);
    const got: Buffer[] = [];
    const events: string[] = [];
    const sink = {
      write: async (c: Buffer) => { got.push(Buffer.from(c)); },
      verified: async () => { events.push('verified'); },
      end: async () => { events.push('end'); },
      abort: () => { events.push('abort'); },
      handoff: () => ({ target: { native: '', file: '', offsets: [], size: 0 }, settle: (r: unknown) => { events.push(`settled:${String(r)}`); } }),
    };
    const w1 = await s.writer(d, data.length, ctx(), { sink });
    await Promise.all([w1.write(data.subarray(0, 1_000_000)), w1.write(data.subarray(1_000_000, 2_000_000))]);
    await w1.close();
    assert.deepEqual(events, ['settled:undefined', 'abort'], 'not handed over on one core; aborted on close');
    const w2 = await s.writer(d, data.length, ctx());
    assert.equal(w2.offset, 2_000_000);
    await w2.write(data.subarray(2_000_000));
    await w2.commit();
    assert.deepEqual(readFileSync(s.blobPath(d)), data);
    assert.deepEqual(Buffer.concat(got), data.subarray(0, 2_000_000), 'the sink had the bytes, in order');
  });
});


