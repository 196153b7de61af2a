// Streaming commands: import uploads the disk in 1 MiB chunks, the other imports, and Ctrl-C cancelling
// a pull on the daemon.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startFakeDaemon, status, type FakeDaemon } from './support/fakeServer.js';
import { vmr } from './support/runVmr.js';

let fake: FakeDaemon;
let dir: string;
let disk: Buffer;
const run = (args: string[], opts: Parameters<typeof vmr>[1] = {}) => vmr(['--host', fake.target, ...args], opts);

const vmfileYaml = `api_version: vmregistry.io/v1alpha1
kind: VMFile
metadata:
  name: tiny
  labels: { os_family: linux }
spec:
  disk: { path: disks/tiny.raw, format: raw }
  resources: { memory_mb: 256, vcpu_count: 1 }
  os: { architecture: x86_64, firmware: bios }
`;

before(async () => {
  fake = await startFakeDaemon();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-import-'));
  await fs.mkdir(path.join(dir, 'disks'));
  disk = randomBytes(3.5 * 1024 * 1024);
  await fs.writeFile(path.join(dir, 'disks/tiny.raw'), disk);
  await fs.writeFile(path.join(dir, 'vmfile.yaml'), vmfileYaml);
});
after(async () => {
  await fake.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('import', () => {
  test('streams the disk in 1 MiB chunks after a header with the VMFile in wire form', async () => {
    const r = await run(['import', '-t', 'tiny:1', path.join(dir, 'vmfile.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    const got = fake.last('ImportImageStream');
    assert.equal(got.bytes, disk.length);
    assert.equal(got.chunks, 4);
    assert.equal(got.maxChunk, 1024 * 1024);
    assert.equal(got.header.totalSize, String(disk.length));
    assert.equal(got.header.reference, 'tiny:1');
    assert.equal(got.header.sha256, '', 'no first pass without --verify');
    assert.equal(got.header.vmfile.apiVersion, 'vmregistry.io/v1alpha1');
    assert.deepEqual(got.header.vmfile.metadata.labels, { os_family: 'linux' });
    assert.equal(got.header.vmfile.spec.resources.memoryMb, 256);
    assert.equal(got.header.vmfile.spec.disk.path, 'disks/tiny.raw');
    const sha = createHash('sha256').update(disk).digest('hex');
    assert.equal(r.stdout, `Imported tiny:1\nDigest: sha256:${sha}\nSize: 3.67MB\n`);
    assert.match(r.stderr, /upload\s+100%\s+3\.67MB\/3\.67MB\s+tiny\.raw/);
  });

  test('all-zero MiBs are not sent: a `zeros` message counts each run of them', async () => {
    const MiB = 1024 * 1024;
    const holey = Buffer.concat([randomBytes(MiB), Buffer.alloc(2 * MiB), randomBytes(MiB), Buffer.alloc(MiB + 5)]);
    await fs.writeFile(path.join(dir, 'disks/holey.raw'), holey);
    await fs.writeFile(path.join(dir, 'holey.yaml'), vmfileYaml.replace('disks/tiny.raw', 'disks/holey.raw'));
    const r = await run(['import', '--verify', path.join(dir, 'holey.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    const got = fake.last('ImportImageStream');
    assert.equal(got.chunks, 2, 'only the two MiBs with data travel as chunks');
    assert.deepEqual(got.zeroRuns, [2 * MiB, MiB + 5], 'a run between chunks, and the tail');
    assert.equal(got.bytes, holey.length);
    assert.equal(got.sha256, createHash('sha256').update(holey).digest('hex'));
    assert.equal(got.header.sha256, got.sha256, '--verify hashes the zeros too');
  });

  test('--verify sends the sha256; --json prints the ImportImageResponse', async () => {
    const r = await run(['--json', 'image', 'import', '--verify', path.join(dir, 'vmfile.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    const sha = createHash('sha256').update(disk).digest('hex');
    assert.equal(fake.last('ImportImageStream').header.sha256, sha);
    assert.deepEqual(JSON.parse(r.stdout), { reference: 'tiny:latest', digest: `sha256:${sha}`, size: String(disk.length) });
  });

  test('a daemon that refuses mid-stream: its message, exit 1', async () => {
    const saved = fake.handlers.ImportImageStream;
    fake.handlers.ImportImageStream = (call: grpc.ServerReadableStream<any, any>) => new Promise((_resolve, reject) => {
      call.once('data', () => reject(status(grpc.status.RESOURCE_EXHAUSTED, 'disk full: 3 MB free, 4 MB needed')));
    });
    try {
      const r = await run(['import', path.join(dir, 'vmfile.yaml')]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').pop(), 'Error: disk full: 3 MB free, 4 MB needed');
    } finally {
      fake.handlers.ImportImageStream = saved;
    }
  });

  test('--on-daemon sends the absolute VMFile path; --inline sends the bytes in one message', async () => {
    const rel = path.relative(process.cwd(), path.join(dir, 'vmfile.yaml'));
    const r = await run(['import', '--on-daemon', '--allow-outside-paths', rel]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.last('ImportImageFile'), { vmfilePath: path.join(dir, 'vmfile.yaml'), reference: '', allowOutsidePaths: true });
    assert.match(r.stdout, /^Imported from-daemon:latest/);
    const i = await run(['--json', 'import', '--inline', path.join(dir, 'vmfile.yaml')]);
    assert.equal(i.code, 0, i.stderr);
    assert.equal(fake.last('ImportImage').diskData.length, disk.length);
    assert.equal(JSON.parse(i.stdout).size, String(disk.length));
  });

  test('a VMFile without a readable disk is a usage error and nothing is sent', async () => {
    await fs.writeFile(path.join(dir, 'broken.yaml'), vmfileYaml.replace('disks/tiny.raw', 'disks/none.raw'));
    await fs.writeFile(path.join(dir, 'nodisk.yaml'), 'kind: VMFile\nmetadata: { name: x }\n');
    const before = fake.calls.length;
    const r = await run(['import', path.join(dir, 'broken.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error: cannot read the disk ".*disks\/none\.raw" named by spec\.disk\.path: ENOENT\n$/);
    const n = await run(['import', path.join(dir, 'nodisk.yaml')]);
    assert.equal(n.code, 2);
    assert.match(n.stderr, /has no spec\.disk\.path/);
    assert.equal(fake.calls.length, before);
  });

  test('validate sends the text and its directory; an invalid file exits 1 with every issue', async () => {
    const ok = await run(['validate', path.join(dir, 'vmfile.yaml')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(fake.last('ValidateVMFile'), { content: vmfileYaml, baseDir: dir, allowOutsidePaths: false });
    await fs.writeFile(path.join(dir, 'bad.yaml'), 'bad: true\n');
    const bad = await run(['validate', path.join(dir, 'bad.yaml')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^error: spec\.disk\.format \(line 7\): must be qcow2 or raw\n.*bad\.yaml: invalid \(1 error\)\n$/);
  });
});

describe('Ctrl-C', () => {
  test('cancels the pull on the daemon, prints "cancelled" and exits 130', async () => {
    const saved = fake.handlers.PullImageWithProgress;
    fake.handlers.PullImageWithProgress = (_req: unknown, call: grpc.ServerWritableStream<any, any>) => new Promise<void>((resolve) => {
      call.write({ progress: { phase: 'download', item: 'disk', current: '10', total: '100', unit: 'bytes', message: '' } });
      call.on('cancelled', () => resolve());
    });
    try {
      let sent = false;
      const r = await run(['pull', 'slow:1'], {
        onSpawn: (child) => child.stderr!.on('data', (d: Buffer) => {
          if (!sent && d.toString().includes('download')) {
            sent = true;
            child.kill('SIGINT');
          }
        }),
      });
      assert.ok(sent, 'progress was shown before Ctrl-C');
      assert.equal(r.code, 130);
      assert.match(r.stderr, /\ncancelled\n$/);
      assert.equal(r.stdout, '');
      // The server saw the cancellation (it may arrive a moment after the client exits).
      for (let i = 0; i < 50 && !fake.cancelled.includes('PullImageWithProgress'); i++) await new Promise((res) => setTimeout(res, 100));
      assert.ok(fake.cancelled.includes('PullImageWithProgress'));
    } finally {
      fake.handlers.PullImageWithProgress = saved;
    }
  });
});
