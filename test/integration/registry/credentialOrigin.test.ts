// Debian's docker-registry behind a proxy whose upload Locations point at a second proxy on another
// port (an upload endpoint elsewhere, carrying its own authority to the registry). The pushed image
// must arrive, and that second port must never see the user's Authorization — Basic or Bearer.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { AuthProvider, RegistryCredentials } from '../../../src/core/ports/auth.js';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { callContext } from '../../support/callContext.js';
import { startRegistry, type RegistryAuth, type TestRegistry } from '../../support/registry.js';
import { startRegistryProxy, type RegistryProxy } from '../../support/registryProxy.js';
import { optedOut, requireService } from '../../support/services.js';
import { makeTestImage, TempImageStore } from '../../support/tempImageStore.js';

const ALICE: RegistryCredentials = { kind: 'basic', username: 'alice', password: 'wonderland' };
const basic = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;

describe('registry-oci with upload Locations on another port (real registry)', { skip: optedOut('registry') }, () => {
  let tmp: string;
  const stores: TempImageStore[] = [];
  const clients: OciRegistryClient[] = [];
  const newStore = async () => { const s = await TempImageStore.create(); stores.push(s); return s; };
  const client = (store: TempImageStore) => {
    const auth = { registryCredentials: async () => ALICE } as unknown as AuthProvider;
    const c = new OciRegistryClient(store, { ...defaultConfig, chunkSize: 1 << 20, dockerConfigPath: [path.join(tmp, 'none.json')] }, auth);
    clients.push(c);
    return c;
  };

  before(async () => {
    await requireService('packages');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-origin-'));
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of stores) await s.dispose();
    await rm(tmp, { recursive: true, force: true });
  });

  const setups: Array<{ name: string; auth: RegistryAuth; authority: (reg: TestRegistry, path: string) => Promise<string> }> = [
    { name: 'Basic (htpasswd)', auth: { kind: 'htpasswd', users: { alice: 'wonderland' } }, authority: async () => basic },
    {
      name: 'Bearer (token service)',
      auth: { kind: 'token', check: async ({ username, secret }) => (username === 'alice' && secret === 'wonderland' ? { subject: 'alice', access: [{ type: 'repository', name: '*', actions: ['pull', 'push'] }] } : undefined) },
      // The upload endpoint's own token, fetched by it (never from the client).
      authority: async (reg, p) => {
        const name = /^\/v2\/(.+)\/blobs\/uploads\//.exec(p)?.[1] ?? '';
        const u = new URL(reg.tokenService!.realm);
        u.searchParams.set('service', 'vmr-test-registry');
        u.searchParams.set('scope', `repository:${name}:pull,push`);
        const res = await request(u, { headers: { authorization: basic } });
        const body = await res.body.json() as { token?: string; access_token?: string };
        return `Bearer ${body.token ?? body.access_token}`;
      },
    },
  ];

  for (const setup of setups) {
    describe(setup.name, () => {
      let reg: TestRegistry;
      let front: RegistryProxy;
      let uploads: RegistryProxy;
      before(async () => {
        reg = await startRegistry(setup.auth);
        uploads = await startRegistryProxy(reg.host, { authorize: (r) => setup.authority(reg, r.path) });
        front = await startRegistryProxy(reg.host, {
          rewriteLocation: (loc) => (loc.includes('/blobs/uploads/') ? loc.replace(`//${front.host}`, `//${uploads.host}`) : loc),
        });
      });
      after(async () => {
        await front?.stop();
        await uploads?.stop();
        await reg?.stop();
      });

      it('the upload port gets every chunk and no Authorization; the image arrives intact', async () => {
        const src = await newStore();
        const { digest } = await makeTestImage(src, 'vm/origin:1', [256 << 10, 3 << 20], 61);
        const ctx = () => callContext({ registryUrl: front.host, insecureRegistry: true });
        const pushed = await client(src).push('vm/origin:1', '', ctx());
        assert.equal(pushed.digest, digest);
        assert.ok(uploads.count((r) => r.method === 'PATCH') >= 3, 'chunks went to the Location on the other port');
        assert.ok(uploads.count((r) => r.method === 'PUT') >= 2, 'uploads were closed there');
        assert.deepEqual(uploads.seen.filter((r) => r.authorization !== undefined), [], 'the upload port never saw the user\'s Authorization');
        assert.ok(front.count((r) => r.authorization !== undefined) >= 1, 'the registry\'s origin got the credentials');
        const back = await client(await newStore()).pull('vm/origin:1', ctx());
        assert.equal(back.digest, digest);
      });
    });
  }
});
