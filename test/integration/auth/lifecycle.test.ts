// Register → login (password) → registry credentials accepted by a token realm → logout → rejected,
// against a real OpenID Provider (oidc-provider 8) with a SCIM endpoint.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { approveDevice } from '../../support/oidc/browser.js';
import { startAuthPlugin, type AuthHarness } from '../../support/oidc/harness.js';
import { startTestIdp, type TestIdp } from '../../support/oidc/provider.js';
import { oidcCredentialCheck, type CheckLog } from '../../support/oidc/registryAuth.js';
import { requestToken, startTokenRealm, type TokenRealm } from '../../support/oidc/tokenRealm.js';

const REGISTRY = '127.0.0.1:5999';
const login = (username: string, password: string) => ({ username, password, server: '', deviceFlow: false, deviceCode: '' });

describe('auth-oidc lifecycle against a real provider', () => {
  let idp: TestIdp;
  let h: AuthHarness;
  let realm: TokenRealm;
  const checks: CheckLog = { rejected: [] };

  before(async () => {
    idp = await startTestIdp();
    realm = await startTokenRealm(oidcCredentialCheck(idp, checks));
    h = await startAuthPlugin({ authServer: idp.issuer, registryUrl: `http://${REGISTRY}` }, {
      allowPasswordGrant: true,
      resource: idp.audience,
      scim: { url: idp.scimUrl, token: idp.scimToken },
    });
  });
  after(async () => {
    await h?.close();
    await realm?.stop();
    await idp?.stop();
  });

  it('registers a user through SCIM, refusing a taken name and a weak password', async () => {
    const r = await h.auth.register({ username: 'carol', password: 'carolpass42', email: 'carol@example.test', displayName: 'Carol' }, h.ctx());
    assert.equal(r.username, 'carol');
    assert.match(r.userId, /^[0-9a-f-]{36}$/);
    assert.ok(idp.accounts.verify('carol', 'carolpass42'), 'account exists at the provider with that password');

    await assert.rejects(h.auth.register({ username: 'carol', password: 'otherpass42', email: '', displayName: '' }, h.ctx()),
      (e: Error & { code?: string }) => e.code === 'ALREADY_EXISTS' && /already taken/.test(e.message));
    await assert.rejects(h.auth.register({ username: 'dave', password: 'short1', email: '', displayName: '' }, h.ctx()),
      (e: Error & { code?: string; field?: string }) =>
        e.code === 'INVALID_ARGUMENT' && /at least 10 characters/.test(e.message) && e.field === 'password');
    assert.equal(idp.accounts.has('dave'), false);
  });

  it('logs in with the password grant and hands the registry credentials its token realm accepts', async () => {
    const res = await h.auth.login(login('carol', 'carolpass42'), h.ctx());
    assert.equal(res.username, 'carol');
    assert.equal(res.server, idp.issuer);
    assert.equal(res.pending, false);
    assert.ok(Date.parse(res.expiresAt) > Date.now());

    const creds = await h.auth.registryCredentials(REGISTRY, h.ctx());
    assert.equal(creds?.kind, 'identityToken');
    assert.ok(creds?.kind === 'identityToken');
    assert.equal(creds.username, 'carol');

    // Identity token → OAuth2 POST grant_type=refresh_token at the realm (what docker/podman do).
    const viaRt = await requestToken(realm.realm, creds, 'repository:vm/alpine:pull,push');
    assert.equal(viaRt.status, 200, JSON.stringify(viaRt.body));
    const claims = await realm.verify(viaRt.token!);
    assert.equal(claims.sub, 'carol');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'vm/alpine', actions: ['pull', 'push'] }]);

    // The access token as the Basic password at the realm's GET (the other accepted form).
    const viaAt = await requestToken(realm.realm, { kind: 'basic', username: 'carol', password: res.accessToken }, 'repository:vm/alpine:pull');
    assert.equal(viaAt.status, 200, JSON.stringify(viaAt.body));
    assert.equal((await realm.verify(viaAt.token!)).sub, 'carol');
  });

  it('gives no credentials to a registry other than the context\'s', async () => {
    assert.equal(await h.auth.registryCredentials('registry-1.docker.io', h.ctx()), undefined);
  });

  it('keeps the tokens sealed in the state store and out of the logs', async () => {
    const s = await h.impl.sessions.fresh(`session:test:${idp.issuer}`);
    assert.ok(s?.refreshToken && s.accessToken && s.idToken);
    const stored = JSON.stringify([...h.state.data.values()]);
    for (const secret of [s.accessToken, s.refreshToken, s.idToken, 'carolpass42']) {
      assert.equal(stored.includes(secret), false, 'a secret is stored in clear');
      assert.equal(h.log.lines.join('\n').includes(secret), false, 'a secret was logged');
    }
  });

  it('logs out: revokes at the provider, forgets the session, and the realm rejects the old identity token', async () => {
    const before = await h.auth.registryCredentials(REGISTRY, h.ctx());
    assert.ok(before?.kind === 'identityToken');
    const out = await h.auth.logout('', h.ctx());
    assert.match(out.message, /logged out carol/);
    assert.match(out.message, /\/session\/end\?client_id=vmr/);
    assert.equal(await h.auth.registryCredentials(REGISTRY, h.ctx()), undefined);
    const rejected = await requestToken(realm.realm, before, 'repository:vm/alpine:pull');
    assert.equal(rejected.status, 401);
    assert.match(checks.rejected.at(-1) ?? '', /not active/);
    // Idempotent.
    assert.match((await h.auth.logout('', h.ctx())).message, /not logged in/);
  });

  it('refuses a wrong password with UNAUTHENTICATED and stores nothing', async () => {
    await assert.rejects(h.auth.login(login('carol', 'wrongpass99'), h.ctx()),
      (e: Error & { code?: string }) => e.code === 'UNAUTHENTICATED' && /wrong username or password/.test(e.message));
    assert.equal(await h.auth.registryCredentials(REGISTRY, h.ctx()), undefined);
  });

  it('completes the device flow with the test playing the user\'s browser', async () => {
    const ctx = h.ctx({ name: 'device' });
    const start = await h.auth.login({ ...login('', ''), deviceFlow: true }, ctx);
    assert.equal(start.pending, true);
    assert.ok(start.deviceCode && start.userCode && start.verificationUri && start.verificationUriComplete);
    assert.ok(start.verificationUriComplete.includes(encodeURIComponent(start.userCode)) ||
      start.verificationUriComplete.includes(start.userCode));

    const html = await approveDevice(start.verificationUriComplete, 'carol', 'carolpass42');
    assert.match(html, /Sign-in Success/);

    const done = await h.auth.login({ ...login('', ''), deviceCode: start.deviceCode }, ctx);
    assert.equal(done.pending, false);
    assert.equal(done.username, 'carol');
    const creds = await h.auth.registryCredentials(REGISTRY, ctx);
    assert.ok(creds?.kind === 'identityToken');
    assert.equal((await requestToken(realm.realm, creds, 'repository:vm/x:pull')).status, 200);
    // The device code is single-use.
    await assert.rejects(h.auth.login({ ...login('', ''), deviceCode: start.deviceCode }, ctx),
      (e: Error & { code?: string }) => e.code === 'UNAUTHENTICATED');
    await h.auth.logout('', ctx);
  });
});
