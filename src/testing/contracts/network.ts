// The behaviour every NetworkManager implementation must have. Run it with your own factory:
//   runNetworkContract('libvirt qemu:///system', async () => ({ networks, hypervisor, dispose }), { subnets, image })
// Every network the suite creates is named `<namePrefix><tag>-…`; they (and VMs with that prefix) are
// force-deleted after each test. `subnets` must be free on the host.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { CallContext } from '../../core/ports/common.js';
import type { Hypervisor, RunVMSpec } from '../../core/ports/hypervisor.js';
import type { NetworkManager, NetworkSpec } from '../../core/ports/network.js';
import { testCallContext } from '../callContext.js';
import { fakeImage } from './fakeImage.js';
import { rejectsWithCode, runTag } from './support.js';

export interface NetworkUnderTest {
  networks: NetworkManager;
  /** A hypervisor whose VMs attach to these networks; enables the in-use tests. */
  hypervisor?: Hypervisor;
  /** What the plugin's shutdown does; when given, the suite checks that calls fail afterwards. */
  shutdown?: () => Promise<void> | void;
  dispose?: () => Promise<void> | void;
}

export interface NetworkContractOptions {
  /** Prefix of every network (and VM) name the suite creates. Default `vmrct-`. */
  namePrefix?: string;
  /** At least 4 free /24 subnets. Default 10.231.1-4.0/24. */
  subnets?: string[];
  callContext?: () => CallContext;
  /** The image in-use tests run a VM from (needs `hypervisor` from the factory). */
  image?: RunVMSpec['image'] | (() => Promise<RunVMSpec['image']>);
  /** An existing host bridge, for the bridge-mode test. */
  hostBridge?: string;
}


