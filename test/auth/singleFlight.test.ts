import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SingleFlight } from '../../src/plugins/auth-oidc/singleFlight.js';

describe('SingleFlight', () => {
  it('runs once for concurrent callers of one key and shares the result', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls = Array.from({ length: 10 }, () => sf.do('k', async () => {
      runs++;
      await gate;
      return 42;
    }));
    await Promise.resolve();
    release();
    assert.deepEqual(await Promise.all(calls), Array(10).fill(42));
    assert.equal(runs, 1);
  });

  it('runs separately per key, and again once the previous flight has settled', async () => {
    const sf = new SingleFlight<string>();
    let runs = 0;
    const fn = async () => `run${++runs}`;
    const [a, b] = await Promise.all([sf.do('a', fn), sf.do('b', fn)]);
    assert.notEqual(a, b);
    assert.equal(await sf.do('a', fn), 'run3');
    assert.equal(sf.running('a'), undefined);
  });

  it('shares a failure with every waiting caller, then forgets it (even a synchronous throw)', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    const boom = () => {
      runs++;
      throw new Error('refresh failed');
    };
    const results = await Promise.allSettled([sf.do('k', boom as never), sf.do('k', boom as never)]);
    assert.ok(results.every((r) => r.status === 'rejected' && /refresh failed/.test(String(r.reason))));
    assert.equal(runs, 1);
    assert.equal(await sf.do('k', async () => 7), 7);
  });
});
