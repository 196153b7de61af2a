// Credentials go only to the registry's origin (scheme, host, port): an upload Location, a redirect or
// a 401 from another port must never receive the registry's Authorization or steer the token request.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuthProvider, RegistryCredentials } from '../../src/core/ports/auth.js';
import { defaultConfig, type RegistryOciConfig } from '../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../src/plugins/registry-oci/index.js';
import { callContext } from '../support/callContext.js';
import {
  startFakeRegistry, startServer, startTokenEndpoint, type FakeRegistry, type FakeServer,
} from '../support/fakeRegistry.js';
import { makeTestImage, TempImageStore } from '../support/tempImageStore.js';

type Err = Error & { code?: string };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('registry-oci sends credentials only to the registry origin', () => {
  let dir: string;
  const stops: Array<() => Promise<void>> = [];
  const clients: OciRegistryClient[] = [];
  const stores: TempImageStore[] = [];
  let src: TempImageStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-origin-'));
    src = await TempImageStore.create();
    stores.push(src);
    // Two layers: one goes as a monolithic PUT, one in PATCH chunks (chunkSize below), both to the Location.
    await makeTestImage(src, 'vm/app:1', [8 << 10, 40 << 10], 7);
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of stops) await s();
    for (const s of stores) await s.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const track = <T extends FakeServer>(s: T): T => { stops.push(() => s.stop()); return s; };
  /** Credentials per host from the auth port; the auth files are pinned to an empty temp path. */
  const client = (store: TempImageStore, creds: Record<string, RegistryCredentials>, over: Partial<RegistryOciConfig> = {}) => {
    const auth = { registryCredentials: async (host: string) => creds[host] } as unknown as AuthProvider;
    const c = new OciRegistryClient(store, {
      ...defaultConfig, retries: 1, minBackoffMs: 1, maxBackoffMs: 5, chunkSize: 16 << 10,
      dockerConfigPath: [path.join(dir, 'none.json')], ...over,
    }, auth);
    clients.push(c);
    return c;
  };
  const ctxFor = (reg: FakeServer) => callContext({ registryUrl: reg.url });
  const withAuth = (s: FakeServer) => s.seen.filter((r) => r.authorization !== undefined);

  it('Basic: upload Location on another port gets the blob but never the Authorization', async () => {
    const reg = track(await startFakeRegistry({ auth: { kind: 'basic', username: 'alice', password: 's3cret' }, separateUploads: true }));
    const up = reg.uploads!;
    const res = await client(src, { [reg.host]: { kind: 'basic', username: 'alice', password: 's3cret' } })
      .push('vm/app:1', 'vm/app:1', ctxFor(reg));
    assert.ok(up.seen.some((r) => r.method === 'PATCH'), 'a chunked upload went to the Location');
    assert.ok(up.seen.some((r) => r.method === 'PUT'), 'a PUT went to the Location');
    assert.deepEqual(withAuth(up), [], 'the upload server saw no Authorization');
    assert.ok(reg.seen.some((r) => r.authorization === basic('alice', 's3cret')), 'the registry itself got the credentials');
    // What arrived is the image: pull it back.
    const dst = await TempImageStore.create();
    stores.push(dst);
    const back = await client(dst, { [reg.host]: { kind: 'basic', username: 'alice', password: 's3cret' } }).pull('vm/app:1', ctxFor(reg));
    assert.equal(back.digest, res.digest);
  });

  it('Bearer: the token realm on another port (the registry\'s own challenge) gets the password; the Location gets nothing', async () => {
    const tokens = track(await startTokenEndpoint('bob', 'pw-bob', 'tok-123'));
    const reg = track(await startFakeRegistry({ auth: { kind: 'bearer', realm: `${tokens.url}/token`, token: 'tok-123' }, separateUploads: true }));
    await client(src, { [reg.host]: { kind: 'basic', username: 'bob', password: 'pw-bob' } }).push('vm/app:1', 'vm/app:1', ctxFor(reg));
    assert.ok(reg.uploads!.seen.length >= 2);
    assert.deepEqual(withAuth(reg.uploads!), [], 'the upload server saw no Authorization');
    assert.ok(tokens.seen.length >= 1 && tokens.seen.every((r) => r.authorization === basic('bob', 'pw-bob')));
    assert.ok(reg.seen.some((r) => r.authorization === 'Bearer tok-123'));
  });

  for (const scheme of ['basic', 'bearer'] as const) {
    it(`${scheme}: a 401 from the upload host is refused, not answered, and does not replace the registry's challenge`, async () => {
      const evil = track(await startServer((_req, res) => { res.writeHead(200); res.end('{"token":"stolen"}'); }));
      const tokens = track(await startTokenEndpoint('carol', 'pw-carol', 'tok-c'));
      // The upload "host" answers every request with a challenge pointing at itself.
      const upload = track(await startServer((_req, res) => {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${evil.url}/token",service="evil", Basic realm="evil"` });
        res.end();
      }));
      // Uploads go to the challenging host, whose realm is `evil`.
      const reg = track(await startFakeRegistry({
        auth: scheme === 'basic' ? { kind: 'basic', username: 'carol', password: 'pw-carol' } : { kind: 'bearer', realm: `${tokens.url}/token`, token: 'tok-c' },
        uploadOrigin: () => upload.url,
      }));
      const creds = { [reg.host]: { kind: 'basic', username: 'carol', password: 'pw-carol' } as RegistryCredentials };
      const c = client(src, creds);
      await assert.rejects(c.push('vm/app:1', 'vm/app:1', ctxFor(reg)), (e: Err) => {
        assert.equal(e.code, 'PERMISSION_DENIED', e.message);
        assert.match(e.message, new RegExp(`${upload.url}.*asks for authentication.*only sent to ${reg.url}`));
        return true;
      });
      assert.ok(upload.seen.length >= 1, 'the upload host was asked');
      assert.deepEqual(withAuth(upload), [], 'the upload host never got credentials');
      assert.deepEqual(evil.seen, [], 'no token request went to the realm the foreign 401 named');
      // The registry's own challenge still stands: the same client keeps talking to the right realm.
      tokens.seen.length = 0;
      const dst = await TempImageStore.create();
      stores.push(dst);
      await assert.rejects(c.pull('vm/app:1', ctxFor(reg)), (e: Err) => e.code === 'NOT_FOUND');
      assert.ok(reg.seen.at(-1)?.authorization === (scheme === 'basic' ? basic('carol', 'pw-carol') : 'Bearer tok-c'));
      assert.deepEqual(evil.seen, []);
    });
  }

  it('a redirect to another port drops Authorization, and that host\'s 401 is not taken as the registry\'s', async () => {
    let reg: FakeRegistry | undefined;
    let blobHostAsks = false;
    const blobs = track(await startServer((req, res) => {
      if (blobHostAsks) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="blobs"' });
        return res.end();
      }
      const digest = req.url!.split('/').pop()!;
      const b = reg!.state.blobs.get(digest);
      res.writeHead(b ? 200 : 404);
      res.end(b);
    }));
    reg = track(await startFakeRegistry({
      auth: { kind: 'basic', username: 'dan', password: 'pw-dan' },
      misbehave: (req, res) => {
        const m = /\/blobs\/(sha256:\w+)$/.exec(req.url ?? '');
        if (req.method !== 'GET' || !m || !req.headers.authorization) return false;
        res.writeHead(307, { location: `${blobs.url}/storage/${m[1]}` });
        res.end();
        return true;
      },
    }));
    const creds = { [reg.host]: { kind: 'basic', username: 'dan', password: 'pw-dan' } as RegistryCredentials };
    await client(src, creds).push('vm/app:1', 'vm/app:1', ctxFor(reg));
    const dst = await TempImageStore.create();
    stores.push(dst);
    await client(dst, creds).pull('vm/app:1', ctxFor(reg));
    assert.ok(blobs.seen.length >= 2, 'blobs came from the redirect target');
    assert.deepEqual(withAuth(blobs), [], 'the redirect target saw no Authorization');

    blobHostAsks = true;
    const dst2 = await TempImageStore.create();
    stores.push(dst2);
    await assert.rejects(client(dst2, creds).pull('vm/app:1', ctxFor(reg)), (e: Err) => {
      assert.equal(e.code, 'PERMISSION_DENIED', e.message);
      return true;
    });
    assert.deepEqual(withAuth(blobs), []);
  });

  it('credentials from an auth file are sent to their host only, never to another registry', async () => {
    const a = track(await startFakeRegistry({ auth: { kind: 'basic', username: 'erin', password: 'pw-erin' } }));
    const b = track(await startFakeRegistry({ auth: { kind: 'basic', username: 'erin', password: 'pw-erin' } }));
    const file = path.join(dir, 'auth.json');
    await writeFile(file, JSON.stringify({ auths: { [`http://${a.host}`]: { auth: Buffer.from('erin:pw-erin').toString('base64') } } }));
    const c = client(src, {}, { dockerConfigPath: [file] });
    await c.push('vm/app:1', 'vm/app:1', ctxFor(a));
    assert.ok(a.seen.some((r) => r.authorization === basic('erin', 'pw-erin')));
    await assert.rejects(c.push('vm/app:1', 'vm/app:1', ctxFor(b)), (e: Err) => e.code === 'UNAUTHENTICATED');
    assert.deepEqual(withAuth(b), [], 'the other registry got nothing');
  });
});
