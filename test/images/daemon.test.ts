// The real image store behind the daemon's gRPC API (the default store of startTestDaemon).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { requireService } from '../support/services.js';
import { MiB, makeRawDisk, tempDir, writeVMFile } from './helpers.js';

const wireVMFile = (name: string) => ({
  apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile',
  metadata: { name, description: 'over gRPC', labels: { os: 'none' } },
  spec: { disk: { path: 'disk.raw', format: 'raw' }, resources: { memoryMb: 256, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } },
});

function* streamOf(file: string, name: string, reference: string, cut?: number) {
  const data = readFileSync(file);
  yield { header: { vmfile: wireVMFile(name), reference, totalSize: String(data.length) } };
  const end = cut ?? data.length;
  for (let off = 0; off < end; off += 256 * 1024) yield { chunk: data.subarray(off, Math.min(off + 256 * 1024, end)) };
}

async function manifestOf(d: TestDaemon, reference: string): Promise<{ layers: Array<{ digest: string; annotations: Record<string, string> }> }> {
  const m = await d.client.call<{ manifestJson: string }>('GetImageManifest', { reference });
  return JSON.parse(m.manifestJson);
}

/** A daemon on the real store for one describe block: 1 MiB windows, a host dir it may import from and export to. */
function storeDaemon(): { d: TestDaemon; hostDir: string } {
  const s = {} as { d: TestDaemon; hostDir: string };
  before(async () => {
    await requireService('packages');
    s.hostDir = tempDir(undefined, 'vmr-hostdir-');
    s.d = await startTestDaemon({ config: { images: { windowSizeMiB: 1 }, paths: { import: [s.hostDir], export: [s.hostDir] } } });
  });
  after(async () => {
    await s.d?.stop();
    if (s.hostDir) rmSync(s.hostDir, { recursive: true, force: true });
  });
  return s;
}

