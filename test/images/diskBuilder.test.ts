// The base disk a pull builds while its windows download (issue 17): whatever the streams did, the disk that
// becomes visible is exactly the image's, and a failed or abandoned build leaves nothing behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore } from '../../src/core/images/index.js';
import type { LocalImage } from '../../src/core/ports/images.js';
import { MiB, chunksOf, ctx, makeRawDisk, sha256File, tempDir, vmfile } from './helpers.js';

const mk = (dataDir: string, concurrency = 2) => new OciImageStore({ dataDir, windowSize: MiB, codec: 'zstd', level: 1, concurrency, gcGraceMs: 0 });

async function imageWithoutDisk(t: { after: (fn: () => void) => void }, concurrency?: number): Promise<{ store: OciImageStore; img: LocalImage; sha: string }> {
  const dir = tempDir(t);
  const disk = path.join(dir, 'disk.raw');
  const d = makeRawDisk(disk, [['rand', 1], ['zero', 2], ['text', 1], ['rand', 1]]);
  const store = mk(path.join(dir, 'data'), concurrency);
  const img = await store.importStream({ vmfile: vmfile(), reference: 'b:1', totalSize: d.size }, chunksOf(disk), ctx());
  rmSync(store.paths.disk(img.digest));
  return { store, img, sha: d.sha256 };
}

const blob = (store: OciImageStore, digest: string) => store.content.readAll(digest);
const leftovers = (store: OciImageStore) => readdirSync(store.paths.disks).filter((f) => f.endsWith('.tmp'));

