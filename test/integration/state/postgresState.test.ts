// Several daemons on one PostgreSQL state store (a cluster of Debian's postgresql started by the suite):
// contexts created, switched or removed through one daemon are what the others see, and state outlives
// a daemon restart.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/index.js';
import { KeyvStateStore } from '../../../src/core/state/KeyvStateStore.js';
import { startPostgres, type TestPostgres } from '../../support/postgres.js';
import { requireService } from '../../support/services.js';
import { contextsAreShared } from './contextsAcross.js';

describe('shared state on PostgreSQL', () => {
  let pg: TestPostgres;
  let a: TestDaemon;
  let b: TestDaemon;
  before(async () => {
    await requireService('packages');
    pg = await startPostgres();
    a = await startTestDaemon({ config: { state: { url: pg.url } } });
    b = await startTestDaemon({ config: { state: { url: pg.url } } });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await pg?.stop();
  });

  it('a context created on one daemon is listed, used and removable on the other', () => contextsAreShared(a, b));

  it('namespaces stay apart, keys list by prefix, TTLs expire, and values survive reopening', async () => {
    const s1 = await KeyvStateStore.open(pg.url);
    try {
      const x = s1.namespace('pgtest-x');
      const y = s1.namespace('pgtest-y');
      await x.set('k1', { n: 1 });
      await x.set('k2', 'two');
      await y.set('k1', 'other');
      await x.set('short', 1, 200);
      assert.deepEqual((await x.keys()).sort(), ['k1', 'k2', 'short']);
      assert.deepEqual((await x.keys('k')).sort(), ['k1', 'k2']);
      assert.equal(await y.get('k1'), 'other');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(await x.get('short'), undefined, 'expired');
      assert.equal(await x.delete('k2'), true);
    } finally {
      await s1.close();
    }
    const s2 = await KeyvStateStore.open(pg.url);
    try {
      assert.deepEqual(await s2.namespace('pgtest-x').get('k1'), { n: 1 });
      assert.equal(await s2.namespace('pgtest-x').get('k2'), undefined);
    } finally {
      await s2.close();
    }
  });
});
