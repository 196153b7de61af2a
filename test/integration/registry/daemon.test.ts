import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import registryOciPlugin from '../../../src/plugins/registry-oci/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { optedOut } from '../../support/services.js';
import { makeTestImage, TempImageStore } from '../../support/tempImageStore.js';

// The plugin loaded by the real daemon (loader, graph, gRPC, status mapping), with the test image store.
describe('registry-oci inside the daemon', { skip: optedOut('registry') }, () => {
  let reg: TestRegistry;
  let d: TestDaemon;
  let store: TempImageStore;
  before(async () => {
    reg = await startRegistry();
    store = await TempImageStore.create();
    d = await startTestDaemon({ plugins: [registryOciPlugin], pluginConfig: { 'registry-oci': { concurrency: 2, chunkSize: 1 << 20 } }, imageStore: () => store });
    await d.client.call('ContextCreate', { context: { name: 'lab', registryUrl: reg.host, insecureRegistry: true }, use: true });
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    await store?.dispose();
  });

  it('pushes and pulls through the gRPC API with progress, and reports registry health', async () => {
    const { digest } = await makeTestImage(store, 'vm/d:1', [(2 << 20) + 1], 71);
    const pushed = await d.client.call('PushImage', { reference: 'vm/d:1', destination: 'vm/d2:1' });
    assert.equal(pushed.digest, digest);
    const events = await d.client.stream('PullImageWithProgress', { reference: 'vm/d2:1' });
    const result = events.at(-1)!.pull;
    assert.equal(result.digest, digest);
    assert.ok(events.some((e) => e.progress?.phase === 'download' || e.progress?.phase === 'resolve'));
    const health = await d.client.call('HealthCheck', {});
    const registry = health.components.find((c: { name: string }) => c.name === 'registry');
    assert.equal(registry.status, 'SERVING');
    assert.equal(registry.plugin, 'registry-oci');
  });

  it('maps a missing tag to gRPC NOT_FOUND', async () => {
    await assert.rejects(d.client.call('PullImage', { reference: 'vm/d2:missing' }), (e: { code?: number; details?: string }) => e.code === 5 && /missing/.test(e.details ?? ''));
  });
});
