// The behaviour every Hypervisor implementation must have. Run it with your own factory:
//   runHypervisorContract('libvirt test driver', async () => ({ hypervisor, shutdown, dispose }), { image })
// Every VM the suite creates is named `<namePrefix><tag>-…` and force-deleted after each test.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { CallContext } from '../../core/ports/common.js';
import type { Hypervisor, RunVMSpec } from '../../core/ports/hypervisor.js';
import { testCallContext } from '../callContext.js';
import { fakeImage } from './fakeImage.js';
import { rejectsWithCode, runTag } from './support.js';

export interface HypervisorUnderTest {
  hypervisor: Hypervisor;
  /** What the plugin's shutdown does; when given, the suite checks that calls fail afterwards. */
  shutdown?: () => Promise<void> | void;
  /** Frees the implementation after each test (the suite already deleted its VMs). */
  dispose?: () => Promise<void> | void;
}

export interface HypervisorContractOptions {
  /** The image VMs are run from; a real implementation needs a real base disk. */
  image?: RunVMSpec['image'] | (() => Promise<RunVMSpec['image']>);
  /** Network VMs attach to ('' = the hypervisor's default). */
  networkName?: string;
  /** Prefix of every VM name the suite creates. Default `vmrct-`. */
  namePrefix?: string;
  callContext?: () => CallContext;
  /** Started VMs take a DHCP lease (a real guest, or a fake). Enables the address tests. */
  expectIp?: boolean;
  memoryMb?: number;
}


