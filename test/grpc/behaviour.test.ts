import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import { definePlugin } from '../../src/core/plugins/definePlugin.js';
import { hypervisorPort } from '../../src/core/plugins/refs.js';
import { VmrError, type ErrorCode } from '../../src/core/errors.js';
import type { CallContext } from '../../src/core/ports/common.js';

const unimplemented = async (): Promise<never> => { throw new VmrError('UNIMPLEMENTED', 'not part of this probe'); };
const unusedHypervisorMethods = { run: unimplemented, stop: unimplemented, restart: unimplemented, delete: unimplemented, get: unimplemented, list: unimplemented };

const CODES: Array<[ErrorCode, number]> = [
  ['INVALID_ARGUMENT', status.INVALID_ARGUMENT], ['NOT_FOUND', status.NOT_FOUND], ['ALREADY_EXISTS', status.ALREADY_EXISTS],
  ['FAILED_PRECONDITION', status.FAILED_PRECONDITION], ['UNAUTHENTICATED', status.UNAUTHENTICATED],
  ['PERMISSION_DENIED', status.PERMISSION_DENIED], ['RESOURCE_EXHAUSTED', status.RESOURCE_EXHAUSTED],
  ['UNAVAILABLE', status.UNAVAILABLE], ['ABORTED', status.ABORTED], ['UNIMPLEMENTED', status.UNIMPLEMENTED],
  ['DATA_LOSS', status.DATA_LOSS], ['INTERNAL', status.INTERNAL],
];

/** A hypervisor whose start(vm) throws the error named by `vm`, or waits for cancellation for "slow". */
function probePlugin(events: string[]) {
  const wait = async (ctx: CallContext, ms: number) => {
    events.push('started');
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, ms);
        ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(ctx.signal.reason); }, { once: true });
      });
    } finally {
      events.push(`finally ${ctx.signal.aborted ? 'aborted' : 'completed'}`);
    }
  };
  const impl = {
    async start(vm: string, ctx: CallContext) {
      if (vm === 'slow') await wait(ctx, 60_000);
      else if (vm === 'short') await wait(ctx, 300);
      else if (vm === 'plain-error') throw new Error('secret internal detail');
      else if (vm === 'unicode') throw new VmrError('INVALID_ARGUMENT', 'bad “name” …', { field: 'vm…', issues: [{ path: 'vm', message: 'ünïcode' }] });
      else if (vm !== 'ok') throw new VmrError(vm as ErrorCode, `mapped ${vm}`, { field: 'vm', issues: [{ path: 'vm', message: 'x' }] });
      return { id: 'id-1', name: vm, status: 'running' as const, image: 'i', imageDigest: 'd', created: '', memoryMb: 1, vcpuCount: 1, ephemeral: false, labels: {}, networks: [] };
    },
    async health() { return { name: 'hypervisor', status: 'SERVING' as const, message: 'probe', latencyMs: 0 }; },
    // The rest of the port, so the loader's shape check passes; this suite only calls start.
    ...unusedHypervisorMethods,
  };
  return definePlugin({ id: 'probe', apiVersion: '^1.0.0', provides: [hypervisorPort], init: () => ({ implementations: { [hypervisorPort.id]: impl } }) });
}

