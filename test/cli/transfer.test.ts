// vmr export / save / load move bytes through the socket: the CLI writes and reads files with the user's
// own permissions, the daemon (whose paths.export allows nothing here) never opens them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { requireService } from '../support/services.js';
import { makeRawDisk, sha256File, tempDir, writeVMFile } from '../images/helpers.js';
import { vmr } from './support/runVmr.js';

describe('vmr export, save and load through the socket', () => {
  let d: TestDaemon;
  let dir: string;
  let disk: { size: number; sha256: string };
  const run = (args: string[], opts: Parameters<typeof vmr>[1] = {}) => vmr(['--host', `unix://${d.socket}`, ...args], { cwd: dir, ...opts });
  before(async () => {
    await requireService('packages');
    dir = tempDir(undefined, 'vmr-transfer-');
    d = await startTestDaemon({ config: { images: { windowSizeMiB: 1 } } });
    disk = makeRawDisk(path.join(dir, 'disk.raw'), [['text', 1], ['zero', 1], ['rand', 1]]);
    writeVMFile(dir, './disk.raw', 'raw', 'transfer');
    const r = await run(['import', '-q', '-t', 'demo/transfer:1', 'VMFile.yaml']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await d?.stop();
    execFileSync('rm', ['-rf', dir]);
  });

  it('export --format disk writes the raw bytes locally; qcow2 converts; --on-daemon is refused outside paths.export', async () => {
    const raw = await run(['export', '-q', '--format', 'disk', 'demo/transfer:1', 'out.raw']);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(sha256File(path.join(dir, 'out.raw')), disk.sha256);
    assert.equal(statSync(path.join(dir, 'out.raw')).uid, process.getuid!());
    const q = await run(['export', '-q', '--format', 'disk', '--disk-format', 'qcow2', 'demo/transfer:1', 'out.qcow2']);
    assert.equal(q.code, 0, q.stderr);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', path.join(dir, 'out.qcow2'), path.join(dir, 'disk.raw')]);
    const again = await run(['export', '--format', 'disk', 'demo/transfer:1', 'out.raw']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
    const onDaemon = await run(['export', '--on-daemon', '--format', 'disk', 'demo/transfer:1', 'daemon.raw']);
    assert.equal(onDaemon.code, 1);
    assert.match(onDaemon.stderr, /paths\.export/);
    assert.equal(existsSync(path.join(dir, 'daemon.raw')), false);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  it('export --format oci unpacks a layout skopeo reads; save/load round-trip keeps the digest', async () => {
    const lay = await run(['export', '-q', 'demo/transfer:1', 'layout']);
    assert.equal(lay.code, 0, lay.stderr);
    const idx = JSON.parse(readFileSync(path.join(dir, 'layout', 'index.json'), 'utf8'));
    const { digest } = await d.client.call('GetImageManifest', { reference: 'demo/transfer:1' });
    assert.equal(idx.manifests[0].digest, digest);
    execFileSync('skopeo', ['inspect', '--raw', `oci:${path.join(dir, 'layout')}:demo/transfer:1`]);

    const saved = await run(['save', '-q', 'demo/transfer:1', '-o', 'img.tar']);
    assert.equal(saved.code, 0, saved.stderr);
    execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${path.join(dir, 'img.tar')}:demo/transfer:1`]);
    const piped = await run(['save', 'demo/transfer:1']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.stdout.length > 0);

    await d.client.call('DeleteImage', { reference: 'demo/transfer:1' });
    const loaded = await run(['--json', 'load', '-i', 'img.tar', '-t', 'demo/loaded:1']);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.equal(JSON.parse(loaded.stdout).digest, digest);
    const fromStdin = await run(['--json', 'load'], { input: readFileSync(path.join(dir, 'img.tar')) });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(JSON.parse(fromStdin.stdout).reference, 'demo/transfer:1');
  });

  it('load refuses an archive with a link or an escaping name, and stores nothing', async () => {
    const evil = mkdtempSync(path.join(dir, 'evil-'));
    writeFileSync(path.join(evil, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    execFileSync('ln', ['-s', '/etc/passwd', path.join(evil, 'index.json')]);
    execFileSync('tar', ['-cf', path.join(dir, 'evil.tar'), '-C', evil, 'oci-layout', 'index.json']);
    const before = (await d.client.call('ListLocalImages')).images?.length ?? 0;
    const r = await run(['load', '-i', 'evil.tar']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /link, device or FIFO/);
    writeFileSync(path.join(dir, 'junk.tar'), 'not a tar at all'.repeat(100));
    const junk = await run(['load', '-i', 'junk.tar']);
    assert.equal(junk.code, 1);
    assert.equal((await d.client.call('ListLocalImages')).images?.length ?? 0, before);
    assert.deepEqual(readdirSync(path.join(d.dataDir, 'images', 'tmp')), []);
  });
});
