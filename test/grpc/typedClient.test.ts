// The testing kit's typed unary(): results are the generated __Output types (int64 as decimal strings,
// defaults filled in), which the compiler checks here and the daemon's answers must match at run time.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';

describe('typed test client', () => {
  let td: TestDaemon;
  before(async () => { td = await startTestDaemon(); });
  after(async () => { await td.stop(); });

  it('answers with the shapes the generated types promise', async () => {
    const cur = await td.client.unary('ContextCurrent');
    const name: string = cur.context?.name ?? '';
    assert.equal(name, 'default');
    const gc = await td.client.unary('GarbageCollect', { dryRun: true });
    const freed: string = gc.freedBytes;
    assert.equal(freed, '0');
    assert.deepEqual(gc.removedDisks, []);
  });
});
