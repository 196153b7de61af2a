// A registry that answers outside the protocol: every answer ends a pull or push with UNAVAILABLE,
// or DATA_LOSS for content that fails verification or shape checks, naming what the registry did —
// never UNKNOWN/INTERNAL or a TypeError. One row per misbehaviour, against a fake HTTP registry.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isVmrError } from '../../src/core/errors.js';
import { defaultConfig } from '../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../src/plugins/registry-oci/index.js';
import { callContext } from '../support/callContext.js';
import { startFakeRegistry, startServer, type FakeRegistry, type FakeServer } from '../support/fakeRegistry.js';
import { makeTestImage, TempImageStore } from '../support/tempImageStore.js';

type Res = http.ServerResponse;
interface Row {
  name: string;
  op: 'pull' | 'push';
  /** Which requests misbehave. */
  when: (req: http.IncomingMessage) => boolean;
  respond: (res: Res, reg: FakeRegistry, req: http.IncomingMessage) => void;
  code: string;
  message: RegExp;
}

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const manifestGet = (req: http.IncomingMessage) => req.method === 'GET' && /\/manifests\//.test(req.url ?? '');
const blobGet = (req: http.IncomingMessage) => req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
const uploadStart = (req: http.IncomingMessage) => req.method === 'POST' && /\/blobs\/uploads\/$/.test(req.url ?? '');
const send = (status: number, body = '', headers: Record<string, string> = {}) => (res: Res) => { res.writeHead(status, headers); res.end(body); };
const manifest = (body: unknown) => send(200, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': OCI });
/** Where the shared token service answers with a given body. */
let tokens: FakeServer;
const challenge = (realmPath: string) => (res: Res) => {
  res.writeHead(401, { 'www-authenticate': `Bearer realm="${realmPath.startsWith('/') ? tokens.url + realmPath : realmPath}",service="fake"` });
  res.end();
};

const rows: Row[] = [
  // Manifest bodies.
  { name: 'manifest body null', op: 'pull', when: manifestGet, respond: manifest('null'), code: 'DATA_LOSS', message: /manifest "1" in .*: the registry served an invalid manifest: it is null, not a JSON object/ },
  { name: 'manifest body an array', op: 'pull', when: manifestGet, respond: manifest([]), code: 'DATA_LOSS', message: /it is an array, not a JSON object/ },
  { name: 'manifest body a string', op: 'pull', when: manifestGet, respond: manifest('"text"'), code: 'DATA_LOSS', message: /it is a string/ },
  { name: 'manifest body not JSON', op: 'pull', when: manifestGet, respond: manifest('{"schemaVersion":'), code: 'DATA_LOSS', message: /not JSON/ },
  { name: 'manifest {}', op: 'pull', when: manifestGet, respond: manifest({}), code: 'DATA_LOSS', message: /neither config\/layers nor manifests/ },
  { name: 'layers not an array', op: 'pull', when: manifestGet, respond: manifest({ schemaVersion: 2, config: { digest: DIGEST, size: 1 }, layers: 'x' }), code: 'DATA_LOSS', message: /layers is a string, not an array/ },
  { name: 'config digest a path', op: 'pull', when: manifestGet, respond: manifest({ schemaVersion: 2, config: { digest: '../../../etc/passwd', size: 1 }, layers: [] }), code: 'DATA_LOSS', message: /config\.digest is not a sha256 digest/ },
  { name: 'negative layer size', op: 'pull', when: manifestGet, respond: manifest({ schemaVersion: 2, config: { digest: DIGEST, size: 1 }, layers: [{ digest: DIGEST, size: -1 }] }), code: 'DATA_LOSS', message: /layers\[0\]\.size is not a byte count/ },
  { name: 'index with a null entry', op: 'pull', when: manifestGet, respond: manifest({ schemaVersion: 2, manifests: [null] }), code: 'DATA_LOSS', message: /manifests\[0\] is null/ },
  { name: 'manifest not matching its Docker-Content-Digest', op: 'pull', when: manifestGet, respond: send(200, '{"schemaVersion":2,"layers":[]}', { 'content-type': OCI, 'docker-content-digest': DIGEST }), code: 'DATA_LOSS', message: /digest mismatch/ },
  // Statuses a manifest GET does not expect.
  { name: 'manifest 302 without Location', op: 'pull', when: manifestGet, respond: send(302), code: 'UNAVAILABLE', message: /manifest "1" in .*: the registry answered HTTP 302 where 200 was expected/ },
  { name: 'manifest 302 to an unusable URL', op: 'pull', when: manifestGet, respond: send(302, '', { location: 'http://[::1' }), code: 'UNAVAILABLE', message: /redirected \(HTTP 302\) to an unusable location "http:\/\/\[::1"/ },
  { name: 'manifest redirect loop', op: 'pull', when: manifestGet, respond: (res, _reg, req) => send(307, '', { location: req.url! })(res), code: 'UNAVAILABLE', message: /more than 5 redirects/ },
  { name: 'manifest 204', op: 'pull', when: manifestGet, respond: send(204), code: 'UNAVAILABLE', message: /HTTP 204 where 200 was expected/ },
  { name: 'manifest 201', op: 'pull', when: manifestGet, respond: send(201, 'created?'), code: 'UNAVAILABLE', message: /HTTP 201 where 200 was expected: created\?/ },
  { name: '5xx with a long HTML body and control characters', op: 'pull', when: manifestGet, respond: send(500, `<html>\u0000\u001b[31mboom\r\n${'x'.repeat(20_000)}`), code: 'UNAVAILABLE', message: /failed with HTTP 500: <html> \[31mboom x+…;? retry later$/ },
  { name: '503 with errors: null', op: 'pull', when: manifestGet, respond: send(503, '{"errors":null}'), code: 'UNAVAILABLE', message: /HTTP 503/ },
  { name: '404 with malformed error entries', op: 'pull', when: manifestGet, respond: send(404, '{"errors":[null,5,{"code":7}]}'), code: 'NOT_FOUND', message: /not found/ },
  // Auth answers.
  { name: 'challenge with an unusable realm', op: 'pull', when: manifestGet, respond: challenge('::not a url'), code: 'UNAVAILABLE', message: /unusable token realm "::not a url"/ },
  { name: 'challenge with a non-http realm', op: 'pull', when: manifestGet, respond: challenge('file:///etc/passwd'), code: 'UNAVAILABLE', message: /unusable token realm/ },
  { name: 'token service answers null', op: 'pull', when: manifestGet, respond: challenge('/null'), code: 'UNAVAILABLE', message: /answered 200 without a token/ },
  { name: 'token service answers a number token', op: 'pull', when: manifestGet, respond: challenge('/number'), code: 'UNAVAILABLE', message: /without a token/ },
  { name: 'token with a line break', op: 'pull', when: manifestGet, respond: challenge('/newline'), code: 'UNAVAILABLE', message: /malformed token/ },
  { name: 'token service answers HTML', op: 'pull', when: manifestGet, respond: challenge('/html'), code: 'UNAVAILABLE', message: /invalid JSON/ },
  // Blob bodies.
  { name: 'blob longer than its descriptor', op: 'pull', when: blobGet, respond: send(200, 'x'.repeat(100 << 10)), code: 'DATA_LOSS', message: /longer than/ },
  { name: 'blob 302 without Location', op: 'pull', when: blobGet, respond: send(302), code: 'UNAVAILABLE', message: /blob sha256:\w+ in .*HTTP 302 where 200 or 206 was expected/ },
  // Push: statuses an upload does not expect.
  { name: 'upload start 302', op: 'push', when: uploadStart, respond: send(302, '', { location: 'http://127.0.0.1:9/elsewhere' }), code: 'UNAVAILABLE', message: /blob upload in .*HTTP 302 \(to http:\/\/127\.0\.0\.1:9\/elsewhere\) where 201 or 202 was expected/ },
  { name: 'upload start 200', op: 'push', when: uploadStart, respond: send(200), code: 'UNAVAILABLE', message: /HTTP 200 where 201 or 202 was expected/ },
  { name: 'upload start 202 without Location', op: 'push', when: uploadStart, respond: send(202), code: 'UNAVAILABLE', message: /sent no Location/ },
  { name: 'upload start 202 with an unusable Location', op: 'push', when: uploadStart, respond: send(202, '', { location: 'http://[bad' }), code: 'UNAVAILABLE', message: /unusable Location "http:\/\/\[bad"/ },
  { name: 'upload start 202 with a non-http Location', op: 'push', when: uploadStart, respond: send(202, '', { location: 'file:///etc/passwd' }), code: 'UNAVAILABLE', message: /unusable Location/ },
  { name: 'upload PUT 202', op: 'push', when: (r) => r.method === 'PUT' && /\/upload\//.test(r.url ?? ''), respond: send(202), code: 'UNAVAILABLE', message: /HTTP 202 where 201 or 204 was expected/ },
  { name: 'upload PATCH 200', op: 'push', when: (r) => r.method === 'PATCH', respond: send(200), code: 'UNAVAILABLE', message: /chunk .*HTTP 200 where 202 or 204 was expected/ },
  { name: 'blob HEAD 500', op: 'push', when: (r) => r.method === 'HEAD', respond: send(500), code: 'UNAVAILABLE', message: /HTTP 500/ },
  { name: 'blob HEAD redirect loop', op: 'push', when: (r) => r.method === 'HEAD', respond: (res, _reg, req) => send(302, '', { location: req.url! })(res), code: 'UNAVAILABLE', message: /more than 5 redirects/ },
  { name: 'manifest PUT 302', op: 'push', when: (r) => r.method === 'PUT' && /\/manifests\//.test(r.url ?? ''), respond: send(302, '', { location: '/v2/' }), code: 'UNAVAILABLE', message: /manifest "1" in .*HTTP 302 \(to \/v2\/\) where 200 or 201 or 202 was expected/ },
  { name: 'manifest PUT 502 with a body', op: 'push', when: (r) => r.method === 'PUT' && /\/manifests\//.test(r.url ?? ''), respond: send(502, 'bad gateway'), code: 'UNAVAILABLE', message: /HTTP 502: bad gateway/ },
];

describe('registry-oci against a misbehaving registry', () => {
  let dir: string;
  let src: TempImageStore;
  const stores: TempImageStore[] = [];
  const clients: OciRegistryClient[] = [];
  const stops: Array<() => Promise<void>> = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-misbehave-'));
    src = await TempImageStore.create();
    stores.push(src);
    await makeTestImage(src, 'vm/app:1', [8 << 10, 40 << 10], 5);
    tokens = await startServer((req, res) => {
      const body = ({ '/null': 'null', '/number': '{"token":5}', '/newline': '{"token":"a\\r\\nX-Evil: 1"}', '/html': '<html>' } as Record<string, string>)[new URL(req.url!, 'http://x').pathname];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body ?? '{}');
    });
    stops.push(() => tokens.stop());
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of stops) await s();
    for (const s of stores) await s.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const client = (store: TempImageStore) => {
    const c = new OciRegistryClient(store, {
      ...defaultConfig, retries: 1, minBackoffMs: 1, maxBackoffMs: 5, chunkSize: 16 << 10,
      dockerConfigPath: [path.join(dir, 'none.json')], headersTimeoutMs: 5000, bodyTimeoutMs: 5000,
    });
    clients.push(c);
    return c;
  };

  for (const row of rows) {
    it(`${row.op}: ${row.name} → ${row.code}`, async () => {
      let active = false;
      const reg: FakeRegistry = await startFakeRegistry({
        misbehave: (req, res) => {
          if (!active || !row.when(req)) return false;
          row.respond(res, reg, req);
          return true;
        },
      });
      stops.push(() => reg.stop());
      const ctx = callContext({ registryUrl: reg.url });
      let run: Promise<unknown>;
      if (row.op === 'pull') {
        await client(src).push('vm/app:1', 'vm/app:1', ctx);
        active = true;
        const dst = await TempImageStore.create();
        stores.push(dst);
        run = client(dst).pull('vm/app:1', ctx);
      } else {
        active = true;
        run = client(src).push('vm/app:1', 'vm/app:1', ctx);
      }
      await assert.rejects(run, (e: Error & { code?: string }) => {
        assert.ok(isVmrError(e), `a domain error, not ${e.name}: ${e.message}`);
        assert.equal(e.code, row.code, e.message);
        assert.match(e.message, row.message);
        assert.ok(e.message.length < 1000, `bounded message (${e.message.length} chars)`);
        return true;
      });
    });
  }
});
