// The daemon SIGKILLed in the middle of an import, a push and a pull (real docker-registry), then
// restarted on the same data dir: SystemCheck finds nothing corrupt or half-visible, and the retried
// operation completes with the same digests.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { VmClient } from '../../src/testing/client.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { repoRoot, requireService } from '../support/services.js';

const BIN = path.join(repoRoot, 'dist/src/bin/vmregistryd.js');
const vmfile = { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'kill' },
  spec: { disk: { path: 'kill.raw', format: 'raw' }, resources: { memoryMb: 128, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } } };

describe('SIGKILL during import, push and pull', () => {
  let dir: string;
  let registry: TestRegistry;
  let proc: ChildProcess | undefined;
  let client: VmClient | undefined;
  const sock = () => path.join(dir, 'vmr.sock');
  const disk = randomBytes(48 << 20); // incompressible: 12 windows of 4 MiB, enough time to land a kill mid-way
  const sha = createHash('sha256').update(disk).digest('hex');

  async function startDaemon(): Promise<VmClient> {
    proc = spawn(process.execPath, [BIN, '--config', path.join(dir, 'config.yaml'), '--socket', sock(), '--data-dir', path.join(dir, 'data')],
      { env: { ...process.env, VMR_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (b) => { err += b; });
    const c = new VmClient(sock());
    for (let i = 0; ; i++) {
      try {
        await c.call('HealthCheck', {}, { deadlineMs: 2000 });
        break;
      } catch (e) {
        if (i > 100 || proc.exitCode !== null) throw new Error(`daemon did not come up: ${err || (e as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    client = c;
    return c;
  }

  async function kill(): Promise<void> {
    const p = proc!;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
    client?.close();
  }

  async function assertClean(c: VmClient) {
    const chk = await c.call('SystemCheck', { verifyDisks: true });
    assert.equal(chk.ok, true, `store damaged after SIGKILL: ${JSON.stringify(chk)}`);
    return chk;
  }

  before(async () => {
    await requireService('packages');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-kill-'));
    await chmod(dir, 0o755);
    await writeFile(path.join(dir, 'config.yaml'), 'plugins:\n  registry-oci: {}\nimages: { windowSizeMiB: 4 }\n');
    registry = await startRegistry();
  });
  after(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    client?.close();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('import killed mid-stream stores nothing visible; the retry succeeds', async () => {
    const c = await startDaemon();
    await c.call('ContextCreate', { context: { name: 'reg', registryUrl: registry.host, insecureRegistry: true }, use: true });
    const chunks = async function* () {
      yield { header: { vmfile, reference: 'kill:1', totalSize: String(disk.length), sha256: sha } };
      for (let o = 0; o < disk.length; o += 1 << 20) {
        if (o === 24 << 20) await kill(); // half way: the daemon dies under the stream
        yield { chunk: disk.subarray(o, o + (1 << 20)) };
      }
    };
    await assert.rejects(c.clientStream('ImportImageStream', chunks()));
    const c2 = await startDaemon();
    assert.deepEqual((await c2.call('ListLocalImages')).images, []);
    await assertClean(c2);
    const whole = async function* () {
      yield { header: { vmfile, reference: 'kill:1', totalSize: String(disk.length), sha256: sha } };
      for (let o = 0; o < disk.length; o += 1 << 20) yield { chunk: disk.subarray(o, o + (1 << 20)) };
    };
    const done = await c2.clientStream('ImportImageStream', whole());
    assert.match(done.digest, /^sha256:/);
  });

  it('push killed mid-upload leaves the store intact; the retry pushes the same digest', async () => {
    const c = client!;
    const local = (await c.call('ListLocalImages')).images[0];
    let killed = false;
    await assert.rejects(c.stream('PushImageWithProgress', { reference: 'kill:1', destination: 'kill/img:1' }, {
      onMessage: (m: any) => {
        if (!killed && m.progress?.phase === 'upload' && Number(m.progress.current) > 0) { killed = true; void kill(); }
      },
    }));
    assert.ok(killed, 'the kill landed during the upload');
    const c2 = await startDaemon();
    await assertClean(c2);
    const pushed = await c2.call('PushImage', { reference: 'kill:1', destination: 'kill/img:1' });
    assert.equal(pushed.digest, local.digest);
  });

  it('pull killed mid-download makes nothing visible; the retry completes and the base disk verifies', async () => {
    let c = client!;
    const want = (await c.call('ListLocalImages')).images[0].digest;
    await c.call('DeleteImage', { reference: 'kill:1' });
    await c.call('GarbageCollect', {});
    let killed = false;
    await assert.rejects(c.stream('PullImageWithProgress', { reference: 'kill/img:1' }, {
      onMessage: (m: any) => {
        if (!killed && m.progress?.phase === 'download' && Number(m.progress.current) > 0) { killed = true; void kill(); }
      },
    }));
    assert.ok(killed, 'the kill landed during the download');
    c = await startDaemon();
    assert.deepEqual((await c.call('ListLocalImages')).images, [], 'no half-pulled image is visible');
    await assertClean(c);
    const pulled = await c.call('PullImage', { reference: 'kill/img:1' });
    assert.equal(pulled.digest, want);
    const chk = await assertClean(c);
    assert.equal(chk.checkedDisks, '1', 'the pulled base disk was verified window by window');
    await kill();
  });
});
