// The Events RPC through a real test daemon: RPC-driven events, filters, hypervisor lifecycle events,
// and a paused client against a bounded queue.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { fakeHypervisorPlugin, type FakeHypervisorHandle } from '../support/fakeHypervisor.js';

type Ev = { id: string; time: string; type: string; action: string; name: string; attributes: Record<string, string> };

async function waitFor(fn: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Opens an Events stream and collects what arrives. */
function follow(td: TestDaemon, req: Record<string, unknown>) {
  const call = (td.client.raw.Events as (r: unknown) => grpc.ClientReadableStream<Ev>).call(td.client.raw, req);
  const got: Ev[] = [];
  let error: (Error & { code?: number }) | undefined;
  call.on('data', (e: Ev) => got.push(e));
  call.on('error', (e) => { error = e; });
  return { call, got, error: () => error };
}

describe('Events RPC', () => {
  let td: TestDaemon;
  let hv!: FakeHypervisorHandle;
  before(async () => {
    td = await startTestDaemon({
      plugins: [fakeHypervisorPlugin(['running'], (h) => { hv = h; })],
      config: { events: { queueSize: 50, history: 16 } },
    });
  });
  after(async () => { await td.stop(); });

  it('streams context create/use/remove from real RPCs, filtered by type and name', async () => {
    const before = td.daemon.events.subscriberCount;
    const ctxs = follow(td, { types: ['context'], sinceNow: true });
    const onlyOther = follow(td, { names: ['other'], sinceNow: true });
    await waitFor(() => td.daemon.events.subscriberCount === before + 2, 'both subscriptions');
    await td.client.call('ContextCreate', { context: { name: 'ci', registryUrl: 'localhost:5000' } });
    await td.client.call('ContextUse', { name: 'ci' });
    await td.client.call('ContextList');
    await td.client.call('ContextUse', { name: 'default' });
    await td.client.call('ContextRemove', { name: 'ci' });
    await assert.rejects(td.client.call('ContextRemove', { name: 'ci' }), { code: 5 }); // failures publish nothing
    td.daemon.events.publish({ type: 'network', action: 'create', name: 'other' });
    await waitFor(() => ctxs.got.length >= 4 && onlyOther.got.length >= 1, 'the events');
    assert.deepEqual(ctxs.got.map((e) => `${e.type} ${e.action} ${e.name}`),
      ['context create ci', 'context use ci', 'context use default', 'context remove ci']);
    assert.equal(ctxs.got[0]!.attributes.source, 'api');
    assert.ok(ctxs.got[0]!.attributes.request_id, 'the request id travels with the event');
    assert.ok(!Number.isNaN(Date.parse(ctxs.got[0]!.time)));
    assert.deepEqual(onlyOther.got.map((e) => `${e.type} ${e.action} ${e.name}`), ['network create other'], 'the name filter let nothing else through');
    ctxs.call.cancel();
    onlyOther.call.cancel();
    await waitFor(() => td.daemon.events.subscriberCount === before, 'cancelled streams to unsubscribe');
  });

  it('replays recent events unless since_now, and forwards hypervisor lifecycle events', async () => {
    td.daemon.events.publish({ type: 'image', action: 'tag', name: 'replayed/vm:1' });
    const replay = follow(td, { types: ['image', 'vm'] });
    await waitFor(() => replay.got.some((e) => e.name === 'replayed/vm:1'), 'the replayed event');
    assert.ok(hv.listeners() >= 1, 'the daemon subscribed to the hypervisor');
    hv.fire({ vm: 'web', action: 'crashed', id: 'u-1', attributes: { reason: 'panicked' } });
    await waitFor(() => replay.got.some((e) => e.action === 'crashed'), 'the hypervisor event');
    const ev = replay.got.find((e) => e.action === 'crashed')!;
    assert.deepEqual({ type: ev.type, name: ev.name, attributes: ev.attributes }, { type: 'vm', name: 'web', attributes: { reason: 'panicked', id: 'u-1', source: 'hypervisor' } });
    replay.call.cancel();
    await waitFor(() => td.daemon.events.subscriberCount === 0, 'the cancelled stream to unsubscribe');
  });

  it('a paused client never grows its queue past the bound; it gets events-dropped when it reads again', async () => {
    const slow = follow(td, { types: ['vm'], sinceNow: true });
    slow.call.pause();
    await waitFor(() => td.daemon.events.subscriberCount === 1, 'the subscription');
    const pad = 'x'.repeat(1024);
    // Batches smaller than the queue: drops can only happen if the stream's writes really wait for the client.
    const total = 6000;
    let maxSeen = 0;
    for (let i = 0; i < total; i += 20) {
      for (let j = 0; j < 20; j++) td.daemon.events.publish({ type: 'vm', action: 'start', name: `vm${i + j}`, attributes: { pad } });
      for (const s of td.daemon.events.stats()) maxSeen = Math.max(maxSeen, s.size);
      await new Promise((r) => setImmediate(r));
    }
    const stats = td.daemon.events.stats();
    assert.ok(stats.every((s) => s.highWater <= 50), `queue high-water marks ${stats.map((s) => s.highWater)}`);
    assert.ok(maxSeen <= 50);
    assert.ok(stats.some((s) => s.dropped > 0), 'the paused reader lost events (the writes waited for the client)');
    slow.call.resume();
    await waitFor(() => slow.got.some((e) => e.type === 'daemon'), 'the events-dropped notice');
    const notice = slow.got.find((e) => e.type === 'daemon')!;
    assert.equal(notice.action, 'events-dropped');
    await waitFor(() => slow.got.some((e) => e.name === `vm${total - 1}`), 'the newest event');
    // The reader may have drained a little now and then while paused (transport buffers): one notice per gap.
    const dropped = slow.got.filter((e) => e.type === 'daemon').reduce((n, e) => n + Number(e.attributes.count), 0);
    assert.ok(dropped > 0);
    const received = slow.got.filter((e) => e.type === 'vm').length;
    assert.ok(received < total, `the client got ${received} of ${total}`);
    assert.equal(received + dropped, total, 'every event was either delivered or counted as dropped');
    slow.call.cancel();
  });
});

describe('Events at daemon shutdown', () => {
  it('open streams end normally when the daemon stops, without holding up the grace period', async () => {
    const td = await startTestDaemon({});
    const s = follow(td, { sinceNow: true });
    const ended = new Promise<string>((resolve) => {
      s.call.on('end', () => resolve('end'));
      s.call.on('error', (e: Error & { code?: number }) => resolve(`error ${e.code}`));
    });
    await waitFor(() => td.daemon.events.subscriberCount === 1, 'the subscription');
    // A long grace period: if the stream held shutdown up, stop() would wait for all of it.
    const stopping = td.stop({ graceMs: 60_000 });
    assert.equal(await ended, 'end');
    const outcome = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still waiting'), 15_000))]);
    assert.equal(outcome, 'stopped');
  });
});
