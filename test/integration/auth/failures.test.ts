// What goes wrong, and the errors users get: provider down, password grant disabled, misused device codes,
// no registrar, HealthCheck states, and forged or expired tokens at the registry realm.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { startAuthPlugin, type AuthHarness } from '../../support/oidc/harness.js';
import { startTestIdp, type TestIdp } from '../../support/oidc/provider.js';
import { oidcCredentialCheck, type CheckLog } from '../../support/oidc/registryAuth.js';
import { requestToken, startTokenRealm, type TokenRealm } from '../../support/oidc/tokenRealm.js';

const REGISTRY = '127.0.0.1:5997';
const pw = (username: string, password: string) => ({ username, password, server: '', deviceFlow: false, deviceCode: '' });
const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

/** A loopback port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('auth-oidc failure modes', () => {
  let idp: TestIdp;
  let h: AuthHarness;
  let realm: TokenRealm;
  const checks: CheckLog = { rejected: [] };

  before(async () => {
    idp = await startTestIdp({ accessTokenTTL: 2 });
    idp.accounts.add('frank', 'frankpass123');
    realm = await startTokenRealm(oidcCredentialCheck(idp, checks));
    h = await startAuthPlugin({ authServer: idp.issuer, registryUrl: REGISTRY },
      { allowPasswordGrant: true, resource: idp.audience, refreshSkewSeconds: 0, deviceWaitSeconds: 0 });
  });
  after(async () => {
    await h?.close();
    await realm?.stop();
    await idp?.stop();
  });

  it('answers UNAVAILABLE when the provider is down, and health says NOT_SERVING with the reason', async () => {
    const down = `http://127.0.0.1:${await deadPort()}`;
    await assert.rejects(h.auth.login(pw('frank', 'frankpass123'), h.ctx({ authServer: down })),
      (e: Error & { code?: string }) => e.code === 'UNAVAILABLE' && e.message.includes(down) && /ECONNREFUSED/.test(e.message));
    const health = await h.auth.health(h.ctx({ authServer: down }));
    assert.equal(health.status, 'NOT_SERVING');
    assert.match(health.message, /ECONNREFUSED/);
  });

  it('reports health SERVING with latency, and NOT_CONFIGURED without an auth server', async () => {
    const ok = await h.auth.health(h.ctx());
    assert.equal(ok.status, 'SERVING');
    assert.ok(ok.latencyMs >= 0 && Number(ok.details?.jwksKeys) >= 1);
    assert.equal((await h.auth.health(h.ctx({ authServer: '' }))).status, 'NOT_CONFIGURED');
  });

  it('refuses login without an auth server, and the password grant unless enabled', async () => {
    await assert.rejects(h.auth.login(pw('frank', 'frankpass123'), h.ctx({ authServer: '' })), code('FAILED_PRECONDITION'));
    // The request's server overrides the (here absent) context auth server.
    const viaServer = await h.auth.login({ ...pw('frank', 'frankpass123'), server: `${idp.issuer}/` }, h.ctx({ name: 'bare', authServer: '' }));
    assert.equal(viaServer.server, idp.issuer);
    await h.auth.logout(idp.issuer, h.ctx({ name: 'bare', authServer: '' }));
    const strict = await startAuthPlugin({ authServer: idp.issuer }, {});
    try {
      await assert.rejects(strict.auth.login(pw('frank', 'frankpass123'), strict.ctx()),
        (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /device/.test(e.message));
    } finally {
      await strict.close();
    }
  });

  it('answers pending while the user has not finished, and refuses a device code from another context', async () => {
    const start = await h.auth.login({ ...pw('', ''), deviceFlow: true }, h.ctx());
    const again = await h.auth.login({ ...pw('', ''), deviceCode: start.deviceCode! }, h.ctx());
    assert.equal(again.pending, true);
    assert.ok((again.interval ?? 0) >= 1);
    await assert.rejects(h.auth.login({ ...pw('', ''), deviceCode: start.deviceCode! }, h.ctx({ name: 'other' })),
      code('INVALID_ARGUMENT'));
  });

  it('stops waiting for the user when the call is cancelled', async () => {
    const waiting = await startAuthPlugin({ authServer: idp.issuer }, { deviceWaitSeconds: 60 });
    try {
      const start = await waiting.auth.login({ ...pw('', ''), deviceFlow: true }, waiting.ctx());
      const ac = new AbortController();
      const p = waiting.auth.login({ ...pw('', ''), deviceCode: start.deviceCode! }, waiting.ctx({}, ac.signal));
      await delay(100);
      ac.abort();
      await assert.rejects(p, code('CANCELLED'));
    } finally {
      await waiting.close();
    }
  });

  it('refuses Register when no SCIM endpoint is configured', async () => {
    await assert.rejects(h.auth.register({ username: 'gina', password: 'ginapass123', email: '', displayName: '' }, h.ctx()),
      (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /scim\.url/.test(e.message));
  });

  it('has the token realm reject a forged access token and an expired one', async () => {
    const res = await h.auth.login(pw('frank', 'frankpass123'), h.ctx());
    const good = await requestToken(realm.realm, { kind: 'basic', username: 'frank', password: res.accessToken }, 'repository:a:pull');
    assert.equal(good.status, 200);

    // Same header and claims, signed with a key the provider never published.
    const { privateKey } = await jose.generateKeyPair('ES256');
    const claims = jose.decodeJwt(res.accessToken);
    const header = jose.decodeProtectedHeader(res.accessToken);
    const forged = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: header.typ, kid: header.kid }).sign(privateKey);
    const f = await requestToken(realm.realm, { kind: 'basic', username: 'frank', password: forged }, 'repository:a:pull');
    assert.equal(f.status, 401);
    assert.match(checks.rejected.at(-1)!, /signature/);

    // A tampered payload under the real signature.
    const [h64, , s64] = res.accessToken.split('.');
    const tampered = `${h64}.${Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url')}.${s64}`;
    assert.equal((await requestToken(realm.realm, { kind: 'basic', username: 'root', password: tampered }, 'repository:a:pull')).status, 401);

    // The genuine token once its 2 s lifetime is over.
    await delay(Math.max(0, Date.parse(res.expiresAt) - Date.now()) + 1100);
    const expired = await requestToken(realm.realm, { kind: 'basic', username: 'frank', password: res.accessToken }, 'repository:a:pull');
    assert.equal(expired.status, 401);
    assert.match(checks.rejected.at(-1)!, /exp/);
  });

  it('keeps the session when the provider is down during a refresh, answering UNAVAILABLE', async () => {
    const key = `session:test:${idp.issuer}`;
    await h.auth.login(pw('frank', 'frankpass123'), h.ctx());
    const s = (await h.impl.sessions.fresh(key))!;
    await idp.stop();
    await delay(Math.max(0, s.expiresAt - Date.now()) + 50);
    await assert.rejects(h.auth.registryCredentials(REGISTRY, h.ctx()), code('UNAVAILABLE'));
    assert.ok(await h.impl.store.raw(key), 'session kept for when the provider is back');
    // Logging out still works locally and says the provider could not be told.
    const out = await h.auth.logout('', h.ctx());
    assert.match(out.message, /could not revoke/);
    assert.equal(await h.impl.store.raw(key), undefined);
  });
});
