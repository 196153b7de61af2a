// The daemon SIGKILLed in the middle of an import, a push and a pull (real docker-registry), then
// restarted on the same data dir: SystemCheck finds nothing corrupt or half-visible, and the retried
// operation completes with the same digests.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { VmClient } from '../../src/testing/client.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { KillableDaemon } from '../support/killableDaemon.js';
import { requireService } from '../support/services.js';

const vmfile = { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'kill' },
  spec: { disk: { path: 'kill.raw', format: 'raw' }, resources: { memoryMb: 128, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } } };

describe('SIGKILL during import, push and pull', () => {
  let dir: string;
  let registry: TestRegistry;
  let daemon: KillableDaemon | undefined;
  const sock = () => path.join(dir, 'vmr.sock');
  const disk = randomBytes(48 << 20); // incompressible: 12 windows of 4 MiB, enough time to land a kill mid-way
  const sha = createHash('sha256').update(disk).digest('hex');

  async function assertClean(c: VmClient) {
    const chk = await c.call('SystemCheck', { verifyDisks: true });
    assert.equal(chk.ok, true, `store damaged after SIGKILL: ${JSON.stringify(chk)}`);
    return chk;
  }

  before(async () => {
    await requireService('packages');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-kill-'));
    await chmod(dir, 0o755);
    daemon = new KillableDaemon(dir);
    await writeFile(path.join(dir, 'config.yaml'), 'plugins:\n  registry-oci: {}\nimages: { windowSizeMiB: 4 }\n');
    registry = await startRegistry();
  });
  after(async () => {
    await daemon?.kill();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('import killed mid-stream stores nothing visible; the retry succeeds', async () => {
    const c = await daemon!.start();
    await c.call('ContextCreate', { context: { name: 'reg', registryUrl: registry.host, insecureRegistry: true }, use: true });
    const chunks = async function* () {
      yield { header: { vmfile, reference: 'kill:1', totalSize: String(disk.length), sha256: sha } };
      for (let o = 0; o < disk.length; o += 1 << 20) {
        if (o === 24 << 20) await daemon!.kill(); // half way: the daemon dies under the stream
        yield { chunk: disk.subarray(o, o + (1 << 20)) };
      }
    };
    await assert.rejects(c.clientStream('ImportImageStream', chunks()));
    const c2 = await daemon!.start();
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
    const c = daemon!.client!;
    const local = (await c.call('ListLocalImages')).images[0];
    let killed = false;
    await assert.rejects(c.stream('PushImageWithProgress', { reference: 'kill:1', destination: 'kill/img:1' }, {
      onMessage: (m: any) => {
        if (!killed && m.progress?.phase === 'upload' && Number(m.progress.current) > 0) { killed = true; void daemon!.kill(); }
      },
    }));
    assert.ok(killed, 'the kill landed during the upload');
    const c2 = await daemon!.start();
    await assertClean(c2);
    const pushed = await c2.call('PushImage', { reference: 'kill:1', destination: 'kill/img:1' });
    assert.equal(pushed.digest, local.digest);
  });

  it('pull killed mid-download makes nothing visible; the retry completes and the base disk verifies', async () => {
    let c = daemon!.client!;
    const want = (await c.call('ListLocalImages')).images[0].digest;
    await c.call('DeleteImage', { reference: 'kill:1' });
    await c.call('GarbageCollect', {});
    let killed = false;
    await assert.rejects(c.stream('PullImageWithProgress', { reference: 'kill/img:1' }, {
      onMessage: (m: any) => {
        if (!killed && m.progress?.phase === 'download' && Number(m.progress.current) > 0) { killed = true; void daemon!.kill(); }
      },
    }));
    assert.ok(killed, 'the kill landed during the download');
    c = await daemon!.start();
    assert.deepEqual((await c.call('ListLocalImages')).images, [], 'no half-pulled image is visible');
    await assertClean(c);
    const pulled = await c.call('PullImage', { reference: 'kill/img:1' });
    assert.equal(pulled.digest, want);
    const chk = await assertClean(c);
    assert.equal(chk.checkedDisks, '1', 'the pulled base disk was verified window by window');
    await daemon!.kill();
  });
});
