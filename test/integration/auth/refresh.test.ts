// Access tokens with a 3 s lifetime: the plugin refreshes before expiry (skew 1 s), once under ten
// concurrent callers, and a refresh the provider refuses ends the session with "log in again".
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startAuthPlugin, type AuthHarness } from '../../support/oidc/harness.js';
import { startTestIdp, type TestIdp } from '../../support/oidc/provider.js';
import { oidcCredentialCheck } from '../../support/oidc/registryAuth.js';

const REGISTRY = '127.0.0.1:5998';
const SKEW_S = 1;

describe('auth-oidc token refresh', () => {
  let idp: TestIdp;
  let h: AuthHarness;
  let key: string;

  const refreshes = () => idp.grants.filter((g) => g === 'refresh_token').length;
  /** Waits until the stored session is within the skew of expiring (token lifetimes are whole seconds). */
  const waitStale = async () => {
    const s = (await h.impl.sessions.fresh(key))!;
    await delay(Math.max(0, s.expiresAt - SKEW_S * 1000 - Date.now()) + 50);
  };

  before(async () => {
    idp = await startTestIdp({ accessTokenTTL: 3 });
    idp.accounts.add('erin', 'erinpass123');
    h = await startAuthPlugin({ authServer: idp.issuer, registryUrl: REGISTRY },
      { allowPasswordGrant: true, resource: idp.audience, refreshSkewSeconds: SKEW_S });
    key = `session:test:${idp.issuer}`;
    await h.auth.login({ username: 'erin', password: 'erinpass123', server: '', deviceFlow: false, deviceCode: '' }, h.ctx());
  });
  after(async () => {
    await h?.close();
    await idp?.stop();
  });

  it('refreshes an expiring access token transparently, and the new one is valid at the registry realm', async () => {
    const old = (await h.impl.sessions.fresh(key))!;
    const before = refreshes();
    await waitStale();
    const creds = await h.auth.registryCredentials(REGISTRY, h.ctx());
    assert.ok(creds?.kind === 'identityToken');
    assert.equal(refreshes() - before, 1);
    const now = (await h.impl.sessions.fresh(key))!;
    assert.notEqual(now.accessToken, old.accessToken);
    // The provider rotates refresh tokens for public clients; the rotated one is what we now hand out.
    assert.notEqual(now.refreshToken, old.refreshToken);
    assert.equal(creds.token, now.refreshToken);
    const check = oidcCredentialCheck(idp);
    assert.equal((await check({ grantType: 'basic', username: 'erin', secret: now.accessToken }))?.subject, 'erin');
    assert.equal(await check({ grantType: 'refresh_token', secret: old.refreshToken }), undefined, 'the consumed RT is dead');
  });

  it('refreshes exactly once for ten concurrent callers, and all get the same session', async () => {
    await waitStale();
    const before = refreshes();
    const results = await Promise.all(Array.from({ length: 10 }, () => h.auth.registryCredentials(REGISTRY, h.ctx())));
    assert.equal(refreshes() - before, 1);
    const tokens = new Set(results.map((c) => (c?.kind === 'identityToken' ? c.token : 'none')));
    assert.equal(tokens.size, 1);
    assert.ok(!tokens.has('none'));
    // Reusing a rotated refresh token would have made the provider revoke the grant: it still works.
    await waitStale();
    assert.ok(await h.auth.registryCredentials(REGISTRY, h.ctx()));
  });

  it('ends the session with "log in again" when the provider refuses the refresh (grant revoked)', async () => {
    const s = (await h.impl.sessions.fresh(key))!;
    // Revoke behind the daemon's back, as an admin would at the provider.
    const meta = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json() as { revocation_endpoint: string };
    const res = await fetch(meta.revocation_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: s.refreshToken!, token_type_hint: 'refresh_token', client_id: idp.clientId }).toString(),
    });
    assert.equal(res.status, 200);
    await waitStale();
    await assert.rejects(h.auth.registryCredentials(REGISTRY, h.ctx()),
      (e: Error & { code?: string }) => e.code === 'UNAUTHENTICATED' && e.message === 'session expired; log in again with `vmr login`');
    assert.equal(await h.auth.registryCredentials(REGISTRY, h.ctx()), undefined, 'the dead session is gone');
  });
});
