// The plugin loaded by the real daemon (loader, keyv/SQLite state, gRPC): Register, Login, HealthCheck and
// Logout over the socket, with the tokens sealed in the SQLite file and the key file 0600.
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import authOidcPlugin from '../../../src/plugins/auth-oidc/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { startTestIdp, type TestIdp } from '../../support/oidc/provider.js';

const status = (code: number) => (e: { code?: number }) => e.code === code;

describe('auth-oidc in the daemon over gRPC', () => {
  let idp: TestIdp;
  let d: TestDaemon;

  before(async () => {
    idp = await startTestIdp();
    d = await startTestDaemon({
      plugins: [authOidcPlugin],
      pluginConfig: { 'auth-oidc': { allowPasswordGrant: true, resource: idp.audience, scim: { url: idp.scimUrl, token: idp.scimToken } } },
    });
    await d.client.call('ContextCreate', {
      context: { name: 'corp', authServer: idp.issuer, authClientId: idp.clientId, registryUrl: '127.0.0.1:5996' }, use: true,
    });
  });
  after(async () => {
    await d?.stop();
    await idp?.stop();
  });

  it('registers, logs in, reports health and logs out through the RPCs', async () => {
    const reg = await d.client.call('Register', { username: 'ivan', password: 'ivanpass123', email: 'ivan@example.test' });
    assert.equal(reg.username, 'ivan');
    await assert.rejects(d.client.call('Register', { username: 'ivan', password: 'ivanpass123' }), status(6)); // ALREADY_EXISTS
    await assert.rejects(d.client.call('Register', { username: 'judy', password: 'weak' }), status(3)); // INVALID_ARGUMENT

    const login = await d.client.call('Login', { username: 'ivan', password: 'ivanpass123' });
    assert.equal(login.username, 'ivan');
    assert.equal(login.server, idp.issuer);
    await assert.rejects(d.client.call('Login', { username: 'ivan', password: 'nope-nope-1' }), status(16)); // UNAUTHENTICATED

    const health = await d.client.call('HealthCheck', {});
    const auth = (health.components as Array<{ name: string; status: string }>).find((c) => c.name === 'auth');
    assert.equal(auth?.status, 'SERVING');

    const keyFile = path.join(d.dataDir, 'plugins', 'auth-oidc', 'session.key');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    for (const f of (await readdir(d.dataDir)).filter((n) => n.startsWith('state.sqlite'))) {
      const bytes = await readFile(path.join(d.dataDir, f));
      assert.equal(bytes.includes(Buffer.from(login.accessToken)), false, `access token in clear in ${f}`);
    }

    const out = await d.client.call('Logout', {});
    assert.match(out.message, /logged out ivan/);
    assert.match((await d.client.call('Logout', {})).message, /not logged in/);
  });
});
