// The auth plugin against a second real OpenID Provider, Debian's glewlwyd, so our assumptions are not
// one provider's: it allows the password grant only to confidential clients (client secret via
// client_secret_basic, chosen from its discovery document), refuses a wrong password with a bare HTTP 403
// and no body, and a wrong client secret with a bare 400.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import authOidcPlugin from '../../../src/plugins/auth-oidc/index.js';
import { startTestDaemon } from '../../../src/testing/startTestDaemon.js';
import { startGlewlwyd, type Glewlwyd } from '../../support/oidc/glewlwyd.js';
import { startAuthPlugin, type AuthHarness } from '../../support/oidc/harness.js';

const login = (username: string, password: string) => ({ username, password, server: '', deviceFlow: false, deviceCode: '' });
type CodedError = Error & { code?: string };

describe('auth-oidc against glewlwyd (a second real provider)', () => {
  let g: Glewlwyd;
  let h: AuthHarness;
  let dir: string;
  const opened: AuthHarness[] = [];
  const plugin = async (clientId: string, secret: string | undefined, over: Record<string, unknown> = {}) => {
    const p = await startAuthPlugin({ authServer: g.issuer, authClientId: clientId }, {
      allowPasswordGrant: true,
      scopes: 'openid',
      ...(secret === undefined ? {} : { clients: [{ issuer: g.issuer, clientId, clientSecret: secret }] }),
      ...over,
    });
    opened.push(p);
    return p;
  };

  before(async () => {
    g = await startGlewlwyd();
    await g.addUser('frank', 'frankpass123');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-glw-secret-'));
    const secretFile = path.join(dir, 'client-secret');
    await writeFile(secretFile, `${g.clientSecret}\n`, { mode: 0o600 });
    // The secret comes from a file here; a refresh skew longer than glewlwyd's 1 h tokens makes every
    // fresh() a refresh, so refresh is exercised without waiting.
    h = await startAuthPlugin({ authServer: g.issuer, authClientId: g.clientId }, {
      allowPasswordGrant: true, scopes: 'openid', refreshSkewSeconds: 7200,
      clients: [{ issuer: g.issuer, clientId: g.clientId, clientSecretFile: secretFile }],
    });
  });
  after(async () => {
    for (const p of opened) await p.close();
    await h?.close();
    await g?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('logs in with a good password as a confidential client, and refreshes', async () => {
    const res = await h.auth.login(login('frank', 'frankpass123'), h.ctx());
    assert.equal(res.pending, false);
    assert.equal(res.server, g.issuer);
    assert.equal(res.username, 'frank');
    assert.ok(res.accessToken.length > 20);
    const key = `session:test:${g.issuer}`;
    const before = (h.impl.sessions.refreshCount.get(key) ?? 0);
    const s = await h.impl.sessions.fresh(key);
    assert.equal((h.impl.sessions.refreshCount.get(key) ?? 0), before + 1, 'the session was refreshed at glewlwyd');
    assert.ok(s?.accessToken && s.accessToken !== res.accessToken, 'a new access token');
  });

  it('answers a wrong password (a bare 403 from glewlwyd) with UNAUTHENTICATED, not UNAVAILABLE', async () => {
    await assert.rejects(h.auth.login(login('frank', 'not-his-password'), h.ctx({ name: 'wrongpw' })), (e: CodedError) => {
      assert.equal(e.code, 'UNAUTHENTICATED', e.message);
      assert.match(e.message, /HTTP 403/);
      assert.doesNotMatch(e.message, /unreachable|misbehaving/);
      return true;
    });
  });

  it('answers a wrong client secret (a bare 400) and a missing one (public client) with UNAUTHENTICATED', async () => {
    const wrong = await plugin(g.clientId, 'not-the-secret');
    await assert.rejects(wrong.auth.login(login('frank', 'frankpass123'), wrong.ctx()),
      (e: CodedError) => e.code === 'UNAUTHENTICATED' && /HTTP 400/.test(e.message) && !e.message.includes('not-the-secret'));
    const none = await plugin(g.clientId, undefined);
    await assert.rejects(none.auth.login(login('frank', 'frankpass123'), none.ctx()), (e: CodedError) => e.code === 'UNAUTHENTICATED');
  });

  it('starts the device flow as the confidential client and answers pending until the user acts', async () => {
    const dev = await plugin(g.clientId, g.clientSecret, { deviceWaitSeconds: 0 });
    const start = await dev.auth.login({ ...login('', ''), deviceFlow: true }, dev.ctx());
    assert.equal(start.pending, true);
    assert.match(start.userCode ?? '', /\w/);
    assert.ok(start.verificationUri?.startsWith(g.issuer));
    const poll = await dev.auth.login({ ...login('', ''), deviceCode: start.deviceCode! }, dev.ctx());
    assert.equal(poll.pending, true);
  });

  it('logs out: revokes at glewlwyd and hands the end-session URL', async () => {
    await h.auth.login(login('frank', 'frankpass123'), h.ctx({ name: 'bye' }));
    const out = await h.auth.logout('', h.ctx({ name: 'bye' }));
    assert.match(out.message, /logged out frank/);
    assert.doesNotMatch(out.message, /could not revoke/);
    assert.match(out.message, /end_session/);
    assert.equal(await h.impl.store.raw(`session:bye:${g.issuer}`), undefined);
  });

  it('never logs the client secret nor puts it in a message', async () => {
    for (const p of [h, ...opened]) {
      for (const line of p.log.lines) assert.ok(!line.includes(g.clientSecret), `secret in a log line: ${line.slice(0, 200)}`);
    }
  });

  it('refuses a client secret file other users can read', async () => {
    const loose = path.join(dir, 'loose');
    await writeFile(loose, g.clientSecret);
    await chmod(loose, 0o644);
    const p = await plugin(g.clientId, undefined, { clients: [{ issuer: g.issuer, clientId: g.clientId, clientSecretFile: loose }] });
    await assert.rejects(p.auth.login(login('frank', 'frankpass123'), p.ctx()),
      (e: CodedError) => e.code === 'FAILED_PRECONDITION' && /readable by every user/.test(e.message));
  });

  it('through the daemon: UNAUTHENTICATED over gRPC, and the secret in no file of the data dir', async () => {
    const d = await startTestDaemon({
      plugins: [authOidcPlugin],
      pluginConfig: { 'auth-oidc': { allowPasswordGrant: true, scopes: 'openid', clients: [{ issuer: g.issuer, clientId: g.clientId, clientSecret: g.clientSecret }] } },
    });
    try {
      await d.client.call('ContextCreate', { context: { name: 'glw', authServer: g.issuer, authClientId: g.clientId }, use: true });
      await assert.rejects(d.client.call('Login', { username: 'frank', password: 'wrong-wrong' }), (e: { code?: number; details?: string }) =>
        e.code === 16 && !String(e.details).includes(g.clientSecret));
      const ok = await d.client.call('Login', { username: 'frank', password: 'frankpass123' });
      assert.equal(ok.username, 'frank');
      const out = await d.client.call('Logout', {});
      assert.match(out.message, /end_session/);
      for (const file of await filesUnder(d.dataDir)) {
        assert.equal((await readFile(file)).includes(Buffer.from(g.clientSecret)), false, `client secret in ${file}`);
      }
    } finally {
      await d.stop();
    }
  });
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
