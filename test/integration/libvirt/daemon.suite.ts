// The libvirt plugin loaded by the real daemon (loader, gRPC, status mapping) against the test driver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireService } from '../../support/services.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import libvirtPlugin from '../../../src/plugins/libvirt/index.js';
import { leaseSubnets, uniqueName } from '../../support/unique.js';

const run = uniqueName('vmrt-d');
const octet = leaseSubnets(2);

describe('libvirt plugin in the daemon (test+unix:///default)', () => {
  let d: TestDaemon;

  before(async () => {
    await requireService('libvirtd');
    d = await startTestDaemon({ plugins: [libvirtPlugin], pluginConfig: { libvirt: { uri: 'test+unix:///default' } } });
  });
  after(async () => {
    await d.client.call('NetworkDelete', { name: `${run}-n`, force: true }).catch(() => undefined);
    await d?.stop();
  });

  test('HealthCheck reports libvirt and hypervisor versions', async () => {
    const h = await d.client.call('HealthCheck');
    const hv = h.components.find((c: { name: string }) => c.name === 'hypervisor');
    assert.equal(hv.status, 'SERVING', hv.message);
    assert.match(hv.message, /libvirt 9\.\d+\.\d+, TEST/);
    const nets = h.components.find((c: { name: string }) => c.name === 'networks');
    assert.equal(nets.status, 'SERVING', nets.message);
  });

  test('NetworkCreate / Get / List / Deactivate / Delete over gRPC, errors with their status codes', async () => {
    const name = `${run}-n`;
    const created = await d.client.call('NetworkCreate', {
      name, subnet: `10.231.${octet}.0/24`, dhcp: true, activate: true, domain: 'd.test',
    });
    assert.equal(created.network.name, name);
    assert.equal(created.network.mode, 'nat');
    assert.equal(created.network.subnet, `10.231.${octet}.0/24`);
    assert.equal(created.network.dhcp_start ?? created.network.dhcpStart, `10.231.${octet}.128`);
    const got = await d.client.call('NetworkGet', { name });
    assert.equal(got.network.uuid, created.network.uuid);
    const list = await d.client.call('NetworkList');
    assert.ok(list.networks.some((n: { name: string }) => n.name === name));
    await assert.rejects(d.client.call('NetworkCreate', { name, subnet: `10.231.${octet + 1}.0/24` }), (err: { code: number }) => err.code === 6);
    await assert.rejects(d.client.call('NetworkCreate', { name: `${run}-x`, subnet: '10.231.1.1/33' }), (err: { code: number }) => err.code === 3);
    await assert.rejects(d.client.call('NetworkCreate', { name: `${run}-x`, subnet: `10.231.${octet}.0/25` }), (err: { code: number }) => err.code === 9);
    const off = await d.client.call('NetworkDeactivate', { name });
    assert.equal(off.network.active, false);
    await d.client.call('NetworkDelete', { name });
    await assert.rejects(d.client.call('NetworkGet', { name }), (err: { code: number }) => err.code === 5);
  });
});
