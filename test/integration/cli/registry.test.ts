// vmr through the real daemon, the registry-oci plugin and a real docker-registry on loopback:
// import a VMFile, push it, remove it locally, pull it back with progress.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import registryOciPlugin from '../../../src/plugins/registry-oci/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { optedOut, requireService } from '../../support/services.js';
import { vmr } from '../../cli/support/runVmr.js';

describe('vmr push and pull against a real registry', { skip: optedOut('registry') }, () => {
  let reg: TestRegistry;
  let d: TestDaemon;
  let dir: string;
  const run = (args: string[]) => vmr(['--host', `unix://${d.socket}`, ...args], { timeoutMs: 180_000 });

  before(async () => {
    await requireService('packages');
    reg = await startRegistry();
    d = await startTestDaemon({ plugins: [registryOciPlugin], pluginConfig: { 'registry-oci': { concurrency: 2, chunkSize: 1 << 20 } } });
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-int-'));
    // Not all zeros: zero windows may be skipped, and we want real bytes on the wire.
    const disk = Buffer.alloc(4 << 20);
    for (let i = 0; i < disk.length; i += 4096) disk.writeUInt32LE(i, i);
    await writeFile(path.join(dir, 'disk.raw'), disk);
    await writeFile(path.join(dir, 'vmfile.yaml'), 'api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: demo }\n' +
      'spec: { disk: { path: disk.raw, format: raw }, resources: { memory_mb: 256, vcpu_count: 1 } }\n');
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('import, context, push, rmi, pull: digests match and progress is shown', async () => {
    const imp = await run(['--json', 'import', '-t', 'vm/demo:1', path.join(dir, 'vmfile.yaml')]);
    assert.equal(imp.code, 0, imp.stderr + imp.stdout);
    const { digest } = JSON.parse(imp.stdout);

    const ctx = await run(['context', 'create', '--registry', reg.host, '--insecure-registry', '--use', 'lab']);
    assert.equal(ctx.code, 0, ctx.stderr);

    const push = await run(['push', 'vm/demo:1']);
    assert.equal(push.code, 0, push.stderr + push.stdout);
    assert.match(push.stdout, new RegExp(`digest: ${digest}`));

    assert.equal((await run(['rmi', 'vm/demo:1'])).code, 0);
    assert.equal((await run(['gc'])).code, 0);

    const pull = await run(['pull', 'vm/demo:1']);
    assert.equal(pull.code, 0, pull.stderr + pull.stdout);
    assert.match(pull.stdout, new RegExp(`^Digest: ${digest}$`, 'm'));
    assert.match(pull.stderr, /\d+%/, 'progress lines while pulling');
    const images = JSON.parse((await run(['--json', 'images'])).stdout);
    assert.ok(images.images.some((i: { digest: string }) => i.digest === digest), JSON.stringify(images));

    const missing = await run(['pull', 'vm/nope:1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: /m);
  });
});
