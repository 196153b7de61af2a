// The proof that the README's plugin guide works: a plugin outside src/, with its own package.json,
// loaded by path from the config file, serving real RPCs.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { mkdir, symlink, lstat } from 'node:fs/promises';
import path from 'node:path';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { repoRoot } from '../support/services.js';

const example = path.join(repoRoot, 'examples', 'plugin-hello');

describe('example third-party plugin (examples/plugin-hello)', () => {
  let td: TestDaemon;
  before(async () => {
    // What `npm install` does in the example for its `vmregistry: file:../..` dev dependency.
    const link = path.join(example, 'node_modules', 'vmregistry');
    await mkdir(path.dirname(link), { recursive: true });
    await lstat(link).catch(() => symlink(repoRoot, link, 'dir'));
    td = await startTestDaemon({
      config: { plugins: { hello: { module: path.join(example, 'index.js'), config: { greeting: 'good morning', secret: 's3cret', colour: 'x' } } } },
    });
  });
  after(async () => { await td?.stop(); });

  it('is loaded from the config file and serves Login, Logout and HealthCheck', async () => {
    const h = await td.client.call('HealthCheck');
    const auth = h.components.find((c: any) => c.name === 'auth');
    assert.equal(auth.plugin, 'hello');
    assert.equal(auth.status, 'SERVING');
    assert.equal(auth.message, 'good morning from the hello plugin');
    const r = await td.client.call('Login', { username: 'alice', password: 's3cret' });
    assert.equal(r.message, 'good morning, alice!');
    await assert.rejects(td.client.call('Login', { username: 'alice', password: 'nope' }), (e: any) => e.code === status.UNAUTHENTICATED);
    assert.equal((await td.client.call('Logout', {})).message, 'goodbye');
    assert.equal((await td.client.call('Logout', {})).message, 'not logged in');
    await assert.rejects(td.client.call('Register', { username: 'bob', password: 'pw' }), (e: any) => e.code === status.UNIMPLEMENTED && /cannot register/.test(e.details));
  });

  it('reports its status through the plugin host', () => {
    const st = td.daemon.plugins.status().find((s) => s.id === 'hello');
    assert.equal(st?.state, 'ready');
    assert.equal(st?.from, path.join(example, 'index.js'));
  });
});
