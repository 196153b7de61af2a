// A registry that accepts the connection and then says nothing (or stops mid-body) must end a pull
// or push with UNAVAILABLE naming what it did, within the configured bounds; the caller's cancel and
// deadline stop it at once.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkConfig } from '../../src/core/plugins/configSchema.js';
import { configSchema, defaultConfig, type RegistryOciConfig } from '../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../src/plugins/registry-oci/index.js';
import { callContext } from '../support/callContext.js';
import { startFakeRegistry, startServer, type FakeRegistry } from '../support/fakeRegistry.js';
import { freePort } from '../support/freePort.js';
import { makeTestImage, TempImageStore } from '../support/tempImageStore.js';

type Err = Error & { code?: string };
// Hang guard for the test runner only; the assertions are on codes and messages.
const guard = { timeout: 60_000 };

/** Accepts TCP connections and never writes a byte. */
async function startSilentServer() {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    server.emit('accepted', s);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${port}`, server, sockets,
    accepted: () => accepted,
    stop: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

describe('registry-oci timeouts', () => {
  let dir: string;
  const stops: Array<() => Promise<void>> = [];
  const clients: OciRegistryClient[] = [];
  const stores: TempImageStore[] = [];
  let src: TempImageStore;
  let silent: Awaited<ReturnType<typeof startSilentServer>>;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-timeouts-'));
    src = await TempImageStore.create();
    stores.push(src);
    await makeTestImage(src, 'vm/app:1', [64 << 10], 3);
    silent = await startSilentServer();
    stops.push(() => silent.stop());
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of stops) await s();
    for (const s of stores) await s.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const client = (store: TempImageStore, over: Partial<RegistryOciConfig> = {}) => {
    const c = new OciRegistryClient(store, {
      ...defaultConfig, retries: 5, minBackoffMs: 1, maxBackoffMs: 5, dockerConfigPath: [path.join(dir, 'none.json')],
      connectTimeoutMs: 300, headersTimeoutMs: 300, bodyTimeoutMs: 300, ...over,
    });
    clients.push(c);
    return c;
  };
  const newStore = async () => { const s = await TempImageStore.create(); stores.push(s); return s; };

  it('a registry that accepts and never answers: pull and push end UNAVAILABLE naming headersTimeoutMs, timeouts retried once', guard, async () => {
    const ctx = callContext({ registryUrl: `http://${silent.host}` });
    const before = silent.accepted();
    await assert.rejects(client(await newStore()).pull('vm/app:1', ctx), (e: Err) => {
      assert.equal(e.code, 'UNAVAILABLE', e.message);
      assert.match(e.message, /manifest "1".*accepted the connection but sent no response within 300 ms \(headersTimeoutMs\) \(2 attempts\)/);
      return true;
    });
    assert.equal(silent.accepted() - before, 2, 'one try and one retry, not `retries` of them');
    await assert.rejects(client(src).push('vm/app:1', 'vm/app:1', ctx), (e: Err) => {
      assert.equal(e.code, 'UNAVAILABLE', e.message);
      assert.match(e.message, /headersTimeoutMs/);
      return true;
    });
  });

  it('a token service that never answers: UNAVAILABLE naming it, timeouts retried once', guard, async () => {
    const reg = await startFakeRegistry({ auth: { kind: 'bearer', realm: `http://${silent.host}/token`, token: 't' } });
    stops.push(() => reg.stop());
    const before = silent.accepted();
    await assert.rejects(client(await newStore()).pull('vm/app:1', callContext({ registryUrl: reg.url })), (e: Err) => {
      assert.equal(e.code, 'UNAVAILABLE', e.message);
      assert.match(e.message, /token service 127\.0\.0\.1:\d+ accepted the connection but sent no response within 300 ms \(headersTimeoutMs\)/);
      return true;
    });
    assert.equal(silent.accepted() - before, 2);
  });

  it('a TLS registry whose handshake never completes: UNAVAILABLE naming connectTimeoutMs', guard, async () => {
    await assert.rejects(client(await newStore()).pull('vm/app:1', callContext({ registryUrl: `https://${silent.host}` })), (e: Err) => {
      assert.equal(e.code, 'UNAVAILABLE', e.message);
      assert.match(e.message, /could not connect to registry 127\.0\.0\.1:\d+ within 300 ms \(connectTimeoutMs\)/);
      return true;
    });
  });

  it('headers then a stalled manifest body: UNAVAILABLE naming bodyTimeoutMs and the manifest', guard, async () => {
    const reg = await startServer((req, res) => {
      if (!/\/manifests\//.test(req.url ?? '')) { res.writeHead(404); return res.end(); }
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '1000' });
      res.write('{"schemaVersion":2,');
    });
    stops.push(() => reg.stop());
    await assert.rejects(client(await newStore()).pull('vm/app:1', callContext({ registryUrl: reg.url })), (e: Err) => {
      assert.equal(e.code, 'UNAVAILABLE', e.message);
      assert.match(e.message, /manifest "1".*stopped sending the response body for 300 ms \(bodyTimeoutMs\)/);
      return true;
    });
  });

  it('a blob body that stalls: resumed up to `retries`, then UNAVAILABLE naming the blob', guard, async () => {
    let stall = false;
    let stalls = 0;
    const reg: FakeRegistry = await startFakeRegistry({
      misbehave: (req, res) => {
        if (!stall || req.method !== 'GET' || !/\/blobs\/sha256:/.test(req.url ?? '')) return false;
        const b = reg.state.blobs.get(req.url!.split('/').pop()!);
        if (!b || b.length < 1024) return false;
        stalls++;
        res.writeHead(200, { 'content-length': String(b.length) });
        res.write(b.subarray(0, 100));
        return true;
      },
    });
    stops.push(() => reg.stop());
    const ctx = callContext({ registryUrl: reg.url });
    await client(src).push('vm/app:1', 'vm/app:1', ctx);
    stall = true;
    await assert.rejects(client(await newStore(), { retries: 2 }).pull('vm/app:1', ctx), (e: Err) => {
      assert.equal(e.code, 'UNAVAILABLE', e.message);
      assert.match(e.message, /blob sha256:[0-9a-f]{64} in 127\.0\.0\.1:\d+\/vm\/app: registry 127\.0\.0\.1:\d+ stopped sending the response body for 300 ms \(bodyTimeoutMs\)/);
      return true;
    });
    assert.equal(stalls, 3, 'first try and `retries` resumes');
  });

  it('the caller\'s cancel stops a hung request at once: CANCELLED, and the connection is closed', guard, async () => {
    const ac = new AbortController();
    const accepted = once(silent.server, 'accepted') as Promise<[net.Socket]>;
    const pull = client(await newStore(), { headersTimeoutMs: 600_000 }).pull('vm/app:1', callContext({ registryUrl: `http://${silent.host}` }, ac.signal));
    const [sock] = await accepted;
    const closed = once(sock, 'close');
    await once(sock, 'data');
    ac.abort();
    await assert.rejects(pull, (e: Err) => e.code === 'CANCELLED');
    await closed;
  });

  it('DEADLINE_EXCEEDED when the call\'s deadline fired', guard, async () => {
    const ac = new AbortController();
    const accepted = once(silent.server, 'accepted');
    const ctx = { ...callContext({ registryUrl: `http://${silent.host}` }, ac.signal), deadlinePassed: () => true };
    const pull = client(await newStore(), { headersTimeoutMs: 600_000 }).pull('vm/app:1', ctx);
    await accepted;
    ac.abort();
    await assert.rejects(pull, (e: Err) => e.code === 'DEADLINE_EXCEEDED' && /deadline/.test(e.message));
  });

  it('operationTimeoutMs bounds a whole pull or push whatever the per-request bounds', guard, async () => {
    const ctx = callContext({ registryUrl: `http://${silent.host}` });
    for (const run of [
      (c: OciRegistryClient) => c.pull('vm/app:1', ctx),
      (c: OciRegistryClient) => c.push('vm/app:1', 'vm/app:1', ctx),
    ]) {
      const c = client(src, { headersTimeoutMs: 600_000, operationTimeoutMs: 300 });
      await assert.rejects(run(c), (e: Err) => {
        assert.equal(e.code, 'UNAVAILABLE', e.message);
        assert.match(e.message, /not finished after 300 ms \(operationTimeoutMs\); registry 127\.0\.0\.1:\d+ is too slow or stalled/);
        return true;
      });
    }
  });

  it('the bounds are config keys with defaults, and timer-overflowing values are refused', () => {
    const { value, errors } = checkConfig(configSchema, {});
    assert.deepEqual(errors, []);
    const v = value as RegistryOciConfig;
    assert.equal(v.connectTimeoutMs, 10_000);
    assert.equal(v.headersTimeoutMs, 60_000);
    assert.equal(v.bodyTimeoutMs, 60_000);
    assert.equal(v.operationTimeoutMs, 6 * 3600_000);
    assert.ok(checkConfig(configSchema, { headersTimeoutMs: 2 ** 31 }).errors.length > 0);
    assert.ok(checkConfig(configSchema, { bodyTimeoutMs: 0 }).errors.length > 0);
    assert.deepEqual(checkConfig(configSchema, { operationTimeoutMs: 0 }).errors, []);
  });
});
