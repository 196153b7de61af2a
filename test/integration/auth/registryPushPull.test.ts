// End to end with Debian's docker-registry in token mode, its token service checking OIDC credentials:
// register → login (password) → push and pull with the session's credentials → logout → push UNAUTHENTICATED.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { startAuthPlugin, type AuthHarness } from '../../support/oidc/harness.js';
import { startTestIdp, type TestIdp } from '../../support/oidc/provider.js';
import { oidcCredentialCheck } from '../../support/oidc/registryAuth.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { requireService } from '../../support/services.js';
import { makeTestImage, TempImageStore } from '../../support/tempImageStore.js';

describe('auth-oidc with registry-oci against docker-registry token auth', () => {
  let idp: TestIdp;
  let reg: TestRegistry;
  let h: AuthHarness;
  let tmp: string;
  const stores: TempImageStore[] = [];
  const clients: OciRegistryClient[] = [];
  const newStore = async () => { const s = await TempImageStore.create(); stores.push(s); return s; };
  const client = (store: TempImageStore) => {
    const c = new OciRegistryClient(store, { ...defaultConfig, dockerConfigPath: [path.join(tmp, 'none.json')] }, h.auth);
    clients.push(c);
    return c;
  };

  before(async () => {
    await requireService('packages');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-auth-e2e-'));
    idp = await startTestIdp();
    reg = await startRegistry({ kind: 'token', check: oidcCredentialCheck(idp) });
    h = await startAuthPlugin({ authServer: idp.issuer, registryUrl: reg.host, insecureRegistry: true }, {
      allowPasswordGrant: true, resource: idp.audience, scim: { url: idp.scimUrl, token: idp.scimToken },
    });
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of stores) await s.dispose();
    await h?.close();
    await reg?.stop();
    await idp?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('pushes and pulls as the registered, logged-in user; after logout a push is UNAUTHENTICATED', async () => {
    await h.auth.register({ username: 'heidi', password: 'heidipass42', email: '', displayName: 'Heidi' }, h.ctx());
    await h.auth.login({ username: 'heidi', password: 'heidipass42', server: '', deviceFlow: false, deviceCode: '' }, h.ctx());

    const src = await newStore();
    const { digest } = await makeTestImage(src, 'vm/oidc:1', [1 << 20, 4096], 41);
    const pushed = await client(src).push('vm/oidc:1', '', h.ctx());
    assert.equal(pushed.digest, digest);
    const reqs = reg.tokenService!.requests;
    assert.ok(reqs.length > 0 && reqs.every((r) => r.subject === 'heidi'), JSON.stringify(reqs));
    assert.ok(reqs.some((r) => r.method === 'POST' && r.grantType === 'refresh_token'), 'identity token used at the realm');

    const dst = await newStore();
    const pulled = await client(dst).pull('vm/oidc:1', h.ctx());
    assert.equal(pulled.digest, digest);

    await h.auth.logout('', h.ctx());
    const again = await newStore();
    await makeTestImage(again, 'vm/oidc:2', [4096], 42);
    await assert.rejects(client(again).push('vm/oidc:2', '', h.ctx()), (e: Error & { code?: string }) => e.code === 'UNAUTHENTICATED');
  });
});