export function runNetworkContract(
  name: string,
  makeImpl: () => Promise<NetworkUnderTest> | NetworkUnderTest,
  opts: NetworkContractOptions = {},
): void {
  describe(`NetworkManager contract: ${name}`, () => {
    let impl: NetworkUnderTest;
    let nm: NetworkManager;
    let prefix: string;
    const subnets = opts.subnets ?? ['10.231.1.0/24', '10.231.2.0/24', '10.231.3.0/24', '10.231.4.0/24'];
    assert.ok(subnets.length >= 4, 'the network contract needs at least 4 free subnets');
    const ctx = () => (opts.callContext ?? testCallContext)();
    const spec = (suffix: string, over: Partial<NetworkSpec> = {}): NetworkSpec => ({
      name: `${prefix}${suffix}`,
      mode: 'nat',
      subnet: subnets[0]!,
      gateway: '',
      dhcp: true,
      dhcpStart: '',
      dhcpEnd: '',
      bridgeName: '',
      forwardDevice: '',
      domain: '',
      autostart: false,
      activate: true,
      ...over,
    });
    const ours = async () => (await nm.list(ctx())).filter((n) => n.name.startsWith(prefix)).map((n) => n.name);

    beforeEach(async () => {
      impl = await makeImpl();
      nm = impl.networks;
      prefix = `${opts.namePrefix ?? 'vmrct-'}${runTag()}-`;
    });

    afterEach(async () => {
      try {
        if (impl.hypervisor) {
          for (const v of await impl.hypervisor.list(ctx())) {
            if (v.name.startsWith(prefix)) await impl.hypervisor.delete(v.name, { force: true }, ctx()).catch(() => {});
          }
        }
        for (const n of await ours()) await nm.delete(n, { force: true }, ctx()).catch(() => {});
      } catch {
        // Shut down by the test.
      }
      await impl.dispose?.();
    });

    it('create returns the network as get and list report it, with defaults filled in', async () => {
      const info = await nm.create(spec('nat', { labels: { 'vmregistry.compose.project': 'p' }, domain: 'p.test' }), ctx());
      assert.equal(info.name, `${prefix}nat`);
      assert.equal(info.mode, 'nat');
      assert.equal(info.subnet, subnets[0]);
      const base = subnets[0]!.split('/')[0]!.split('.').slice(0, 3).join('.');
      assert.equal(info.gateway, `${base}.1`, 'the gateway defaults to the first host address');
      assert.ok(info.dhcpStart.startsWith(`${base}.`) && info.dhcpEnd.startsWith(`${base}.`), 'a DHCP range inside the subnet');
      assert.equal(info.active, true);
      assert.equal(info.persistent, true);
      assert.equal(info.vmCount, 0);
      assert.equal(info.domain, 'p.test');
      assert.ok(info.uuid, 'uuid is set');
      assert.equal(typeof info.bridge, 'string', 'bridge is a string (libvirt\'s test driver names no bridge)');
      assert.deepEqual(info.labels, { 'vmregistry.compose.project': 'p' }, 'labels read back from the network metadata');
      assert.deepEqual(await nm.get(info.name, ctx()), info);
      assert.deepEqual((await nm.list(ctx())).find((n) => n.name === info.name), info);
    });

    it('an isolated network without DHCP has no DHCP range', async () => {
      const info = await nm.create(spec('iso', { mode: 'isolated', dhcp: false, subnet: subnets[1]! }), ctx());
      assert.equal(info.mode, 'isolated');
      assert.equal(info.dhcpStart, '');
      assert.equal(info.dhcpEnd, '');
    });

    it('activate and deactivate switch a network; repeating either is a no-op', async () => {
      const n = `${prefix}act`;
      assert.equal((await nm.create(spec('act', { activate: false }), ctx())).active, false);
      assert.equal((await nm.activate(n, ctx())).active, true);
      assert.equal((await nm.activate(n, ctx())).active, true);
      assert.equal((await nm.deactivate(n, { force: false }, ctx())).active, false);
      assert.equal((await nm.deactivate(n, { force: false }, ctx())).active, false);
      assert.equal((await nm.get(n, ctx())).active, false);
    });

    it('create refuses an existing name with ALREADY_EXISTS', async () => {
      await nm.create(spec('dup'), ctx());
      await rejectsWithCode(nm.create(spec('dup', { subnet: subnets[1]! }), ctx()), 'ALREADY_EXISTS');
      assert.deepEqual(await ours(), [`${prefix}dup`]);
    });

    it('concurrent creates of one name create exactly one network', async () => {
      const results = await Promise.allSettled(
        subnets.slice(0, 3).map((subnet) => nm.create(spec('race', { subnet }), ctx())));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.deepEqual(await ours(), [`${prefix}race`]);
    });

    it('bad CIDRs and missing subnets fail with INVALID_ARGUMENT and create nothing', async () => {
      for (const subnet of ['nope', '10.0.0.0/33', '300.1.2.0/24', '10.231.9.0']) {
        await rejectsWithCode(nm.create(spec(`bad${subnet.length}`, { subnet }), ctx()), 'INVALID_ARGUMENT');
      }
      await rejectsWithCode(nm.create(spec('nosub', { subnet: '' }), ctx()), 'INVALID_ARGUMENT');
      await rejectsWithCode(nm.create(spec('bad name/slash'), ctx()), 'INVALID_ARGUMENT');
      assert.deepEqual(await ours(), []);
    });

    it('a subnet overlapping another network is refused with a message naming that network', async () => {
      await nm.create(spec('first'), ctx());
      const wider = subnets[0]!.replace(/\/\d+$/, '/16').replace(/\.\d+\.0\//, '.0.0/');
      for (const subnet of [subnets[0]!, wider]) {
        const err = await rejectsWithCode(nm.create(spec('second', { subnet }), ctx()), 'FAILED_PRECONDITION', 'INVALID_ARGUMENT');
        assert.match(err.message, new RegExp(`${prefix}first`));
      }
      assert.deepEqual(await ours(), [`${prefix}first`]);
    });

    it('bridge mode needs an existing host bridge', async (t) => {
      await rejectsWithCode(nm.create(spec('br', { mode: 'bridge', subnet: '', bridgeName: '' }), ctx()), 'INVALID_ARGUMENT');
      await rejectsWithCode(nm.create(spec('br', { mode: 'bridge', subnet: '', bridgeName: 'vmrnosuchbr0' }), ctx()),
        'FAILED_PRECONDITION', 'INVALID_ARGUMENT');
      if (!opts.hostBridge) return t.skip('no hostBridge given: only the refusals were checked');
      const info = await nm.create(spec('br', { mode: 'bridge', subnet: '', bridgeName: opts.hostBridge }), ctx());
      assert.equal(info.mode, 'bridge');
      assert.equal(info.bridge, opts.hostBridge);
    });

    it('every call on an unknown network fails with NOT_FOUND', async () => {
      const ghost = `${prefix}ghost`;
      await rejectsWithCode(nm.get(ghost, ctx()), 'NOT_FOUND');
      await rejectsWithCode(nm.activate(ghost, ctx()), 'NOT_FOUND');
      await rejectsWithCode(nm.deactivate(ghost, { force: true }, ctx()), 'NOT_FOUND');
      await rejectsWithCode(nm.delete(ghost, { force: true }, ctx()), 'NOT_FOUND');
    });

    it('delete removes a network and frees its subnet', async () => {
      await nm.create(spec('gone'), ctx());
      await nm.delete(`${prefix}gone`, { force: false }, ctx());
      await rejectsWithCode(nm.get(`${prefix}gone`, ctx()), 'NOT_FOUND');
      await nm.create(spec('again'), ctx());
      assert.deepEqual(await ours(), [`${prefix}again`]);
    });

    it('a call whose signal has fired fails with CANCELLED and creates nothing', async () => {
      const ac = new AbortController();
      ac.abort();
      await rejectsWithCode(nm.create(spec('cancel'), { ...ctx(), signal: ac.signal }), 'CANCELLED');
      assert.deepEqual(await ours(), []);
    });

    it('DNS host entries and DHCP reservations: added and removed live, duplicates and bad input refused whole', async (t) => {
      if (!nm.hosts || !nm.updateHosts) return t.skip('the implementation has no hosts/updateHosts (optional)');
      const net = (await nm.create(spec('hosts', { subnet: subnets[1]! }), ctx())).name;
      const p = subnets[1]!.split('.').slice(0, 3).join('.');
      const none = { dns: [], dhcp: [] };
      const add = (dns: { ip: string; hostnames: string[] }[], dhcp: { mac: string; ip: string }[] = []) =>
        nm.updateHosts!(net, { remove: none, add: { dns, dhcp } }, ctx());
      await add([{ ip: `${p}.10`, hostnames: ['db', 'db.proj'] }], [{ mac: '52:54:00:AB:00:01', ip: `${p}.10` }]);
      const want = { dns: [{ ip: `${p}.10`, hostnames: ['db', 'db.proj'] }], dhcp: [{ mac: '52:54:00:ab:00:01', ip: `${p}.10` }] };
      assert.deepEqual(await nm.hosts(net, ctx()), want);
      await rejectsWithCode(add([{ ip: `${p}.11`, hostnames: ['db'] }]), 'ALREADY_EXISTS');
      await rejectsWithCode(add([{ ip: `${p}.10`, hostnames: ['other'] }]), 'ALREADY_EXISTS');
      await rejectsWithCode(add([], [{ mac: '52:54:00:ab:00:02', ip: `${p}.10` }]), 'ALREADY_EXISTS');
      await rejectsWithCode(add([{ ip: '192.0.2.7', hostnames: ['out'] }]), 'INVALID_ARGUMENT');
      await rejectsWithCode(add([{ ip: `${p}.12`, hostnames: ['no_underscores'] }]), 'INVALID_ARGUMENT');
      await rejectsWithCode(add([{ ip: `${p}.12`, hostnames: ['ok'] }], [{ mac: '01:00:5e:00:00:01', ip: `${p}.12` }]), 'INVALID_ARGUMENT');
      assert.deepEqual(await nm.hosts(net, ctx()), want, 'a refused change changes nothing');
      await nm.updateHosts(net, { remove: { dns: [{ ip: `${p}.10`, hostnames: [] }], dhcp: [{ mac: '52:54:00:ab:00:01', ip: '' }] }, add: none }, ctx());
      assert.deepEqual(await nm.hosts(net, ctx()), none);
      await rejectsWithCode(nm.hosts(`${prefix}missing`, ctx()), 'NOT_FOUND');
    });

    it('health reports SERVING', async () => {
      assert.equal((await nm.health(ctx())).status, 'SERVING');
    });

    it('calls after shutdown fail instead of hanging', async (t) => {
      if (!impl.shutdown) return t.skip('the factory gives no shutdown()');
      await impl.shutdown();
      await rejectsWithCode(nm.list(ctx()), 'UNAVAILABLE', 'FAILED_PRECONDITION', 'CANCELLED');
      await rejectsWithCode(nm.create(spec('late'), ctx()), 'UNAVAILABLE', 'FAILED_PRECONDITION', 'CANCELLED');
    });

    it('a network that running VMs use counts them and refuses deactivate and delete unless forced', async (t) => {
      const hv = impl.hypervisor;
      if (!hv) return t.skip('the factory gives no hypervisor: in-use refusals not checked');
      const image = typeof opts.image === 'function' ? await opts.image() : (opts.image ?? fakeImage);
      const net = (await nm.create(spec('used', { subnet: subnets[2]! }), ctx())).name;
      const vm = await hv.run({
        name: `${prefix}vm`, image, memoryMb: 128, vcpuCount: 1, diskSizeGb: 0, ephemeral: false,
        networkName: net, activateNetwork: false, labels: {}, waitForIp: false, start: true,
      }, ctx());
      assert.equal(vm.networks[0]?.name, net);
      assert.equal((await nm.get(net, ctx())).vmCount, 1);
      await rejectsWithCode(nm.deactivate(net, { force: false }, ctx()), 'FAILED_PRECONDITION');
      await rejectsWithCode(nm.delete(net, { force: false }, ctx()), 'FAILED_PRECONDITION');
      assert.equal((await nm.get(net, ctx())).active, true, 'a refused deactivate changes nothing');
      await hv.stop(vm.name, { force: true, timeoutSeconds: 0 }, ctx());
      assert.equal((await nm.get(net, ctx())).vmCount, 0);
      await nm.delete(net, { force: false }, ctx());
      await rejectsWithCode(nm.get(net, ctx()), 'NOT_FOUND');
    });

    it('a VM cannot start on an unknown or inactive network', async (t) => {
      const hv = impl.hypervisor;
      if (!hv) return t.skip('the factory gives no hypervisor');
      const image = typeof opts.image === 'function' ? await opts.image() : (opts.image ?? fakeImage);
      const run = (network: string, activateNetwork: boolean) => hv.run({
        name: `${prefix}vm-${network.length}-${activateNetwork}`, image, memoryMb: 128, vcpuCount: 1, diskSizeGb: 0,
        ephemeral: false, networkName: network, activateNetwork, labels: {}, waitForIp: false, start: true,
      }, ctx());
      await rejectsWithCode(run(`${prefix}nonet`, false), 'NOT_FOUND', 'FAILED_PRECONDITION');
      const net = (await nm.create(spec('off', { subnet: subnets[3]!, activate: false }), ctx())).name;
      await rejectsWithCode(run(net, false), 'FAILED_PRECONDITION');
      const vm = await run(net, true);
      assert.equal(vm.status, 'running');
      assert.equal((await nm.get(net, ctx())).active, true, 'activate_network activated it');
    });
  });
}
