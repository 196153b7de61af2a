// Through the daemon's gRPC API (loader, status mapping): a silent registry is UNAVAILABLE within the
// plugin's configured bounds, a client deadline is DEADLINE_EXCEEDED and the daemon lets go of the
// registry connection, a registry serving `null` as a manifest is DATA_LOSS — never UNKNOWN.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import registryOciPlugin from '../../src/plugins/registry-oci/index.js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { startFakeRegistry, type FakeRegistry } from '../support/fakeRegistry.js';
import { freePort } from '../support/freePort.js';
import { TempImageStore } from '../support/tempImageStore.js';

type GrpcErr = { code?: number; details?: string };

describe('registry-oci failures through the daemon', { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let store: TempImageStore;
  let silent: net.Server;
  let silentHost: string;
  let fake: FakeRegistry;
  const sockets = new Set<net.Socket>();

  before(async () => {
    silent = net.createServer((s) => { sockets.add(s); s.on('error', () => undefined); s.on('close', () => sockets.delete(s)); silent.emit('accepted', s); });
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    silentHost = `127.0.0.1:${port}`;
    fake = await startFakeRegistry({
      misbehave: (req, res) => {
        if (!/\/manifests\//.test(req.url ?? '')) return false;
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
        res.end('null');
        return true;
      },
    });
    store = await TempImageStore.create();
    d = await startTestDaemon({
      plugins: [registryOciPlugin], imageStore: () => store,
      pluginConfig: { 'registry-oci': { retries: 1, minBackoffMs: 1, maxBackoffMs: 5, headersTimeoutMs: 400, connectTimeoutMs: 400 } },
    });
  });
  after(async () => {
    await d?.stop();
    await fake?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent?.close(r));
    await store?.dispose();
  });

  const useRegistry = (name: string, url: string) =>
    d.client.call('ContextCreate', { context: { name, registryUrl: url, insecureRegistry: true }, use: true });

  it('a registry that never answers: UNAVAILABLE naming headersTimeoutMs', async () => {
    await useRegistry('silent', `http://${silentHost}`);
    await assert.rejects(d.client.call('PullImage', { reference: 'vm/x:1' }), (e: GrpcErr) => {
      assert.equal(e.code, status.UNAVAILABLE, e.details);
      assert.match(e.details ?? '', /accepted the connection but sent no response within 400 ms \(headersTimeoutMs\)/);
      return true;
    });
  });

  it('the client\'s deadline: DEADLINE_EXCEEDED, and the daemon closes its registry connection', async () => {
    // Bounds far beyond the deadline: only the call's deadline can end this pull.
    const patient = await startTestDaemon({
      plugins: [registryOciPlugin], imageStore: () => store,
      pluginConfig: { 'registry-oci': { headersTimeoutMs: 600_000, operationTimeoutMs: 0 } },
    });
    try {
      await patient.client.call('ContextCreate', { context: { name: 'silent', registryUrl: `http://${silentHost}`, insecureRegistry: true }, use: true });
      // Connections that carried a request must be let go once the deadline aborts it.
      const asked: net.Socket[] = [];
      const onAccepted = (sock: net.Socket) => sock.once('data', () => asked.push(sock));
      silent.on('accepted', onAccepted);
      try {
        await assert.rejects(patient.client.call('PullImage', { reference: 'vm/x:1' }, { deadlineMs: 1000 }),
          (e: GrpcErr) => e.code === status.DEADLINE_EXCEEDED);
        await Promise.all(asked.filter((s) => !s.destroyed).map((s) => once(s, 'close')));
      } finally {
        silent.off('accepted', onAccepted);
      }
    } finally {
      await patient.stop();
    }
  });

  it('a manifest body `null`: DATA_LOSS naming it, not UNKNOWN', async () => {
    await useRegistry('nullish', fake.url);
    await assert.rejects(d.client.call('PullImage', { reference: 'vm/x:1' }), (e: GrpcErr) => {
      assert.equal(e.code, status.DATA_LOSS, e.details);
      assert.match(e.details ?? '', /manifest "1" in 127\.0\.0\.1:\d+\/vm\/x: the registry served an invalid manifest: it is null/);
      return true;
    });
  });
});