describe('gRPC behaviour', () => {
  let td: TestDaemon;
  const events: string[] = [];
  before(async () => { td = await startTestDaemon({ plugins: [probePlugin(events)] }); });
  after(async () => { await td.stop(); });

  for (const [code, grpcCode] of CODES) {
    it(`maps ${code} to gRPC status ${grpcCode} with the message and field`, async () => {
      await assert.rejects(td.client.call('StartVM', { vm: code }), (e: any) => {
        assert.equal(e.code, grpcCode);
        assert.equal(e.details, `mapped ${code}`);
        assert.equal(e.metadata.get('vmr-field')[0], 'vm');
        assert.deepEqual(JSON.parse(e.metadata.get('vmr-issues-bin')[0].toString()), [{ path: 'vm', message: 'x' }]);
        return true;
      });
    });
  }

  it('carries non-ASCII messages and issues intact', async () => {
    await assert.rejects(td.client.call('StartVM', { vm: 'unicode' }), (e: any) => {
      assert.equal(e.code, status.INVALID_ARGUMENT);
      assert.equal(e.details, 'bad “name” …');
      assert.equal(JSON.parse(e.metadata.get('vmr-issues-bin')[0].toString())[0].message, 'ünïcode');
      return true;
    });
  });

  it('hides unexpected errors behind UNKNOWN "internal error"', async () => {
    await assert.rejects(td.client.call('StartVM', { vm: 'plain-error' }), (e: any) => e.code === status.UNKNOWN && !/secret/.test(e.details) && /internal error/.test(e.details));
  });

  it('validates required fields before the plugin sees them', async () => {
    await assert.rejects(td.client.call('StartVM', { vm: '  ' }), (e: any) => e.code === status.INVALID_ARGUMENT && /vm is required/.test(e.details));
  });

  it('a client cancel aborts the handler signal', async () => {
    events.length = 0;
    const ac = new AbortController();
    const p = td.client.call('StartVM', { vm: 'slow' }, { signal: ac.signal });
    while (!events.includes('started')) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await assert.rejects(p, (e: any) => e.code === status.CANCELLED);
    for (let i = 0; i < 250 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, ['started', 'finally aborted']);
  });

  it('a short deadline gives DEADLINE_EXCEEDED and the handler unwinds', async () => {
    events.length = 0;
    // A deadline long enough for the call to reach the handler even on a loaded machine, far below 'slow'.
    await assert.rejects(td.client.call('StartVM', { vm: 'slow' }, { deadlineMs: 1500 }), (e: any) => e.code === status.DEADLINE_EXCEEDED);
    for (let i = 0; i < 250 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, ['started', 'finally aborted']);
  });

  it('unconfigured ports answer FAILED_PRECONDITION naming the plugin, never a fake success', async () => {
    for (const [m, req, hint] of [['NetworkList', {}, 'libvirt'], ['ComposePs', { projectName: 'p' }, 'compose'], ['PullImage', { reference: 'a:b' }, 'registry-oci'], ['Login', { username: 'u', password: 'p' }, 'auth-oidc']] as const) {
      await assert.rejects(td.client.call(m, req), (e: any) => e.code === status.FAILED_PRECONDITION && e.details.includes(`"${hint}"`), m);
    }
  });

  it('HealthCheck reports the daemon, the probe plugin, and NOT_CONFIGURED elsewhere', async () => {
    const h = await td.client.call('HealthCheck');
    assert.equal(h.status, 'SERVING');
    const by = Object.fromEntries(h.components.map((c: any) => [c.name, c]));
    assert.equal(by.daemon.status, 'SERVING');
    assert.equal(by.hypervisor.status, 'SERVING');
    assert.equal(by.hypervisor.plugin, 'probe');
    assert.equal(by.registry.status, 'NOT_CONFIGURED');
    assert.equal(h.context, 'default');
  });

  it('rejects oversized messages with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const big = 'x'.repeat(65 << 20);
    await assert.rejects(td.client.call('ValidateVMFile', { content: big }), (e: any) => e.code === status.RESOURCE_EXHAUSTED);
    assert.equal((await td.client.call('HealthCheck')).status, 'SERVING');
  });

  it('refuses unknown enum values and missing base_dir with INVALID_ARGUMENT', async () => {
    await assert.rejects(td.client.call('ExportImage', { reference: 'a:1', outputPath: '/tmp/x', format: 7 }), (e: any) => e.code === status.INVALID_ARGUMENT && /format 7/.test(e.details));
    await assert.rejects(td.client.call('ValidateVMFile', { content: 'kind: VMFile' }), (e: any) => e.code === status.INVALID_ARGUMENT && /base_dir is required/.test(e.details));
  });

  it('serves grpc.health.v1 and reflection', async () => {
    const grpc = await import('@grpc/grpc-js');
    const pl = await import('@grpc/proto-loader');
    const { protoPath } = await import('grpc-health-check');
    const def = pl.loadSync(protoPath, { enums: String });
    const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health;
    const c = new Health(`unix://${td.socket}`, grpc.credentials.createInsecure());
    const r: any = await new Promise((res, rej) => c.check({ service: 'vmregistry.v1.VMService' }, (e: any, v: any) => (e ? rej(e) : res(v))));
    assert.equal(r.status, 'SERVING');
    c.close();
  });
});

describe('graceful shutdown', () => {
  it('lets in-flight calls finish within the grace period and cancels them after it', async () => {
    const events: string[] = [];
    const td = await startTestDaemon({ plugins: [probePlugin(events)] });
    const short = td.client.call('StartVM', { vm: 'short' });
    const slow = td.client.call('StartVM', { vm: 'slow' }).catch((e) => e);
    // Both calls must be in flight on the daemon before it stops (under load they may take a while to arrive).
    while (events.filter((e) => e === 'started').length < 2) await new Promise((r) => setTimeout(r, 10));
    await td.stop({ graceMs: 1000 });
    assert.equal((await short).status, 'running');
    const err = await slow;
    assert.ok(err.code === status.CANCELLED || err.code === status.UNAVAILABLE, `slow call ended with ${err.code}`);
    assert.deepEqual(events.filter((e) => e !== 'started').sort(), ['finally aborted', 'finally completed']);
  });
});
