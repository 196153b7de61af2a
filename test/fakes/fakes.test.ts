// What the fakes offer beyond the contract: failure injection, delays, call logs, leases from the subnet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunVMSpec } from '../../src/core/ports/hypervisor.js';
import { testCallContext } from '../../src/testing/callContext.js';
import { InMemoryHypervisor } from '../../src/testing/fakes/InMemoryHypervisor.js';
import { InMemoryNetworkManager } from '../../src/testing/fakes/InMemoryNetworkManager.js';
import { rejectsWithCode } from '../contract/support.js';

const ctx = testCallContext;
const spec = (name: string, over: Partial<RunVMSpec> = {}): RunVMSpec => ({
  name,
  image: { reference: 'img:1', digest: 'sha256:x', baseDiskPath: '/dev/null', diskSize: 1, firmware: 'bios', architecture: 'x86_64' },
  memoryMb: 128, vcpuCount: 1, diskSizeGb: 0, ephemeral: false, networkName: '', activateNetwork: false,
  labels: {}, waitForIp: false, start: true, ...over,
});
const netSpec = (name: string, subnet: string) => ({
  name, mode: 'nat' as const, subnet, gateway: '', dhcp: true, dhcpStart: '', dhcpEnd: '', bridgeName: '',
  forwardDevice: '', domain: '', autostart: false, activate: true,
});

describe('InMemoryHypervisor extras', () => {
  it('failOn makes the named call fail and leaves nothing behind', async () => {
    const hv = new InMemoryHypervisor({ failOn: { run: 'b' } });
    await hv.run(spec('a'), ctx());
    const err = await rejectsWithCode(hv.run(spec('b'), ctx()), 'UNAVAILABLE');
    assert.match(err.message, /injected failure: run "b"/);
    assert.deepEqual((await hv.list(ctx())).map((v) => v.name), ['a']);
    hv.controls.failOn.run = undefined;
    await hv.run(spec('b'), ctx());
    assert.equal(hv.size, 2);
  });

  it('with a delay, concurrent runs overlap and the log shows it', async () => {
    const hv = new InMemoryHypervisor({ delays: { run: 5 } });
    await Promise.all(['a', 'b', 'c'].map((n) => hv.run(spec(n), ctx())));
    assert.equal(hv.controls.maxConcurrent('run'), 3);
    await hv.run(spec('d'), ctx());
    assert.ok(hv.controls.seqOf('run', 'c', 'end') < hv.controls.seqOf('run', 'd', 'begin'));
  });

  it('a VM takes a lease from its network DHCP range and the network counts it while running', async () => {
    const networks = new InMemoryNetworkManager();
    const hv = new InMemoryHypervisor({ networks, delays: { ip: 3 } });
    await networks.create(netSpec('n1', '10.9.8.0/24'), ctx());
    const r1 = await hv.run(spec('a', { networkName: 'n1' }), ctx());
    assert.deepEqual(r1.networks[0]!.ipAddresses, [], 'no lease before the ip delay');
    const ips = await hv.waitForIp('a', ctx());
    assert.deepEqual(ips, ['10.9.8.128']);
    const r2 = await hv.run(spec('b', { networkName: 'n1', waitForIp: true }), ctx());
    assert.deepEqual(r2.networks[0]!.ipAddresses, ['10.9.8.129']);
    assert.equal((await networks.get('n1', ctx())).vmCount, 2);
    await hv.stop('a', { force: true, timeoutSeconds: 0 }, ctx());
    assert.equal((await networks.get('n1', ctx())).vmCount, 1);
    await hv.start('a', ctx());
    assert.deepEqual(await hv.waitForIp('a', ctx()), ['10.9.8.128'], 'a restarted VM keeps its lease');
  });

  it('waitForIp is cancelled by the signal and rejects for a VM that stops', async () => {
    const hv = new InMemoryHypervisor({ assignIps: false });
    await hv.run(spec('a'), ctx());
    const ac = new AbortController();
    const p = hv.waitForIp('a', { ...ctx(), signal: ac.signal });
    ac.abort();
    await rejectsWithCode(p, 'CANCELLED');
    const q = hv.waitForIp('a', ctx());
    hv.powerOff('a');
    await rejectsWithCode(q, 'FAILED_PRECONDITION');
  });

  it('starting a VM whose network was deactivated is refused', async () => {
    const networks = new InMemoryNetworkManager();
    const hv = new InMemoryHypervisor({ networks });
    await networks.create(netSpec('n1', '10.9.8.0/24'), ctx());
    await hv.run(spec('a', { networkName: 'n1', start: false }), ctx());
    await networks.deactivate('n1', { force: false }, ctx());
    await rejectsWithCode(hv.start('a', ctx()), 'FAILED_PRECONDITION');
  });
});

describe('InMemoryNetworkManager extras', () => {
  it('refuses subnets overlapping a host interface and host bits in a CIDR', async () => {
    const nm = new InMemoryNetworkManager({ hostSubnets: ['10.0.2.0/24'], withDefault: false });
    const err = await rejectsWithCode(nm.create(netSpec('x', '10.0.0.0/16'), ctx()), 'FAILED_PRECONDITION');
    assert.match(err.message, /host interface/);
    const e2 = await rejectsWithCode(nm.create(netSpec('y', '10.9.0.5/24'), ctx()), 'INVALID_ARGUMENT');
    assert.match(e2.message, /did you mean 10\.9\.0\.0\/24/);
    assert.deepEqual(await nm.list(ctx()), []);
  });

  it('has libvirt\'s default network unless told otherwise', async () => {
    assert.equal((await new InMemoryNetworkManager().get('default', ctx())).subnet, '192.168.122.0/24');
  });
});
