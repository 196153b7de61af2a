// GC reads manifests over 4 MiB instead of taking them for layers (which left their layers unmarked
// and deleted them), and refuses to delete anything when a manifest is too big to read at all.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { OciImageStore } from '../../src/core/images/index.js';
import { MANIFEST_READ_MAX } from '../../src/core/images/gc.js';
import { MiB, chunksOf, ctx, makeRawDisk, tempDir, vmfile } from './helpers.js';

describe('garbage collection and big manifests', () => {
  before(() => requireService('packages'));

  it('keeps the layers of a 5 MiB manifest; refuses to collect past a manifest it cannot read', async (t) => {
    const dir = tempDir(t);
    const store = new OciImageStore({ dataDir: path.join(dir, 'data'), windowSize: MiB, concurrency: 2, gcGraceMs: 0, ingestMaxAgeMs: 0 });
    const f = path.join(dir, 'a.raw');
    const disk = makeRawDisk(f, [['rand', 2], ['text', 1]]);
    const img = await store.importStream({ vmfile: vmfile('a'), reference: 'a', totalSize: disk.size }, chunksOf(f), ctx());
    const blobs = [img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)];

    const putManifest = async (padBytes: number) => {
      const body = Buffer.from(JSON.stringify({ ...img.manifest, annotations: { pad: 'x'.repeat(padBytes) } }));
      const d = 'sha256:' + createHash('sha256').update(body).digest('hex');
      const w = await store.content.writer(d, body.length, ctx());
      await w.write(body);
      await w.commit();
      return d;
    };
    const big = await putManifest(5 * MiB);
    await store.untag('a');
    // The big manifest is what a VM runs on: a GC root whose layers must stay.
    const r = await store.gc({ dryRun: false, inUseDigests: new Set([big]) }, ctx());
    for (const d of blobs) assert.ok(existsSync(store.content.blobPath(d)), `${d}, referenced by a 5 MiB manifest, survives`);
    assert.ok(r.removedManifests.includes(img.digest), 'the untagged small manifest itself went');

    const huge = await putManifest(MANIFEST_READ_MAX + MiB);
    await assert.rejects(store.gc({ dryRun: false, inUseDigests: new Set([huge]) }, ctx()),
      (e: { code?: string; message: string }) => e.code === 'FAILED_PRECONDITION' && e.message.includes(huge));
    for (const d of [...blobs, big]) assert.ok(existsSync(store.content.blobPath(d)), `${d} survives a refused GC`);
  });
});
