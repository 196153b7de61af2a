// Two daemons on one Redis state store, each with its own session key file (issue 15.6): the contexts are
// shared, the OIDC sessions are not — daemon B neither sees, overwrites nor deletes daemon A's session.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import authOidcPlugin from '../../../src/plugins/auth-oidc/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/index.js';
import { freePort } from '../../support/freePort.js';
import { startTestIdp, type TestIdp } from '../../support/oidc/provider.js';
import { requireService } from '../../support/services.js';

describe('OIDC sessions on a shared Redis store, daemons with different session keys', () => {
  let redis: ChildProcess;
  let dir: string;
  let idp: TestIdp;
  let a: TestDaemon;
  let b: TestDaemon;
  before(async () => {
    await requireService('packages');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-redis-sess-'));
    idp = await startTestIdp();
    idp.accounts.add('alice', 'alicepass123');
    idp.accounts.add('bob', 'bobpass12345');
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const opts = {
      config: { state: { url: `redis://127.0.0.1:${port}` } },
      plugins: [authOidcPlugin],
      pluginConfig: { 'auth-oidc': { allowPasswordGrant: true, resource: idp.audience } },
    };
    for (let i = 0; ; i++) {
      try {
        a = await startTestDaemon(opts);
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    b = await startTestDaemon(opts); // its own data dir, so its own session.key
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await idp?.stop();
    redis?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps each daemon\'s session its own', async () => {
    await a.client.call('ContextCreate', { context: { name: 'corp', authServer: idp.issuer, authClientId: idp.clientId }, use: true });
    await b.client.call('ContextUse', { name: 'corp' }).catch(() => undefined);
    assert.equal((await a.client.call('Login', { username: 'alice', password: 'alicepass123', server: idp.issuer })).username, 'alice');
    // B cannot decrypt A's session: for B there is none, and asking must not delete it.
    assert.match((await b.client.call('Logout', { server: idp.issuer })).message, /not logged in/);
    // B logging in on the same context and issuer does not overwrite A's.
    assert.equal((await b.client.call('Login', { username: 'bob', password: 'bobpass12345', server: idp.issuer })).username, 'bob');
    assert.match((await a.client.call('Logout', { server: idp.issuer })).message, /logged out alice/);
    assert.match((await b.client.call('Logout', { server: idp.issuer })).message, /logged out bob/);
  });
});
