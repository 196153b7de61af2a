import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { requireService } from '../support/services.js';
import { fileURLToPath } from 'node:url';
import { OciImageStore } from '../../src/core/images/index.js';
import { MiB, chunksOf, ctx, makeRawDisk, tempDir, vmfile } from './helpers.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crashImport.js');

/** Runs the import in a child and SIGKILLs it at the n-th progress line of `phase`. */
function importAndKill(dataDir: string, disk: string, phase: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [child, dataDir, disk], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.split('\n').some((l) => l.startsWith(phase + ' ') && Number(l.split(' ')[1]) > 0)) c.kill('SIGKILL');
    });
    c.on('error', reject);
    c.on('close', () => resolve(out));
  });
}

/** What a reader of the layout may see: only complete blobs that match their names, a parseable index. */
function assertConsistent(store: OciImageStore): void {
  const blobs = path.join(store.paths.layout, 'blobs', 'sha256');
  for (const f of readdirSync(blobs)) {
    if (f.startsWith('.')) continue; // temp files: invisible by name, removed at the next start
    assert.equal(createHash('sha256').update(readFileSync(path.join(blobs, f))).digest('hex'), f, `blob ${f} is complete`);
  }
  const index = JSON.parse(readFileSync(path.join(store.paths.layout, 'index.json'), 'utf8'));
  assert.ok(Array.isArray(index.manifests));
}

describe('crash safety', () => {
  // qemu-img, skopeo and zstd come from Debian packages (scripts/services/apt-packages.sh).
  before(() => requireService('packages'));

  for (const phase of ['receive', 'compress']) {
    it(`a daemon killed during "${phase}" leaves no partial blob or manifest`, async (t) => {
      const dir = tempDir(t);
      const disk = path.join(dir, 'disk.raw');
      makeRawDisk(disk, [['rand', 12], ['text', 12], ['rand', 12]]);
      const dataDir = path.join(dir, 'data');
      const out = await importAndKill(dataDir, disk, phase);
      assert.ok(!out.includes('done'), 'the child was killed before it finished');
      const store = new OciImageStore({ dataDir, windowSize: MiB, gcGraceMs: 0 });
      assertConsistent(store);
      await store.init(); // a restart cleans temp files
      assert.deepEqual(readdirSync(path.join(store.paths.layout, 'blobs', 'sha256')).filter((f) => f.startsWith('.')), []);
      assert.deepEqual(readdirSync(store.paths.tmp), []);
      assert.deepEqual(await store.list(), []);
      // GC reclaims windows written before the crash; the store then works normally.
      await store.gc({ dryRun: false, inUseDigests: new Set() }, ctx());
      assert.deepEqual(readdirSync(path.join(store.paths.layout, 'blobs', 'sha256')), []);
      const small = path.join(dir, 'small.raw');
      const s = makeRawDisk(small, [['text', 1]]);
      await store.importStream({ vmfile: vmfile(), reference: 'after', totalSize: s.size }, chunksOf(small), ctx());
      assert.equal((await store.list()).length, 1);
    });
  }

  it('commitManifest refuses missing blobs and broken coverage', async (t) => {
    const dir = tempDir(t);
    const disk = path.join(dir, 'disk.raw');
    const d = makeRawDisk(disk, [['rand', 1], ['zero', 1], ['text', 1]]);
    const store = new OciImageStore({ dataDir: path.join(dir, 'data'), windowSize: MiB, gcGraceMs: 0 });
    const img = await store.importStream({ vmfile: vmfile(), reference: 'x', totalSize: d.size }, chunksOf(disk), ctx());
    const m = structuredClone(img.manifest);
    m.layers[1]!.annotations!['io.vmregistry.chunk.offset'] = String(0); // two windows at 0
    await assert.rejects(store.commitManifest('bad:1', Buffer.from(JSON.stringify(m)), ctx()), { code: 'DATA_LOSS' });
    const m2 = structuredClone(img.manifest);
    m2.layers[0]!.annotations!['io.vmregistry.chunk.offset'] = String(3 * MiB); // outside the disk
    await assert.rejects(store.commitManifest('bad:2', Buffer.from(JSON.stringify(m2)), ctx()), { code: 'DATA_LOSS' });
    const m3 = structuredClone(img.manifest);
    m3.layers[0]!.digest = 'sha256:' + 'e'.repeat(64);
    await assert.rejects(store.commitManifest('bad:3', Buffer.from(JSON.stringify(m3)), ctx()), { code: 'FAILED_PRECONDITION' });
    await assert.rejects(store.commitManifest('bad:4', Buffer.from('{"schemaVersion":1}'), ctx()), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(store.commitManifest(`x@sha256:${'a'.repeat(64)}`, img.manifestBytes, ctx()), { code: 'DATA_LOSS' });
    assert.deepEqual((await store.list()).map((i) => i.reference), ['x:latest']);
    // A pull by digest is recorded under repo@digest and stays a root until untagged.
    const byDigest = await store.commitManifest(`localhost:5000/x@${img.digest}`, img.manifestBytes, ctx());
    assert.equal(byDigest.reference, `localhost:5000/x@${img.digest}`);
    assert.equal(byDigest.info.tag, '');
    assert.deepEqual(await store.untag(`localhost:5000/x@${img.digest}`), { untagged: [`localhost:5000/x@${img.digest}`], deleted: [] });
    // A corrupted blob on disk is caught when it is read.
    writeFileSync(store.content.blobPath(img.manifest.config.digest), '{"tampered":true}');
    await assert.rejects(store.content.readAll(img.manifest.config.digest), { code: 'DATA_LOSS' });
  });
});
