// Socket access is not host access: ImportImageFile and ExportImage reach only paths.import /
// paths.export, judged on the opened descriptor; filesystem errors are INVALID_ARGUMENT / NOT_FOUND /
// PERMISSION_DENIED naming the field; nothing is left behind by a refusal (issues 15.1, 16.2, 16.5).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { requireService } from '../support/services.js';
import { makeRawDisk, tempDir, writeVMFile } from './helpers.js';

type Err = { code: number; details: string; metadata: { get(k: string): unknown[] } };
const field = (e: Err) => String(e.metadata.get('vmr-field')[0] ?? '');
const refused = (code: number, f: string, re?: RegExp) => (e: Err) => {
  assert.equal(e.code, code, `${e.code} ${e.details}`);
  assert.equal(field(e), f, e.details);
  if (re) assert.match(e.details, re);
  return true;
};

describe('daemon-side paths are confined to paths.import / paths.export', () => {
  let d: TestDaemon;
  let root: string;
  let inDir: string;
  let outDir: string;
  let outside: string;
  before(async () => {
    await requireService('packages');
    root = tempDir(undefined, 'vmr-hostpaths-');
    inDir = path.join(root, 'in');
    outDir = path.join(root, 'out');
    outside = path.join(root, 'outside');
    for (const x of [inDir, outDir, outside]) mkdirSync(x);
    // The data dir lies inside paths.export: it must stay unreachable anyway.
    d = await startTestDaemon({ dataDir: path.join(outDir, 'data'), config: { images: { windowSizeMiB: 1 }, paths: { import: [inDir], export: [outDir] } } });
    makeRawDisk(path.join(inDir, 'disk.raw'), [['text', 1]]);
    writeVMFile(inDir, './disk.raw', 'raw', 'confined');
    await d.client.stream('ImportImageFile', { vmfilePath: path.join(inDir, 'VMFile.yaml'), reference: 'confined:1' });
  });
  after(async () => {
    await d?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const exportTo = (outputPath: string, extra: Record<string, unknown> = {}) =>
    d.client.call('ExportImage', { reference: 'confined:1', outputPath, format: 'DISK', diskFormat: 'raw', ...extra });

  it('writes under paths.export, atomically, and refuses everything else with PERMISSION_DENIED naming paths.export', async () => {
    const ok = path.join(outDir, 'disk.raw');
    await exportTo(ok);
    assert.equal(statSync(ok).size, 1 << 20);
    assert.deepEqual(readdirSync(outDir).sort(), ['data', 'disk.raw'], 'no temp file left beside it');
    for (const p of [path.join(outside, 'x.raw'), '/etc/vmr-should-not-exist', path.join(inDir, 'x.raw')]) {
      await assert.rejects(exportTo(p), refused(status.PERMISSION_DENIED, 'output_path', /paths\.export/));
      assert.equal(existsSync(p), false);
    }
    assert.deepEqual(readdirSync(outside), []);
  });

  it('never touches the data dir, even when paths.export contains it', async () => {
    const state = path.join(d.dataDir, 'state.sqlite');
    const before = readFileSync(state);
    for (const p of [state, path.join(d.dataDir, 'images', 'x.raw'), d.dataDir]) {
      await assert.rejects(exportTo(p, { overwrite: true }), refused(status.PERMISSION_DENIED, 'output_path', /paths\.export/));
    }
    assert.deepEqual(readFileSync(state), before);
  });

  it('judges the directory by its descriptor: a symlinked dir leading outside is refused, a symlink at the name is replaced, not followed', async () => {
    const link = path.join(outDir, 'to-outside');
    symlinkSync(outside, link);
    await assert.rejects(exportTo(path.join(link, 'x.raw')), refused(status.PERMISSION_DENIED, 'output_path'));
    assert.deepEqual(readdirSync(outside), []);
    // overwrite of a name that is a symlink to a file outside replaces the link; the target keeps its bytes.
    const victim = path.join(outside, 'victim');
    writeFileSync(victim, 'keep');
    const named = path.join(outDir, 'named.raw');
    symlinkSync(victim, named);
    await assert.rejects(exportTo(named, { overwrite: true }), refused(status.FAILED_PRECONDITION, 'output_path'));
    assert.equal(readFileSync(victim, 'utf8'), 'keep');
    // overwrite replaces an earlier export of the daemon's, never a tree someone else owns (its removal could be raced).
    const layout = path.join(outDir, 'layout');
    await d.client.call('ExportImage', { reference: 'confined:1', outputPath: layout, format: 'OCI_LAYOUT_DIR' });
    await d.client.call('ExportImage', { reference: 'confined:1', outputPath: layout, format: 'OCI_LAYOUT_DIR', overwrite: true });
    assert.deepEqual(readdirSync(outDir).filter((f) => f.endsWith('.tmp')), []);
    if (process.getuid?.() === 0) {
      chownSync(layout, 65534, 65534);
      await assert.rejects(d.client.call('ExportImage', { reference: 'confined:1', outputPath: layout, format: 'OCI_LAYOUT_DIR', overwrite: true }),
        refused(status.FAILED_PRECONDITION, 'output_path', /did not write/));
    }
  });

  it('maps filesystem errors on output_path to INVALID_ARGUMENT / NOT_FOUND naming the field, never INTERNAL', async () => {
    const fifo = path.join(outDir, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    const cases: Array<[string, number]> = [
      [path.join(fifo, 'x'), status.INVALID_ARGUMENT],
      [`${outDir}/trailing/`, status.INVALID_ARGUMENT],
      [path.join(outDir, 'n'.repeat(300)), status.INVALID_ARGUMENT],
      [path.join(outDir, 'a\u0000b'), status.INVALID_ARGUMENT],
      ['relative/out', status.INVALID_ARGUMENT],
      [path.join(outDir, 'missing-dir', 'x'), status.NOT_FOUND],
      [path.join(outDir, 'disk.raw', 'below-a-file'), status.INVALID_ARGUMENT],
      [`/${'d'.repeat(5000)}/x`, status.INVALID_ARGUMENT],
    ];
    for (const [p, code] of cases) await assert.rejects(exportTo(p), refused(code, 'output_path'), JSON.stringify(p.slice(0, 60)));
  });

  it('ImportImageFile: stat first — FIFO, directory, device are INVALID_ARGUMENT at once, within the deadline', async () => {
    const fifo = path.join(inDir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    for (const p of [fifo, inDir, path.join(inDir, 'dir.yaml')]) {
      if (p.endsWith('dir.yaml')) mkdirSync(p);
      await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: p }, { deadlineMs: 10_000 }), refused(status.INVALID_ARGUMENT, 'vmfile_path', /not a regular file/));
    }
    // Outside paths.import a device is refused before its type matters.
    await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: '/dev/zero' }, { deadlineMs: 10_000 }), refused(status.PERMISSION_DENIED, 'vmfile_path', /paths\.import/));
    // Four FIFOs at once do not stall the daemon.
    await Promise.all([1, 2, 3, 4].map(() => assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: fifo }, { deadlineMs: 10_000 }))));
    await d.client.call('ListLocalImages', {}, { deadlineMs: 5_000 });
  });

  it('ImportImageFile: the VMFile size limit applies before reading; filesystem errors name the field', async () => {
    const big = path.join(inDir, 'big.yaml');
    writeFileSync(big, Buffer.alloc(2 << 20, 0x61));
    await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: big }), refused(status.INVALID_ARGUMENT, 'vmfile_path', /limit is 1048576/));
    const cases: Array<[string, number, string]> = [
      [`${inDir}/`, status.INVALID_ARGUMENT, 'vmfile_path'],
      [path.join(inDir, 'VMFile.yaml') + '/', status.INVALID_ARGUMENT, 'vmfile_path'],
      [path.join(inDir, 'f'.repeat(300)), status.INVALID_ARGUMENT, 'vmfile_path'],
      [path.join(inDir, 'a\u0000b'), status.INVALID_ARGUMENT, 'vmfile_path'],
      [path.join(inDir, 'nope.yaml'), status.NOT_FOUND, 'vmfile_path'],
      [path.join(outside, 'VMFile.yaml'), status.NOT_FOUND, 'vmfile_path'],
      ['VMFile.yaml', status.INVALID_ARGUMENT, 'vmfile_path'],
    ];
    for (const [p, code, f] of cases) await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: p }), refused(code, f), JSON.stringify(p.slice(-40)));
    writeFileSync(path.join(outside, 'VMFile.yaml'), readFileSync(path.join(inDir, 'VMFile.yaml')));
    await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: path.join(outside, 'VMFile.yaml') }), refused(status.PERMISSION_DENIED, 'vmfile_path', /paths\.import/));
  });

  it('ImportImageFile: a disk outside paths.import, or a symlink at the final component, is refused and nothing is stored', async () => {
    const before = (await d.client.call('ListLocalImages')).images.length;
    const vmdir = mkdtempSync(path.join(inDir, 'vm-'));
    makeRawDisk(path.join(outside, 'secret.raw'), [['text', 1]]);
    writeVMFile(vmdir, '../../outside/secret.raw', 'raw', 'escape');
    await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: path.join(vmdir, 'VMFile.yaml'), allowOutsidePaths: true }),
      refused(status.PERMISSION_DENIED, 'spec.disk.path', /paths\.import/));
    await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: path.join(vmdir, 'VMFile.yaml') }), refused(status.INVALID_ARGUMENT, 'spec.disk.path'));
    symlinkSync(path.join(outside, 'secret.raw'), path.join(vmdir, 'disk.raw'));
    writeVMFile(vmdir, './disk.raw', 'raw', 'escape');
    await assert.rejects(d.client.stream('ImportImageFile', { vmfilePath: path.join(vmdir, 'VMFile.yaml') }), refused(status.INVALID_ARGUMENT, 'spec.disk.path', /symbolic link/));
    assert.equal((await d.client.call('ListLocalImages')).images.length, before);
    assert.deepEqual(readdirSync(path.join(d.dataDir, 'images', 'tmp')), []);
  });

  it('ValidateVMFile probes the disk only under paths.import; elsewhere it checks the text and says so', async () => {
    const content = readFileSync(path.join(inDir, 'VMFile.yaml'), 'utf8');
    const inside = await d.client.call('ValidateVMFile', { content: content.replace('format: raw', 'format: qcow2'), baseDir: inDir });
    assert.equal(inside.valid, false, 'the disk was read: its real format is raw');
    makeRawDisk(path.join(outside, 'disk.raw'), [['text', 1]]);
    const out = await d.client.call('ValidateVMFile', { content: content.replace('format: raw', 'format: qcow2'), baseDir: outside });
    assert.equal(out.valid, true);
    assert.match(out.warnings.map((w: { message: string }) => w.message).join('\n'), /not checked: base_dir is outside the daemon's paths\.import/);
  });

  it('a symlink swapped in while importing never wins: every import that succeeds has the inside bytes', async () => {
    const vmdir = mkdtempSync(path.join(inDir, 'race-'));
    makeRawDisk(path.join(vmdir, 'real.raw'), [['zero', 1]]);
    const secret = path.join(outside, 'race-secret.raw');
    makeRawDisk(secret, [['rand', 1]]);
    writeVMFile(vmdir, './disk.raw', 'raw', 'race');
    const disk = path.join(vmdir, 'disk.raw');
    const asFile = path.join(vmdir, 'as-file');
    const asLink = path.join(vmdir, 'as-link');
    writeFileSync(asFile, readFileSync(path.join(vmdir, 'real.raw')));
    let stop = false;
    const swapper = (async () => {
      // Flip disk.raw between a regular file inside and a symlink to the secret outside.
      for (let i = 0; !stop; i++) {
        rmSync(asLink, { force: true });
        symlinkSync(secret, asLink);
        renameSync(asLink, disk);
        await new Promise((r) => setImmediate(r));
        writeFileSync(asFile, readFileSync(path.join(vmdir, 'real.raw')));
        renameSync(asFile, disk);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const digests = new Set<string>();
    try {
      for (let i = 0; i < 12; i++) {
        try {
          const ev = await d.client.stream('ImportImageFile', { vmfilePath: path.join(vmdir, 'VMFile.yaml'), reference: 'race:1' });
          digests.add(ev.at(-1)!.import.digest);
        } catch (e) {
          assert.ok([status.INVALID_ARGUMENT, status.PERMISSION_DENIED, status.NOT_FOUND].includes((e as Err).code), (e as Err).details);
        }
      }
    } finally {
      stop = true;
      await swapper;
    }
    for (const digest of digests) {
      const m = await d.client.call('GetImageManifest', { reference: digest });
      // The inside disk is all zeros: no window was stored.
      assert.deepEqual(JSON.parse(m.manifestJson).layers, [], 'the secret was never imported');
    }
  });
});
