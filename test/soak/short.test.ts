// The short soak (CI): 500 concurrent mixed RPCs in rounds against a daemon (fake hypervisor, real image store); no errors,
// and heap after GC stays flat between the rounds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { fakeHypervisorPlugin } from '../support/fakeHypervisor.js';
import { MiB, runMixedLoad, settledMemory } from './mixedLoad.js';

describe('short soak', () => {
  let td: TestDaemon;
  before(async () => {
    td = await startTestDaemon({ plugins: [fakeHypervisorPlugin(['running'], () => undefined)] });
  });
  after(async () => {
    await td.stop();
  });

  it('500 concurrent mixed calls, three rounds: no errors, every op exercised, heap flat after GC', async (t) => {
    const round = async (i: number) => {
      let started = 0;
      // Each of the 500 workers makes exactly one operation per round: 500 concurrent calls.
      return runMixedLoad(td.client, { concurrency: 500, offset: i * 1000, until: () => started++ >= 500 });
    };
    const first = await round(0);
    assert.deepEqual(first.errors.slice(0, 5), []);
    const base = await settledMemory();
    const second = await round(1);
    const third = await round(2);
    const end = await settledMemory();
    for (const s of [second, third]) assert.deepEqual(s.errors.slice(0, 5), [], `errors: ${s.errors.length}`);
    assert.equal(first.calls + second.calls + third.calls, 1500);
    assert.equal(Object.keys(third.byOp).length, 8, `ops run: ${Object.keys(third.byOp)}`);
    assert.ok(third.events > 0, 'Events streams delivered events');
    const growth = (end.heapUsed - base.heapUsed) / MiB;
    t.diagnostic(`heap after GC ${(base.heapUsed / MiB).toFixed(1)} → ${(end.heapUsed / MiB).toFixed(1)} MiB, rss ${(base.rss / MiB).toFixed(0)} → ${(end.rss / MiB).toFixed(0)} MiB`);
    assert.ok(growth < 8, `heap after GC grew ${growth.toFixed(1)} MiB over two rounds of 500 calls (${(base.heapUsed / MiB).toFixed(1)} → ${(end.heapUsed / MiB).toFixed(1)} MiB)`);
    assert.equal(td.daemon.events.subscriberCount, 0, 'every Events stream unsubscribed');
    const { contexts } = await td.client.call('ContextList');
    assert.deepEqual(contexts.map((c: { name: string }) => c.name), ['default'], 'every soak context was removed');
  });
});
