import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runDag, type DagTask } from '../../src/plugins/compose/dag.js';

/** Tasks that record when they begin and end; `fail` ids throw. */
function tasks(spec: Record<string, string[]>, fail: string[] = [], gates: Record<string, () => Promise<void>> = {}) {
  const log: string[] = [];
  const list: DagTask<string>[] = Object.entries(spec).map(([id, needs]) => ({
    id,
    needs: needs.map((n) => ({ id: n, ...(gates[`${n}>${id}`] ? { gate: gates[`${n}>${id}`] } : {}) })),
    run: async () => {
      log.push(`begin ${id}`);
      await new Promise((r) => setImmediate(r));
      log.push(`end ${id}`);
      if (fail.includes(id)) throw new Error(`${id} broke`);
      return `${id}!`;
    },
  }));
  return { list, log };
}

describe('runDag', () => {
  it('starts a task only after its dependencies ended, and runs independent ones together', async () => {
    const { list, log } = tasks({ db: [], cache: [], web: ['db', 'cache'] });
    const r = await runDag(list);
    assert.deepEqual([...r.done.entries()].sort(), [['cache', 'cache!'], ['db', 'db!'], ['web', 'web!']]);
    assert.equal(r.failed.size + r.skipped.size, 0);
    assert.ok(log.indexOf('begin web') > log.indexOf('end db') && log.indexOf('begin web') > log.indexOf('end cache'));
    assert.ok(log.indexOf('begin cache') < log.indexOf('end db'), 'db and cache overlap');
  });

  it('waits for the gate a dependent asked for and checks a shared gate once', async () => {
    let checks = 0;
    let open!: () => void;
    const opened = new Promise<void>((r) => { open = r; });
    const shared = opened.then(() => { checks++; });
    const gate = () => shared;
    const { list, log } = tasks({ db: [], a: ['db'], b: ['db'] }, [], { 'db>a': gate, 'db>b': gate });
    const run = runDag(list);
    await new Promise((r) => setTimeout(r, 5));
    assert.ok(!log.includes('begin a') && !log.includes('begin b'), 'nothing starts before the gate opens');
    open();
    const r = await run;
    assert.equal(r.done.size, 3);
    assert.equal(checks, 1);
  });

  it('a failed task skips its dependents transitively, with reasons', async () => {
    const { list, log } = tasks({ db: [], web: ['db'], lb: ['web'], other: [] }, ['db']);
    const r = await runDag(list, { failFast: false });
    assert.deepEqual([...r.failed.keys()], ['db']);
    assert.equal((r.failed.get('db') as Error).message, 'db broke');
    assert.equal(r.skipped.get('web'), 'dependency "db" failed');
    assert.equal(r.skipped.get('lb'), 'dependency "web" did not start');
    assert.ok(r.done.has('other'));
    assert.ok(!log.includes('begin web'));
  });

  it('a gate that rejects is the dependency\'s failure, reported once', async () => {
    const gate = () => Promise.reject(new Error('no address'));
    const { list } = tasks({ db: [], a: ['db'], b: ['db'] }, [], { 'db>a': gate, 'db>b': gate });
    const r = await runDag(list);
    assert.deepEqual([...r.failed.keys()], ['db']);
    assert.equal((r.failed.get('db') as Error).message, 'no address');
    assert.ok(!r.done.has('db'));
    assert.deepEqual([...r.skipped.keys()].sort(), ['a', 'b']);
  });

  it('failFast: after a failure nothing new begins; tasks in flight finish', async () => {
    const list: DagTask<number>[] = [
      { id: 'a', needs: [], run: async () => { throw new Error('a broke'); } },
      { id: 'b', needs: [], run: () => new Promise((r) => setTimeout(() => r(2), 10)) },
      { id: 'c', needs: [{ id: 'b' }], run: async () => 3 },
    ];
    const r = await runDag(list);
    assert.deepEqual([...r.done.keys()], ['b']);
    assert.equal(r.skipped.get('c'), 'not started after an earlier failure');
    const lenient = await runDag(list, { failFast: false });
    assert.deepEqual([...lenient.done.keys()].sort(), ['b', 'c']);
  });

  it('refuses a need that names no task', async () => {
    await assert.rejects(runDag([{ id: 'a', needs: [{ id: 'x' }], run: async () => 1 }]), /unknown task "x"/);
  });
});
