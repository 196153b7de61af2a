import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { checkConfig } from '../../src/core/plugins/configSchema.js';
import { registryPort } from '../../src/core/plugins/refs.js';
import registryOciPlugin from '../../src/plugins/registry-oci/index.js';
import { DEFAULT_TIMEOUTS } from '../../src/plugins/registry-oci/timeouts.js';
import { Transport, type Session } from '../../src/plugins/registry-oci/transport.js';
import { silentLogger } from '../support/callContext.js';

describe('Transport retries', () => {
  let server: http.Server;
  let host: string;
  const hits = new Map<string, number>();
  before(async () => {
    server = http.createServer((req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      if (req.url === '/flaky' && n < 3) { res.writeHead(503); return res.end('busy'); }
      if (req.url === '/limited' && n < 2) { res.writeHead(429, { 'retry-after': '0' }); return res.end(); }
      if (req.url === '/reset' && n < 2) { req.socket.destroy(); return; }
      if (req.url === '/down') { res.writeHead(502); return res.end(); }
      if (req.url === '/missing') { res.writeHead(404, { 'content-type': 'application/json' }); return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'); }
      res.writeHead(200);
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); });

  const t = new Transport({ retries: 3, minBackoffMs: 5, maxBackoffMs: 20, connections: 4, ...DEFAULT_TIMEOUTS });
  after(() => t.close());
  const session = (signal = new AbortController().signal): Session => ({
    host, base: `http://${host}`, insecure: true, signal, log: silentLogger, credentials: async () => undefined,
  });
  const get = (url: string, s = session()) => t.send(s, { method: 'GET', url, scopes: [], ok: [200], what: url });

  it('retries 5xx, 429 (Retry-After) and dropped connections until the registry answers', async () => {
    for (const u of ['/flaky', '/limited', '/reset']) {
      const res = await get(u);
      assert.equal(res.status, 200);
      res.body.resume();
    }
    assert.equal(hits.get('/flaky'), 3);
    assert.equal(hits.get('/limited'), 2);
  });
  it('gives up with UNAVAILABLE after the configured retries', async () => {
    await assert.rejects(get('/down'), (e: Error & { code?: string }) => e.code === 'UNAVAILABLE');
    assert.equal(hits.get('/down'), 4);
  });
  it('maps registry error bodies to domain errors', async () => {
    await assert.rejects(get('/missing'), (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && /MANIFEST_UNKNOWN/.test(e.message));
  });
  it('a cancelled signal is CANCELLED, not retried', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(get('/flaky', session(ac.signal)), (e: Error & { code?: string }) => e.code === 'CANCELLED');
  });
});

describe('registryOciPlugin', () => {
  it('provides the registry port, requires images, and fills config defaults', () => {
    assert.equal(registryOciPlugin.id, 'registry-oci');
    assert.deepEqual(registryOciPlugin.provides.map((p) => p.id), [registryPort.id]);
    assert.deepEqual(registryOciPlugin.requires!.map((p) => p.id), ['vmregistry.images.v1']);
    assert.deepEqual(registryOciPlugin.optional!.map((p) => p.id), ['vmregistry.auth.v1']);
    const { value, errors } = checkConfig(registryOciPlugin.configSchema!, { concurrency: 8 });
    assert.deepEqual(errors, []);
    assert.equal((value as { concurrency: number }).concurrency, 8);
    assert.equal((value as { chunkSize: number }).chunkSize, 64 << 20);
    assert.ok(checkConfig(registryOciPlugin.configSchema!, { concurrency: 0 }).errors.length > 0);
  });
});
