import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';

describe('contexts over gRPC', () => {
  let td: TestDaemon;
  before(async () => { td = await startTestDaemon(); });
  after(async () => { await td.stop(); });

  it('always has a current default context', async () => {
    const { context } = await td.client.call('ContextCurrent');
    assert.equal(context.name, 'default');
    assert.equal(context.current, true);
    const list = await td.client.call('ContextList');
    assert.deepEqual(list.contexts.map((c: any) => c.name), ['default']);
    assert.equal(list.current, 'default');
  });

  it('creates, updates with a mask, switches and removes', async () => {
    const created = await td.client.call('ContextCreate', { context: { name: 'lab', registryUrl: 'localhost:5000', libvirtUri: 'test+unix:///default', description: 'lab' } });
    assert.equal(created.context.current, false);
    assert.ok(Date.parse(created.context.created) > 0);
    const upd = await td.client.call('ContextUpdate', { name: 'lab', context: { description: 'changed', registryUrl: 'ignored:1' }, updateMask: ['description'] });
    assert.equal(upd.context.description, 'changed');
    assert.equal(upd.context.registryUrl, 'localhost:5000');
    const used = await td.client.call('ContextUse', { name: 'lab' });
    assert.equal(used.context.current, true);
    assert.equal((await td.client.call('ContextCurrent')).context.name, 'lab');
    assert.equal((await td.client.call('HealthCheck')).context, 'lab');
    await assert.rejects(td.client.call('ContextRemove', { name: 'lab' }), (e: any) => e.code === status.FAILED_PRECONDITION && /current context/.test(e.details));
    await td.client.call('ContextUse', { name: 'default' });
    const removed = await td.client.call('ContextRemove', { name: 'lab' });
    assert.equal(removed.context.name, 'lab');
    await assert.rejects(td.client.call('ContextUse', { name: 'lab' }), (e: any) => e.code === status.NOT_FOUND);
  });

  it('guards names, duplicates, default and bad URLs', async () => {
    const bad = async (req: any, code: number, re: RegExp) => assert.rejects(td.client.call('ContextCreate', req), (e: any) => e.code === code && re.test(e.details));
    await bad({ context: { name: '../etc' } }, status.INVALID_ARGUMENT, /not a valid name/);
    await bad({ context: { name: '' } }, status.INVALID_ARGUMENT, /not a valid name/);
    await bad({ context: { name: 'x', authServer: 'not a url' } }, status.INVALID_ARGUMENT, /auth_server/);
    await bad({ context: { name: 'x', libvirtUri: 'nonsense' } }, status.INVALID_ARGUMENT, /libvirt_uri/);
    await bad({ context: { name: 'x', registryUrl: 'ftp://r' } }, status.INVALID_ARGUMENT, /registry_url/);
    await bad({ context: { name: 'default' } }, status.ALREADY_EXISTS, /already exists/);
    await assert.rejects(td.client.call('ContextRemove', { name: 'default' }), (e: any) => e.code === status.FAILED_PRECONDITION);
    await assert.rejects(td.client.call('ContextUpdate', { name: 'default', context: {}, updateMask: ['nope'] }), (e: any) => e.code === status.INVALID_ARGUMENT && /update_mask/.test(e.details));
  });

  it('survives a daemon restart (state in SQLite)', async () => {
    const first = await startTestDaemon();
    await first.client.call('ContextCreate', { context: { name: 'persist', registryUrl: 'r.example:5000' }, use: true });
    await first.stop({ keepData: true });
    const second = await startTestDaemon({ dataDir: first.dataDir });
    try {
      const cur = await second.client.call('ContextCurrent');
      assert.equal(cur.context.name, 'persist');
      assert.equal(cur.context.registryUrl, 'r.example:5000');
    } finally {
      await second.stop();
    }
  });

  it('serialises concurrent creates of one name: exactly one wins', async () => {
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => td.client.call('ContextCreate', { context: { name: 'race' } })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r: any) => r.reason.code === status.ALREADY_EXISTS));
  });
});
