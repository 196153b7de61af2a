// ContextUpdate with an empty update_mask changes the fields that are set (AIP-134), not every field.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';

describe('ContextUpdate with an empty update_mask', () => {
  let td: TestDaemon;
  before(async () => { td = await startTestDaemon(); });
  after(async () => { await td.stop(); });

  it('changes only the fields that are set and keeps the others', async () => {
    await td.client.call('ContextCreate', { context: { name: 'aip', registryUrl: 'localhost:5000', libvirtUri: 'test+unix:///default', description: 'before', insecureRegistry: true } });
    const upd = await td.client.call('ContextUpdate', { name: 'aip', context: { description: 'after' } });
    assert.equal(upd.context.description, 'after');
    assert.equal(upd.context.registryUrl, 'localhost:5000');
    assert.equal(upd.context.libvirtUri, 'test+unix:///default');
    assert.equal(upd.context.insecureRegistry, true);
  });

  it('with nothing set changes nothing; a named field can still be cleared', async () => {
    await td.client.call('ContextCreate', { context: { name: 'aip2', registryUrl: 'localhost:5000', description: 'kept' } });
    assert.equal((await td.client.call('ContextUpdate', { name: 'aip2', context: {} })).context.description, 'kept');
    const cleared = await td.client.call('ContextUpdate', { name: 'aip2', context: {}, updateMask: ['description'] });
    assert.equal(cleared.context.description, '');
    assert.equal(cleared.context.registryUrl, 'localhost:5000');
  });
});
