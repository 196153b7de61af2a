// Every RPC through the real daemon: the real image store, loader and gRPC, with the in-memory
// hypervisor/networks/registry/auth plugins and the real compose plugin on top of them.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { randomBytes, createHash } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fakeAuthPlugin, fakeLibvirtPlugin, fakeRegistryPlugin, startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import composePlugin from '../../src/plugins/compose/index.js';
import { requireService } from '../support/services.js';

const vmfile = { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'tiny', labels: { os: 'none' } },
  spec: { disk: { path: 'tiny.raw', format: 'raw' }, resources: { memoryMb: 256, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } } };

describe('every RPC end to end on fakes', () => {
  let td: TestDaemon;
  let disk: Buffer;
  let work: string;
  before(async () => {
    await requireService('packages');
    work = await mkdtemp(path.join(os.tmpdir(), 'vmrt-e2e-'));
    await chmod(work, 0o755);
    disk = Buffer.concat([randomBytes(1 << 20), Buffer.alloc(3 << 20)]);
    td = await startTestDaemon({ plugins: [fakeLibvirtPlugin(), fakeRegistryPlugin(), fakeAuthPlugin({ alice: 'wonderland' }), composePlugin], config: { paths: { import: [work], export: [work] } } });
    await td.client.call('ContextCreate', { context: { name: 'lab', registryUrl: 'registry.test:5000' }, use: true });
  });
  after(async () => { await td?.stop(); await rm(work, { recursive: true, force: true }); });

  it('imports inline and streamed, lists, inspects, tags, validates', async () => {
    const inline = await td.client.call('ImportImage', { vmfile, diskData: disk, reference: 'tiny:1' });
    assert.match(inline.digest, /^sha256:[0-9a-f]{64}$/);
    const sha = createHash('sha256').update(disk).digest('hex');
    const chunks = function* () {
      yield { header: { vmfile, reference: 'tiny:streamed', totalSize: String(disk.length), sha256: sha } };
      for (let o = 0; o < disk.length; o += 256 << 10) yield { chunk: disk.subarray(o, o + (256 << 10)) };
    };
    const streamed = await td.client.clientStream('ImportImageStream', chunks());
    assert.match(streamed.digest, /^sha256:/);
    // Same disk bytes: the layers are shared, only the config (its created time) differs.
    const [a, b] = await Promise.all(['tiny:1', 'tiny:streamed'].map((r) => td.client.call('GetImageManifest', { reference: r })));
    assert.deepEqual(JSON.parse(a.manifestJson).layers, JSON.parse(b.manifestJson).layers);
    const bad = function* () {
      yield { header: { vmfile, reference: 'tiny:bad', totalSize: String(disk.length), sha256: '0'.repeat(64) } };
      yield { chunk: disk };
    };
    await assert.rejects(td.client.clientStream('ImportImageStream', bad()), (e: any) => e.code === status.DATA_LOSS);
    const list = await td.client.call('ListLocalImages');
    assert.deepEqual(list.images.map((i: any) => i.reference).sort(), ['tiny:1', 'tiny:streamed']);
    const m = await td.client.call('GetImageManifest', { reference: 'tiny:1' });
    assert.equal(JSON.parse(m.manifestJson).artifactType, 'application/vnd.vmregistry.vm.v1');
    const t = await td.client.call('TagImage', { source: 'tiny:1', target: 'tiny:2' });
    assert.equal(t.digest, inline.digest);
    await writeFile(path.join(work, 'tiny.raw'), disk);
    const v = await td.client.call('ValidateVMFile', { content: JSON.stringify(vmfile), baseDir: work });
    assert.equal(v.valid, true, JSON.stringify(v.errors));
    const v2 = await td.client.call('ValidateVMFile', { content: 'api_version: nope\nkind: VMFile\n', baseDir: work });
    assert.equal(v2.valid, false);
    assert.ok(v2.errors.length >= 2, 'all problems at once');
    const exported = await td.client.stream('ExportImageWithProgress', { reference: 'tiny:1', outputPath: path.join(work, 'layout'), format: 'OCI_LAYOUT_DIR' });
    assert.equal(exported.at(-1)!.export.digest, inline.digest);
  });

  it('runs VMs from images, refuses to delete an image in use, lists and removes them', async () => {
    const run = await td.client.call('RunVM', { image: 'tiny:1', name: 'web', options: { labels: { tier: 'front' }, waitForIp: true } });
    assert.equal(run.status, 'running');
    assert.equal(run.ipAddresses.length, 1);
    await assert.rejects(td.client.call('RunVM', { image: 'tiny:1', name: 'web' }), (e: any) => e.code === status.ALREADY_EXISTS);
    await assert.rejects(td.client.call('RunVM', { image: 'nope:1', name: 'x' }), (e: any) => e.code === status.NOT_FOUND);
    await assert.rejects(td.client.call('RunVM', { image: 'tiny:1', name: 'bad/name' }), (e: any) => e.code === status.INVALID_ARGUMENT);
    const ps = await td.client.call('PsVMs');
    assert.equal(ps.vms[0].name, 'web');
    assert.equal(ps.vms[0].memoryMb, 256, 'defaults come from the VMFile');
    assert.equal(ps.vms[0].labels.tier, 'front');
    await td.client.call('DeleteImage', { reference: 'tiny:2' }); // another tag still points at it: allowed
    await assert.rejects(td.client.call('DeleteImage', { reference: 'tiny:1' }), (e: any) => e.code === status.FAILED_PRECONDITION && /web/.test(e.details));
    const gc1 = await td.client.call('GarbageCollect', { dryRun: true });
    assert.equal(gc1.removedManifests.length, 0, 'nothing of a used image is collectable');
    assert.equal((await td.client.call('StopVM', { vm: 'web', force: true })).status, 'stopped');
    assert.equal((await td.client.call('StartVM', { vm: 'web' })).status, 'running');
    assert.equal((await td.client.call('RestartVM', { vm: 'web' })).status, 'running');
    await assert.rejects(td.client.call('DeleteVM', { vm: 'web' }), (e: any) => e.code === status.FAILED_PRECONDITION);
    await td.client.call('DeleteVM', { vm: 'web', force: true });
    assert.equal((await td.client.call('ListVMs')).vms.length, 0);
  });

  it('pushes to and pulls from the registry with progress, and RunVM pulls a missing image', async () => {
    const pushed = await td.client.call('PushImage', { reference: 'tiny:1', destination: 'demo/tiny:1' });
    assert.equal(pushed.reference, 'registry.test:5000/demo/tiny:1');
    await td.client.call('DeleteImage', { reference: 'tiny:1' });
    await td.client.call('DeleteImage', { reference: 'tiny:streamed' });
    const gc = await td.client.call('GarbageCollect', {});
    assert.ok(gc.removedBlobs.length > 0 && Number(gc.freedBytes) > 0);
    const events = await td.client.stream('PullImageWithProgress', { reference: 'demo/tiny:1' });
    assert.ok(events.some((e: any) => e.progress), 'progress events before the result');
    assert.equal(events.at(-1)!.pull.digest, pushed.digest);
    await td.client.call('DeleteImage', { reference: events.at(-1)!.pull.reference });
    const run = await td.client.call('RunVM', { image: 'demo/tiny:1', name: 'pulled' });
    assert.equal(run.status, 'running');
    await td.client.call('DeleteVM', { vm: 'pulled', force: true });
    await assert.rejects(td.client.call('PullImage', { reference: 'demo/none:1' }), (e: any) => e.code === status.NOT_FOUND);
  });

  it('manages networks', async () => {
    const n = await td.client.call('NetworkCreate', { name: 'backend', mode: 'isolated', subnet: '10.77.0.0/24', dhcp: true, activate: true });
    assert.equal(n.network.active, true);
    await assert.rejects(td.client.call('NetworkCreate', { name: 'clash', subnet: '10.77.0.0/25' }), (e: any) => e.code === status.FAILED_PRECONDITION || e.code === status.INVALID_ARGUMENT);
    await assert.rejects(td.client.call('NetworkCreate', { name: 'm', mode: 'warp' }), (e: any) => e.code === status.INVALID_ARGUMENT && /mode/.test(e.details));
    assert.ok((await td.client.call('NetworkList')).networks.some((x: any) => x.name === 'backend'));
    assert.equal((await td.client.call('NetworkDeactivate', { name: 'backend' })).network.active, false);
    assert.equal((await td.client.call('NetworkActivate', { name: 'backend' })).network.active, true);
    assert.equal((await td.client.call('NetworkGet', { name: 'backend' })).network.subnet, '10.77.0.0/24');
    await td.client.call('NetworkDelete', { name: 'backend', force: true });
    await assert.rejects(td.client.call('NetworkGet', { name: 'backend' }), (e: any) => e.code === status.NOT_FOUND);
  });

  it('brings a compose project up, idempotently, and down', async () => {
    await td.client.call('ImportImage', { vmfile, diskData: disk, reference: 'tiny:1' });
    const content = 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: stack\nnetworks:\n  back: { mode: isolated, subnet: 10.78.0.0/24 }\n' +
      'services:\n  db:\n    image: tiny:1\n    networks: [back]\n  web:\n    image: ${IMG:-tiny:1}\n    replicas: 2\n    networks: [back]\n    depends_on: { db: { condition: ip_assigned } }\n';
    const val = await td.client.call('ComposeValidate', { content, baseDir: work });
    assert.equal(val.valid, true, JSON.stringify(val.errors));
    assert.deepEqual(val.services, ['db', 'web']);
    const up = await td.client.call('ComposeUp', { content, baseDir: work });
    assert.deepEqual(up.services.map((s: any) => s.vmName).sort(), ['stack-db-1', 'stack-web-1', 'stack-web-2']);
    const again = await td.client.call('ComposeUp', { content, baseDir: work });
    assert.ok(again.services.every((s: any) => s.action === 'unchanged'));
    const ps = await td.client.call('ComposePs', { projectName: 'stack' });
    assert.ok(ps.services.every((s: any) => s.ipAddresses[0]?.startsWith('10.78.0.')));
    assert.equal((await td.client.call('ComposeRestart', { projectName: 'stack', services: ['web'] })).services.length, 2);
    const down = await td.client.call('ComposeDown', { projectName: 'stack', removeNetworks: true });
    assert.equal(down.services.length, 3);
    assert.equal((await td.client.call('ListVMs')).vms.length, 0);
    const bad = await td.client.call('ComposeValidate', { content: 'kind: VMCompose\nservices:\n  a: { image: tiny:1, depends_on: [b] }\n  b: { image: tiny:1, depends_on: [a] }\n', baseDir: work });
    assert.equal(bad.valid, false);
    assert.ok(bad.errors.some((e: any) => /cycle/i.test(e.message)));
  });

  it('registers, logs in and out through the auth port', async () => {
    await td.client.call('Register', { username: 'bob', password: 'longenough', email: 'b@x' });
    await assert.rejects(td.client.call('Register', { username: 'bob', password: 'longenough' }), (e: any) => e.code === status.ALREADY_EXISTS);
    const l = await td.client.call('Login', { username: 'bob', password: 'longenough' });
    assert.equal(l.username, 'bob');
    await assert.rejects(td.client.call('Login', { username: 'bob', password: 'wrong' }), (e: any) => e.code === status.UNAUTHENTICATED);
    assert.equal((await td.client.call('Logout', {})).message, 'logged out');
    assert.equal((await td.client.call('Logout', {})).message, 'not logged in');
  });
});