describe('base disk built during a pull', () => {
  before(() => requireService('packages'));

  it('streamed windows make the same sparse disk as an assembly from the store', async (t) => {
    const { store, img, sha } = await imageWithoutDisk(t);
    const b = (await store.beginBaseDisk(img.manifestBytes, ctx()))!;
    for (const l of img.manifest.layers) {
      const sink = b.stream(l.digest)!;
      const bytes = await blob(store, l.digest);
      for (let i = 0; i < bytes.length; i += 7000) await sink.write(bytes.subarray(i, i + 7000));
      await sink.end();
    }
    const disk = await b.finish();
    assert.equal(disk, store.paths.disk(img.digest));
    assert.equal(sha256File(disk), sha);
    assert.ok(statSync(disk).blocks * 512 < statSync(disk).size, 'zero windows are holes');
    assert.equal(statSync(disk).mode & 0o777, 0o600, 'private, like an imported disk: the hypervisor plugin grants QEMU access');
    assert.deepEqual(leftovers(store), []);
  });

  it('windows decompressed as they stream count once the digest matched: the store is not read again', async (t) => {
    const { store, img, sha } = await imageWithoutDisk(t);
    const b = (await store.beginBaseDisk(img.manifestBytes, ctx()))!;
    let assembled = 0;
    for (const l of img.manifest.layers) {
      const sink = b.stream(l.digest)!;
      const bytes = await blob(store, l.digest);
      for (let i = 0; i < bytes.length; i += 7000) await sink.write(bytes.subarray(i, i + 7000));
      // Neither the verified file nor the store has the blob now: only what was streamed can make the window.
      rmSync(store.content.blobPath(l.digest));
      await sink.verified!(store.content.blobPath(l.digest));
      await sink.end();
      assembled++;
    }
    assert.ok(assembled > 1);
    const disk = await b.finish();
    assert.equal(sha256File(disk), sha);
    assert.ok(statSync(disk).blocks * 512 < statSync(disk).size, 'zero blocks are holes');
    assert.deepEqual(leftovers(store), []);
  });

  it('a window starts from the verified file, which may be renamed away at once; end() does not start it again', async (t) => {
    // A slot for every window: a window that found none would be started from the store at end().
    const { store, img, sha } = await imageWithoutDisk(t, 8);
    assert.ok(img.manifest.layers.length > 1 && img.manifest.layers.length <= 8);
    const b = (await store.beginBaseDisk(img.manifestBytes, ctx()))!;
    const dir = tempDir(t);
    for (const [i, l] of img.manifest.layers.entries()) {
      const sink = b.stream(l.digest)!;
      const verified = path.join(dir, `partial-${i}`);
      writeFileSync(verified, await blob(store, l.digest));
      await sink.verified!(verified);
      rmSync(verified); // as the store renames it: the windows read their open handles
      rmSync(store.content.blobPath(l.digest)); // nor may end() or finish() fall back to the store
      await sink.end();
    }
    const disk = await b.finish();
    assert.equal(sha256File(disk), sha);
    assert.deepEqual(leftovers(store), []);
  });

  it("the blob's writer decompresses handed-over windows on its own worker: the sink needs no write()", async (t) => {
    const { store, img, sha } = await imageWithoutDisk(t);
    const b = (await store.beginBaseDisk(img.manifestBytes, ctx()))!;
    let writes = 0;
    for (const l of img.manifest.layers) {
      const bytes = await blob(store, l.digest);
      rmSync(store.content.blobPath(l.digest)); // downloaded again, through the store's writer as a pull does
      const sink = b.stream(l.digest)!;
      const counted = { ...sink, write: (c: Buffer) => { writes++; return sink.write(c); } };
      const w = await store.content.writer(l.digest, bytes.length, ctx(), { sink: counted });
      for (let i = 0; i < bytes.length; i += 7000) await w.write(bytes.subarray(i, i + 7000));
      await w.commit();
      assert.deepEqual(await blob(store, l.digest), bytes, 'the blob is stored as well');
      // Gone again: only what the writer's worker decompressed can make the windows.
      rmSync(store.content.blobPath(l.digest));
    }
    const disk = await b.finish();
    assert.equal(sha256File(disk), sha);
    assert.ok(statSync(disk).blocks * 512 < statSync(disk).size, 'zero blocks are holes');
    // One core: the writer hashes inline and hands the sink its bytes instead.
    if (os.availableParallelism() > 1) assert.equal(writes, 0, 'the sink was given no bytes: the worker had them');
    assert.deepEqual(leftovers(store), []);
  });

  it('a handed-over window whose writer closes without a commit is redone from the store', async (t) => {
    const { store, img, sha } = await imageWithoutDisk(t);
    const b = (await store.beginBaseDisk(img.manifestBytes, ctx()))!;
    const l = img.manifest.layers[0]!;
    const bytes = await blob(store, l.digest);
    rmSync(store.content.blobPath(l.digest));
    const w = await store.content.writer(l.digest, bytes.length, ctx(), { sink: b.stream(l.digest)! });
    await w.write(bytes.subarray(0, bytes.length >> 1));
    await w.close(); // a broken download: the half written is not trusted
    const again = await store.content.writer(l.digest, bytes.length, ctx());
    assert.equal(again.offset, bytes.length >> 1);
    await again.write(bytes.subarray(bytes.length >> 1));
    await again.commit();
    for (const other of img.manifest.layers.slice(1)) b.stream(other.digest)!.abort();
    const disk = await b.finish();
    assert.equal(sha256File(disk), sha);
  });

  it('a stream of wrong bytes, or one cut short, is redone from the verified blob', async (t) => {
    const { store, img, sha } = await imageWithoutDisk(t);
    const b = (await store.beginBaseDisk(img.manifestBytes, ctx()))!;
    const [first, second] = img.manifest.layers;
    // garbage that zstd may partly decode: whatever it wrote must not survive
    const bad = b.stream(first!.digest)!;
    const good = await blob(store, first!.digest);
    await bad.write(good.subarray(0, good.length >> 1));
    await bad.write(randomBytes(good.length >> 1));
    await bad.verified!(store.content.blobPath(first!.digest)); // the digest matched, the stream did not
    await bad.end();
    const cut = b.stream(second!.digest)!;
    await cut.write((await blob(store, second!.digest)).subarray(0, 100));
    cut.abort();
    const disk = await b.finish();
    assert.equal(sha256File(disk), sha);
  });

  it('abort leaves no file; an image whose disk exists needs no builder', async (t) => {
    const { store, img } = await imageWithoutDisk(t);
    const b = (await store.beginBaseDisk(img.manifestBytes, ctx()))!;
    const sink = b.stream(img.manifest.layers[0]!.digest)!;
    await sink.write((await blob(store, img.manifest.layers[0]!.digest)).subarray(0, 1000));
    await b.abort();
    assert.deepEqual(leftovers(store), []);
    assert.equal(existsSync(store.paths.disk(img.digest)), false);
    await store.baseDisk(img.digest, ctx());
    assert.equal(await store.beginBaseDisk(img.manifestBytes, ctx()), undefined);
  });
});
