// What every shared state backend must give two daemons on it: one context store.
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import type { TestDaemon } from '../../../src/testing/index.js';

/** A context created on `a` is listed, used and removable on `b`. */
export async function contextsAreShared(a: TestDaemon, b: TestDaemon): Promise<void> {
  await a.client.call('ContextCreate', { context: { name: 'shared', registryUrl: 'r.example:5000' } });
  const onB = await b.client.call('ContextList');
  assert.deepEqual(onB.contexts.map((c: { name: string }) => c.name), ['default', 'shared']);
  await assert.rejects(b.client.call('ContextCreate', { context: { name: 'shared' } }), (e: { code: number }) => e.code === status.ALREADY_EXISTS);
  await a.client.call('ContextUse', { name: 'shared' });
  // Each daemon caches the current context for up to a second.
  let cur = '';
  for (let i = 0; i < 40 && cur !== 'shared'; i++) {
    cur = (await b.client.call('ContextCurrent')).context.name;
    if (cur !== 'shared') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(cur, 'shared');
  await b.client.call('ContextUse', { name: 'default' });
  await b.client.call('ContextRemove', { name: 'shared' });
  assert.deepEqual((await a.client.call('ContextList')).contexts.map((c: { name: string }) => c.name), ['default']);
}
