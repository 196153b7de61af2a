// GC and DeleteImage see the VMs of every context (each context may name another libvirt URI), and
// StopVM/RestartVM refuse a graceful-stop wait past the documented maximum instead of overflowing
// Node's timer into an immediate hard stop.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { definePlugin } from '../../src/core/plugins/definePlugin.js';
import { hypervisorPort } from '../../src/core/plugins/refs.js';
import type { CallContext } from '../../src/core/ports/common.js';
import type { Hypervisor } from '../../src/core/ports/hypervisor.js';
import { InMemoryHypervisor } from '../../src/testing/fakes/InMemoryHypervisor.js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { MAX_STOP_TIMEOUT_SECONDS } from '../../src/core/vms/stopOptions.js';
import { requireService } from '../support/services.js';

/** One in-memory hypervisor per libvirt URI, chosen by the call's context, as the libvirt plugin does. */
function perUriHypervisor(byUri: Map<string, InMemoryHypervisor>): Hypervisor {
  const pick = (ctx: CallContext) => {
    const uri = ctx.context?.libvirtUri || 'default';
    if (!byUri.has(uri)) byUri.set(uri, new InMemoryHypervisor());
    return byUri.get(uri)!;
  };
  return {
    run: (s, ctx) => pick(ctx).run(s, ctx),
    start: (v, ctx) => pick(ctx).start(v, ctx),
    stop: (v, o, ctx) => pick(ctx).stop(v, o, ctx),
    restart: (v, o, ctx) => pick(ctx).restart(v, o, ctx),
    delete: (v, o, ctx) => pick(ctx).delete(v, o, ctx),
    get: (v, ctx) => pick(ctx).get(v, ctx),
    list: (ctx) => pick(ctx).list(ctx),
    health: async () => ({ name: 'hypervisor', status: 'SERVING', message: 'ok', latencyMs: 0 }),
  } as Hypervisor;
}

const vmfile = { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'ctx' },
  spec: { disk: { path: 'ctx.raw', format: 'raw' }, resources: { memoryMb: 128, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } } };

describe('VMs of every context', () => {
  let td: TestDaemon;
  const byUri = new Map<string, InMemoryHypervisor>();
  before(async () => {
    await requireService('packages');
    const plugin = definePlugin({ id: 'per-uri', apiVersion: '^1.0.0', provides: [hypervisorPort],
      init: () => ({ implementations: { [hypervisorPort.id]: perUriHypervisor(byUri) } }) });
    td = await startTestDaemon({ plugins: [plugin] });
  });
  after(async () => { await td?.stop(); });

  it("GC and DeleteImage keep an image that only another context's VM uses", async () => {
    const img = await td.client.call('ImportImage', { vmfile, diskData: Buffer.concat([randomBytes(64 << 10), Buffer.alloc(1 << 20)]), reference: 'ctx:1' });
    await td.client.call('ContextCreate', { context: { name: 'elsewhere', libvirtUri: 'test:///default' }, use: true });
    await td.client.call('RunVM', { image: 'ctx:1', name: 'far' });
    await td.client.call('ContextUse', { name: 'default' });
    assert.deepEqual((await td.client.call('ListVMs')).vms, [], 'the current context sees none of them');

    await assert.rejects(td.client.call('DeleteImage', { reference: 'ctx:1' }),
      (e: any) => e.code === status.FAILED_PRECONDITION && /far \(context elsewhere\)/.test(e.details));
    await td.client.call('DeleteImage', { reference: 'ctx:1', force: true });
    const gc = await td.client.call('GarbageCollect', {});
    assert.ok(!gc.removedManifests.includes(img.digest), 'the manifest a VM of another context runs on stays');
    assert.ok(!gc.removedDisks.includes(img.digest), 'so does its base disk');

    await td.client.call('ContextUse', { name: 'elsewhere' });
    await td.client.call('DeleteVM', { vm: 'far', force: true });
    await td.client.call('ContextUse', { name: 'default' });
    const gc2 = await td.client.call('GarbageCollect', {});
    assert.ok(gc2.removedManifests.includes(img.digest), 'once that VM is gone the image is collected');
  });

  it('StopVM/RestartVM: a timeout past the maximum is INVALID_ARGUMENT, the maximum itself is accepted', async () => {
    for (const rpc of ['StopVM', 'RestartVM']) {
      for (const t of [4294967295, 2 ** 31, MAX_STOP_TIMEOUT_SECONDS + 1]) {
        await assert.rejects(td.client.call(rpc, { vm: 'nosuch', timeoutSeconds: t }),
          (e: any) => e.code === status.INVALID_ARGUMENT && /timeout_seconds/.test(e.details), `${rpc} ${t}`);
      }
      await assert.rejects(td.client.call(rpc, { vm: 'nosuch', timeoutSeconds: MAX_STOP_TIMEOUT_SECONDS }),
        (e: any) => e.code === status.NOT_FOUND, `${rpc} at the maximum gets past validation`);
    }
  });
});
