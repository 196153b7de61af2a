import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore } from '../../src/core/images/index.js';
import type { GcResult } from '../../src/core/images/index.js';
import { MiB, chunksOf, ctx, makeRawDisk, sha256File, tempDir, vmfile } from './helpers.js';

const mk = (dataDir: string) => new OciImageStore({ dataDir, windowSize: MiB, concurrency: 2, gcGraceMs: 0, ingestMaxAgeMs: 0 });

const blobsOf = (img: { digest: string; manifest: { config: { digest: string }; layers: Array<{ digest: string }> } }) =>
  [img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)];

describe('garbage collection', () => {
  // qemu-img, skopeo and zstd come from Debian packages (scripts/services/apt-packages.sh).
  before(() => requireService('packages'));

  it('keeps referenced and in-use images, frees the rest, and is safe while an import runs', async (t) => {
    const dir = tempDir(t);
    const store = mk(path.join(dir, 'data'));
    const disks = ['a', 'b', 'c', 'u'].map((n) => {
      const f = path.join(dir, `${n}.raw`);
      return { f, ...makeRawDisk(f, [['rand', 2], ['zero', 1], ['text', 1]]) };
    });
    const keep = await store.importStream({ vmfile: vmfile('keep'), reference: 'keep', totalSize: disks[0]!.size }, chunksOf(disks[0]!.f), ctx());
    const drop = await store.importStream({ vmfile: vmfile('drop'), reference: 'drop', totalSize: disks[1]!.size }, chunksOf(disks[1]!.f), ctx());
    const used = await store.importStream({ vmfile: vmfile('used'), reference: 'used', totalSize: disks[3]!.size }, chunksOf(disks[3]!.f), ctx());
    await store.untag('drop');
    await store.untag('used'); // untagged, but a VM still runs on it
    const inUseDigests = new Set([used.digest]);

    // The text window is the same in every disk: dedup means it is shared, so it stays.
    const onlyDrop = () => blobsOf(drop).filter((d) => ![keep, used].some((i) => blobsOf(i).includes(d)));
    assert.ok(onlyDrop().length < blobsOf(drop).length);
    const dry = await store.gc({ dryRun: true, inUseDigests }, ctx());
    assert.deepEqual(new Set(dry.removedBlobs), new Set(onlyDrop()));
    assert.ok(blobsOf(drop).every((d) => existsSync(store.content.blobPath(d))), 'dry run removes nothing');

    // GC runs at two points of an import in flight: while the disk streams in and while windows are written.
    const runs: Array<Promise<GcResult>> = [];
    const during = await store.importStream(
      { vmfile: vmfile('during'), reference: 'during', totalSize: disks[2]!.size },
      chunksOf(disks[2]!.f, { onChunk: (i) => { if (i === 2) runs.push(store.gc({ dryRun: false, inUseDigests }, ctx())); } }),
      ctx(undefined, (p) => { if (p.phase === 'compress' && p.current < p.total) runs.push(store.gc({ dryRun: false, inUseDigests }, ctx())); }),
    );
    const results = await Promise.all(runs);
    assert.equal(results.length, 2);
    assert.deepEqual(new Set(results.flatMap((r) => r.removedBlobs)), new Set(onlyDrop()));
    assert.deepEqual(results.flatMap((r) => r.removedManifests), [drop.digest]);
    assert.ok(results[0]!.freedBytes > 0);
    assert.ok(!existsSync(store.paths.disk(drop.digest)), 'the base disk of the dropped image is gone');

    for (const img of [keep, used, during]) {
      for (const d of blobsOf(img)) assert.ok(existsSync(store.content.blobPath(d)), `${d} of ${img.reference} survives`);
    }
    // The image imported during GC is whole: reassemble its disk from the blobs alone.
    rmSync(store.paths.disk(during.digest));
    assert.equal(sha256File(await store.baseDisk(during.digest, ctx())), disks[2]!.sha256);
    assert.ok(existsSync(store.paths.disk(used.digest)));

    // Once the VM is gone, the untagged image goes too.
    const last = await store.gc({ dryRun: false, inUseDigests: new Set() }, ctx());
    assert.deepEqual(new Set(last.removedBlobs), new Set(blobsOf(used).filter((d) => !blobsOf(keep).includes(d) && !blobsOf(during).includes(d))));
    assert.deepEqual(readdirSync(store.paths.disks).sort(), [keep.digest, during.digest].map((d) => d.slice(7) + '.raw').sort());
  });

  it('spares blobs a pull wrote until its manifest comes, for the grace period', async (t) => {
    const dir = tempDir(t);
    const { randomBytes, createHash } = await import('node:crypto');
    const data = randomBytes(4096);
    const d = 'sha256:' + createHash('sha256').update(data).digest('hex');
    for (const [graceMs, kept] of [[60_000, true], [0, false]] as const) {
      const store = new OciImageStore({ dataDir: path.join(dir, `g${graceMs}`), gcGraceMs: graceMs });
      const w = await store.content.writer(d, data.length, ctx());
      await w.write(data);
      await w.commit();
      const r = await store.gc({ dryRun: false, inUseDigests: new Set() }, ctx());
      assert.equal(existsSync(store.content.blobPath(d)), kept);
      assert.deepEqual(r.removedBlobs, kept ? [] : [d]);
    }
  });

  it('drops empty partial downloads at once and reports the kept ones with their size and age (16.11)', async (t) => {
    const dir = tempDir(t);
    const store = new OciImageStore({ dataDir: path.join(dir, 'data') }); // the default: partial downloads kept 24 h
    await store.gc({ dryRun: true, inUseDigests: new Set() }, ctx()); // creates the store's directories
    const ingest = store.paths.ingest;
    mkdirSync(ingest, { recursive: true });
    const [empty, partial] = ['0'.repeat(64), 'a'.repeat(64)];
    writeFileSync(path.join(ingest, empty), '');
    writeFileSync(path.join(ingest, partial), Buffer.alloc(1000, 1));
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(path.join(ingest, partial), hourAgo, hourAgo);
    const before = await store.check({ verifyDisks: false }, ctx());
    assert.equal(before.partialIngests, 2);
    const dry = await store.gc({ dryRun: true, inUseDigests: new Set() }, ctx());
    assert.equal(dry.freedBytes, 0);
    assert.ok(existsSync(path.join(ingest, empty)), 'a dry run removes nothing');
    await store.gc({ dryRun: false, inUseDigests: new Set() }, ctx());
    assert.deepEqual(readdirSync(ingest), [partial]);
    const after = await store.check({ verifyDisks: false }, ctx());
    assert.equal(after.partialIngests, 1);
    assert.equal(after.partialIngestList.length, 1);
    const [kept] = after.partialIngestList;
    assert.equal(kept!.digest, `sha256:${partial}`);
    assert.equal(kept!.size, 1000);
    assert.ok(kept!.ageSeconds >= 3599 && kept!.ageSeconds < 3 * 3600, `age ${kept!.ageSeconds}`);
  });
});