describe('image RPCs on the real store', () => {
  const s = storeDaemon();

  it('imports by stream, lists, tags, exports, deletes and collects garbage', async () => {
    const dir = mkdtempSync(path.join(s.hostDir, 't-'));
    const disk = path.join(dir, 'disk.raw');
    makeRawDisk(disk, [['text', 1], ['zero', 2], ['rand', 1]]);
    const res = await s.d.client.clientStream<{ reference: string; digest: string }>('ImportImageStream', streamOf(disk, 'grpc-vm', 'demo/grpc:1'));
    assert.equal(res.reference, 'demo/grpc:1');
    assert.match(res.digest, /^sha256:[a-f0-9]{64}$/);
    await assert.rejects(s.d.client.clientStream('ImportImageStream', streamOf(disk, 'grpc-vm', 'demo/cut:1', MiB)), (e: { code: number }) => e.code === 3);

    await s.d.client.call('TagImage', { source: 'demo/grpc:1', target: 'demo/grpc:latest' });
    const list = await s.d.client.call<{ images: Array<{ reference: string; digest: string; name: string }> }>('ListLocalImages');
    assert.deepEqual(list.images.map((i) => i.reference), ['demo/grpc:1', 'demo/grpc:latest']);
    assert.equal(list.images[0]!.name, 'grpc-vm');
    const m = await s.d.client.call<{ digest: string; manifestJson: string }>('GetImageManifest', { reference: 'demo/grpc' });
    assert.equal(m.digest, res.digest);
    assert.equal(JSON.parse(m.manifestJson).artifactType, 'application/vnd.vmregistry.vm.v1');

    const out = path.join(dir, 'layout');
    const ex = await s.d.client.call<{ digest: string }>('ExportImage', { reference: 'demo/grpc:1', outputPath: out, format: 'OCI_LAYOUT_DIR' });
    assert.equal(ex.digest, res.digest);
    assert.ok(existsSync(path.join(out, 'index.json')));

    const v = await s.d.client.call<{ valid: boolean; errors: Array<{ path: string }> }>('ValidateVMFile', { content: readFileSync(writeVMFile(dir, './disk.raw', 'qcow2'), 'utf8'), baseDir: dir });
    assert.equal(v.valid, false);
    assert.deepEqual(v.errors.map((e) => e.path), ['spec.disk.format']);

    // ExportImageStream: info, the bytes in order, done; a dropped stream leaves no work file behind.
    const evs = await s.d.client.stream<{ info?: { size: string }; data?: Buffer; done?: { size: string; digest: string } }>('ExportImageStream', { reference: 'demo/grpc:1', format: 'DISK', diskFormat: 'raw' });
    assert.ok(evs[0]!.info, 'info comes first');
    const bytes = Buffer.concat(evs.filter((e) => e.data).map((e) => e.data!));
    assert.equal(bytes.length, Number(evs[0]!.info!.size));
    assert.ok(bytes.equals(readFileSync(disk)), 'the streamed disk is the imported one');
    assert.equal(evs.at(-1)!.done!.digest, res.digest);
    const ac = new AbortController();
    await assert.rejects(s.d.client.stream('ExportImageStream', { reference: 'demo/grpc:1', format: 'DISK', diskFormat: 'qcow2' },
      { signal: ac.signal, onMessage: (m: { info?: unknown }) => { if (m.info) ac.abort(); } }));
    for (let i = 0; i < 100 && readdirSync(path.join(s.d.dataDir, 'images', 'tmp')).length; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(readdirSync(path.join(s.d.dataDir, 'images', 'tmp')), []);
    await assert.rejects(s.d.client.stream('ExportImageStream', { reference: 'demo/grpc:1', format: 'OCI_LAYOUT_DIR' }), (e: { code: number }) => e.code === 3);

    await s.d.client.call('DeleteImage', { reference: 'demo/grpc:1' });
    await s.d.client.call('DeleteImage', { reference: 'demo/grpc:latest' });
    const gc = await s.d.client.call<{ removedManifests: string[]; freedBytes: string }>('GarbageCollect', { dryRun: false });
    assert.deepEqual(gc.removedManifests, [res.digest]);
    assert.ok(Number(gc.freedBytes) > 0);
    assert.deepEqual((await s.d.client.call<{ images: unknown[] }>('ListLocalImages')).images ?? [], []);
  });
});

describe('ImportImageStream with zero runs', () => {
  const s = storeDaemon();

  it('a disk whose zero runs are sent as `zeros` is the same image as one sent byte for byte', async () => {
    const dir = mkdtempSync(path.join(s.hostDir, 'z-'));
    const disk = path.join(dir, 'disk.raw');
    makeRawDisk(disk, [['text', 1], ['zero', 2], ['rand', 1], ['zero', 1]]);
    const data = readFileSync(disk);
    function* sparse(reference: string, extra = 0) {
      yield { header: { vmfile: wireVMFile('zeros-vm'), reference, totalSize: String(data.length) } };
      yield { chunk: data.subarray(0, MiB) };
      yield { zeros: String(2 * MiB) };
      yield { chunk: data.subarray(3 * MiB, 4 * MiB) };
      yield { zeros: String(MiB + extra) };
    }
    await s.d.client.clientStream('ImportImageStream', streamOf(disk, 'zeros-vm', 'demo/bytes:1'));
    await s.d.client.clientStream('ImportImageStream', sparse('demo/zeros:1'));
    const [bytes, zeros] = [await manifestOf(s.d, 'demo/bytes:1'), await manifestOf(s.d, 'demo/zeros:1')];
    assert.deepEqual(zeros.layers.map((l) => [l.digest, l.annotations]), bytes.layers.map((l) => [l.digest, l.annotations]));
    const evs = await s.d.client.stream<{ data?: Buffer }>('ExportImageStream', { reference: 'demo/zeros:1', format: 'DISK', diskFormat: 'raw' });
    assert.ok(Buffer.concat(evs.filter((e) => e.data).map((e) => e.data!)).equals(data), 'the disk has its zeros back');
    // Zeros count against total_size like bytes do.
    await assert.rejects(s.d.client.clientStream('ImportImageStream', sparse('demo/over:1', 1)),
      (e: { code: number; details: string }) => e.code === 3 && /more than the declared total_size/.test(e.details));
  });
});

describe('client streams: the header first, exactly once', () => {
  const s = storeDaemon();

  it('a stream without its header first, or with a second one, is INVALID_ARGUMENT and stores nothing', async () => {
    const header = { vmfile: wireVMFile('hdr-vm'), reference: 'demo/hdr:1', totalSize: String(2 * MiB) };
    const cases: Array<[string, Array<Record<string, unknown>>, RegExp]> = [
      ['ImportImageStream', [{ chunk: Buffer.alloc(MiB, 1) }], /first ImportImageStream message must carry the header \(vmfile, reference, total_size\)/],
      ['ImportImageStream', [{ header }, { chunk: Buffer.alloc(MiB, 1) }, { header }], /a second header arrived/],
      ['LoadImage', [], /first LoadImage message must carry the header \(reference, total_size\)/],
      ['LoadImage', [{ header: { reference: 'demo/hdr:2', totalSize: '1024' } }, { header: { reference: 'demo/hdr:2', totalSize: '1024' } }], /a second header arrived/],
    ];
    for (const [rpc, messages, message] of cases) {
      await assert.rejects(s.d.client.clientStream(rpc, messages),
        (e: { code: number; details: string }) => (e.code === 3 && message.test(e.details)) || assert.fail(`${rpc}: ${e.code} ${e.details}`));
    }
    const images = await s.d.client.call<{ images: unknown[] }>('ListLocalImages', {});
    assert.deepEqual(images.images, []);
  });
});
