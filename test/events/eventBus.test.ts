import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, type DaemonEvent } from '../../src/core/events/EventBus.js';
import { eventFor } from '../../src/core/events/rpcEvents.js';
import { silentLogger } from '../../src/core/log/logger.js';

const bus = (events?: { queueSize: number; history: number }) => new EventBus(silentLogger(), { events: events ?? { queueSize: 16, history: 8 } });

async function take(sub: AsyncIterable<DaemonEvent> & { next(s?: AbortSignal): Promise<DaemonEvent | undefined> }, n: number): Promise<DaemonEvent[]> {
  const out: DaemonEvent[] = [];
  for (let i = 0; i < n; i++) {
    const ev = await sub.next(AbortSignal.timeout(2000));
    if (!ev) break;
    out.push(ev);
  }
  return out;
}

describe('EventBus', () => {
  it('filters by type and by name; daemon events always pass', async () => {
    const b = bus();
    const vms = b.subscribe({ types: ['vm'] });
    const named = b.subscribe({ names: ['web'] });
    const both = b.subscribe({ types: ['image'], names: ['web'] });
    b.publish({ type: 'vm', action: 'start', name: 'web' });
    b.publish({ type: 'vm', action: 'stop', name: 'db' });
    b.publish({ type: 'image', action: 'pull', name: 'web' });
    b.publish({ type: 'context', action: 'create', name: 'ci' });
    assert.deepEqual((await take(vms, 2)).map((e) => `${e.action}:${e.name}`), ['start:web', 'stop:db']);
    assert.deepEqual((await take(named, 2)).map((e) => `${e.type}:${e.action}`), ['vm:start', 'image:pull']);
    assert.deepEqual((await take(both, 1)).map((e) => `${e.type}:${e.action}`), ['image:pull']);
    for (const s of [vms, named, both]) assert.equal(s.size, 0, 'nothing else matched');
  });

  it('keeps a slow subscriber within its bound, drops the oldest and says how many', async () => {
    const b = bus({ queueSize: 10, history: 0 });
    const slow = b.subscribe({});
    for (let i = 0; i < 1000; i++) {
      b.publish({ type: 'vm', action: 'start', name: `vm${i}`, attributes: { pad: 'x'.repeat(100) } });
      assert.ok(slow.size <= 10, `queue at ${slow.size} after ${i + 1} events`);
    }
    assert.equal(slow.highWater, 10);
    assert.equal(b.droppedTotal, 990);
    const got = await take(slow, 11);
    assert.deepEqual({ type: got[0]!.type, action: got[0]!.action, count: got[0]!.attributes.count }, { type: 'daemon', action: 'events-dropped', count: '990' });
    assert.deepEqual(got.slice(1).map((e) => e.name), Array.from({ length: 10 }, (_, i) => `vm${990 + i}`), 'the newest 10 survive, in order');
    assert.equal(slow.size, 0);
  });

  it('does not drop for a subscriber that keeps up', async () => {
    const b = bus({ queueSize: 4, history: 0 });
    const sub = b.subscribe({});
    const seen: string[] = [];
    const reader = (async () => { for await (const e of sub) seen.push(e.action); })();
    for (let i = 0; i < 100; i++) {
      b.publish({ type: 'vm', action: `a${i}`, name: 'x' });
      await new Promise((r) => setImmediate(r));
    }
    b.close();
    await reader;
    assert.equal(seen.length, 100);
    assert.ok(!seen.includes('events-dropped'));
  });

  it('replays the bounded history on request; ids increase; close ends subscriptions', async () => {
    const b = bus({ queueSize: 100, history: 3 });
    for (let i = 0; i < 5; i++) b.publish({ type: 'network', action: 'create', name: `n${i}` });
    const replay = b.subscribe({}, { replay: true });
    const fresh = b.subscribe({});
    const got = await take(replay, 3);
    assert.deepEqual(got.map((e) => e.name), ['n2', 'n3', 'n4']);
    const seqs = got.map((e) => Number(e.id.split('-')[1]));
    assert.ok(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!);
    assert.match(got[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(fresh.size, 0);
    b.close();
    assert.equal(await fresh.next(), undefined);
    assert.equal(b.subscriberCount, 0);
    assert.equal(await b.subscribe({}).next(), undefined, 'a subscription after close ends at once');
  });

  it('maps successful RPCs to events with source and request id', () => {
    assert.deepEqual(eventFor('ContextCreate', { context: { name: 'ci' } }, { context: { name: 'ci' } }, 'r1'),
      { type: 'context', action: 'create', name: 'ci', attributes: { source: 'api', request_id: 'r1' } });
    assert.deepEqual(eventFor('PullImageWithProgress', { reference: 'a/b:1' }, { pull: { reference: 'reg/a/b:1', digest: 'sha256:1', size: '3' } }),
      { type: 'image', action: 'pull', name: 'reg/a/b:1', attributes: { digest: 'sha256:1', size: '3', source: 'api' } });
    assert.equal(eventFor('RunVM', {}, { name: 'web', vmId: 'u', status: 'running' })!.attributes!.status, 'running');
    assert.equal(eventFor('ComposeUp', { projectName: 'p' }, { project: 'p', services: [{}, {}] })!.attributes!.services, '2');
    assert.equal(eventFor('ListVMs', {}, {}), undefined, 'reads publish nothing');
    assert.equal(eventFor('ContextList', {}, {}), undefined);
  });
});