export function runHypervisorContract(
  name: string,
  makeImpl: () => Promise<HypervisorUnderTest> | HypervisorUnderTest,
  opts: HypervisorContractOptions = {},
): void {
  describe(`Hypervisor contract: ${name}`, () => {
    let impl: HypervisorUnderTest;
    let hv: Hypervisor;
    let prefix: string;
    let image: RunVMSpec['image'];
    const ctx = () => (opts.callContext ?? testCallContext)();

    const spec = (suffix: string, over: Partial<RunVMSpec> = {}): RunVMSpec => ({
      name: `${prefix}${suffix}`,
      image,
      memoryMb: opts.memoryMb ?? 128,
      vcpuCount: 1,
      diskSizeGb: 0,
      ephemeral: false,
      networkName: opts.networkName ?? '',
      activateNetwork: false,
      labels: {},
      waitForIp: false,
      start: true,
      ...over,
    });
    const ours = async () => (await hv.list(ctx())).filter((v) => v.name.startsWith(prefix));

    beforeEach(async () => {
      impl = await makeImpl();
      hv = impl.hypervisor;
      prefix = `${opts.namePrefix ?? 'vmrct-'}${runTag()}-`;
      image = typeof opts.image === 'function' ? await opts.image() : (opts.image ?? fakeImage);
    });

    afterEach(async () => {
      try {
        for (const v of await ours()) await hv.delete(v.name, { force: true }, ctx()).catch(() => {});
      } catch {
        // Shut down by the test: nothing more can be deleted through it.
      }
      await impl.dispose?.();
    });

    it('run creates a running VM that get (by name and by id) and list return', async () => {
      const rec = await hv.run(spec('a'), ctx());
      assert.equal(rec.name, `${prefix}a`);
      assert.equal(rec.status, 'running');
      assert.ok(rec.id, 'a VM has a stable id');
      assert.deepEqual((await hv.get(rec.name, ctx())).id, rec.id);
      assert.equal((await hv.get(rec.id, ctx())).name, rec.name);
      assert.deepEqual((await ours()).map((v) => v.name), [rec.name]);
    });

    it('run records image, resources, labels and the compose label, and they read back', async () => {
      const compose = { project: 'p', service: 's', index: 2, hash: 'abc123' };
      await hv.run(spec('meta', { labels: { team: 'qa', 'x.y/z': 'w' }, compose, memoryMb: 256, vcpuCount: 2 }), ctx());
      for (const rec of [await hv.get(`${prefix}meta`, ctx()), (await ours())[0]!]) {
        assert.equal(rec.image, image.reference);
        assert.equal(rec.imageDigest, image.digest);
        assert.equal(rec.memoryMb, 256);
        assert.equal(rec.vcpuCount, 2);
        assert.deepEqual(rec.labels, { team: 'qa', 'x.y/z': 'w' });
        assert.deepEqual(rec.compose, compose);
        assert.ok(!Number.isNaN(Date.parse(rec.created)), `created is RFC 3339: ${rec.created}`);
        assert.ok(rec.networks.length >= 1, 'the VM has a network interface');
      }
    });

    it('run with start=false defines a stopped VM; start runs it; start again is a no-op', async () => {
      const rec = await hv.run(spec('def', { start: false }), ctx());
      assert.equal(rec.status, 'stopped');
      assert.equal((await hv.start(rec.name, ctx())).status, 'running');
      assert.equal((await hv.start(rec.name, ctx())).status, 'running');
    });

    it('stop stops a running VM; stopping a stopped VM is a no-op', async () => {
      await hv.run(spec('stop'), ctx());
      assert.equal((await hv.stop(`${prefix}stop`, { force: true, timeoutSeconds: 0 }, ctx())).status, 'stopped');
      assert.equal((await hv.get(`${prefix}stop`, ctx())).status, 'stopped');
      assert.equal((await hv.stop(`${prefix}stop`, { force: true, timeoutSeconds: 0 }, ctx())).status, 'stopped');
    });

    it('restart leaves a VM running', async () => {
      await hv.run(spec('rs'), ctx());
      assert.equal((await hv.restart(`${prefix}rs`, { force: true, timeoutSeconds: 0 }, ctx())).status, 'running');
      assert.equal((await hv.get(`${prefix}rs`, ctx())).status, 'running');
    });

    it('run refuses an existing name with ALREADY_EXISTS and leaves the first VM alone', async () => {
      const first = await hv.run(spec('dup'), ctx());
      await rejectsWithCode(hv.run(spec('dup'), ctx()), 'ALREADY_EXISTS');
      assert.equal((await hv.get(first.name, ctx())).id, first.id);
      assert.equal((await ours()).length, 1);
    });

    it('concurrent runs of one name create exactly one VM', async () => {
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => hv.run(spec('race'), ctx())));
      const ok = results.filter((r) => r.status === 'fulfilled');
      assert.equal(ok.length, 1, 'exactly one run wins');
      for (const r of results) {
        if (r.status === 'rejected') await rejectsWithCode(Promise.reject(r.reason), 'ALREADY_EXISTS');
      }
      assert.equal((await ours()).length, 1);
    });

    it('run refuses an invalid name or absurd resources with INVALID_ARGUMENT and creates nothing', async () => {
      await rejectsWithCode(hv.run(spec('bad name/with slash'), ctx()), 'INVALID_ARGUMENT');
      await rejectsWithCode(hv.run(spec('zero-mem', { memoryMb: 0 }), ctx()), 'INVALID_ARGUMENT');
      await rejectsWithCode(hv.run(spec('zero-cpu', { vcpuCount: 0 }), ctx()), 'INVALID_ARGUMENT');
      assert.equal((await ours()).length, 0);
    });

    it('every call on an unknown VM fails with NOT_FOUND', async () => {
      const ghost = `${prefix}ghost`;
      const stopOpts = { force: true, timeoutSeconds: 0 };
      await rejectsWithCode(hv.get(ghost, ctx()), 'NOT_FOUND');
      await rejectsWithCode(hv.start(ghost, ctx()), 'NOT_FOUND');
      await rejectsWithCode(hv.stop(ghost, stopOpts, ctx()), 'NOT_FOUND');
      await rejectsWithCode(hv.restart(ghost, stopOpts, ctx()), 'NOT_FOUND');
      await rejectsWithCode(hv.delete(ghost, { force: true }, ctx()), 'NOT_FOUND');
    });

    it('delete refuses a running VM with FAILED_PRECONDITION unless forced', async () => {
      await hv.run(spec('del'), ctx());
      await rejectsWithCode(hv.delete(`${prefix}del`, { force: false }, ctx()), 'FAILED_PRECONDITION');
      assert.equal((await hv.get(`${prefix}del`, ctx())).status, 'running', 'a refused delete changes nothing');
      await hv.delete(`${prefix}del`, { force: true }, ctx());
      await rejectsWithCode(hv.get(`${prefix}del`, ctx()), 'NOT_FOUND');
    });

    it('delete removes a stopped VM without force', async () => {
      await hv.run(spec('del2', { start: false }), ctx());
      await hv.delete(`${prefix}del2`, { force: false }, ctx());
      await rejectsWithCode(hv.get(`${prefix}del2`, ctx()), 'NOT_FOUND');
      assert.equal((await ours()).length, 0);
    });

    it('an ephemeral VM is gone once stopped', async () => {
      const rec = await hv.run(spec('eph', { ephemeral: true }), ctx());
      assert.equal(rec.ephemeral, true);
      await hv.stop(rec.name, { force: true, timeoutSeconds: 0 }, ctx());
      await rejectsWithCode(hv.get(rec.name, ctx()), 'NOT_FOUND');
    });

    it('a call whose signal has fired fails with CANCELLED and creates nothing', async () => {
      const ac = new AbortController();
      ac.abort();
      const base = ctx();
      await rejectsWithCode(hv.run(spec('cancel'), { ...base, signal: ac.signal }), 'CANCELLED');
      assert.equal((await ours()).length, 0);
    });

    it('health reports SERVING', async () => {
      assert.equal((await hv.health(ctx())).status, 'SERVING');
    });

    it('calls after shutdown fail instead of hanging', async (t) => {
      if (!impl.shutdown) return t.skip('the factory gives no shutdown()');
      await impl.shutdown();
      const err = await rejectsWithCode(hv.list(ctx()), 'UNAVAILABLE', 'FAILED_PRECONDITION', 'CANCELLED');
      assert.ok(err.message.length > 0);
      await rejectsWithCode(hv.run(spec('late'), ctx()), 'UNAVAILABLE', 'FAILED_PRECONDITION', 'CANCELLED');
    });

    describe('addresses', { skip: opts.expectIp ? false : 'the implementation under test runs no DHCP guest (expectIp unset)' }, () => {
      it('run with waitForIp returns the VM with an address', async () => {
        const rec = await hv.run(spec('ip', { waitForIp: true }), ctx());
        assert.ok(rec.networks.some((n) => n.ipAddresses.length > 0), `an address in ${JSON.stringify(rec.networks)}`);
      });

      it('waitForIp resolves with the addresses get reports; a stopped VM has none', async () => {
        await hv.run(spec('ip2'), ctx());
        assert.ok(hv.waitForIp, 'an implementation with addresses offers waitForIp');
        const ips = await hv.waitForIp!(`${prefix}ip2`, ctx());
        assert.ok(ips.length > 0);
        const rec = await hv.get(`${prefix}ip2`, ctx());
        assert.deepEqual(rec.networks.flatMap((n) => n.ipAddresses), ips);
        const stopped = await hv.stop(rec.name, { force: true, timeoutSeconds: 0 }, ctx());
        assert.deepEqual(stopped.networks.flatMap((n) => n.ipAddresses), []);
      });
    });
  });
}
