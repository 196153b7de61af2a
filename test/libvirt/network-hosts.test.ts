// The MAC a RunVM asks for lands in the domain XML; a network's DNS hosts and DHCP reservations are read
// back from its XML as updateHosts compares them (the live change itself: test/integration/compose/names.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attr, find, parseXml } from '../../src/plugins/libvirt/xml/index.js';
import { buildDomainXml, parseDomainXml, type DomainSpec } from '../../src/plugins/libvirt/vm/domainXml.js';
import { parseNetworkHosts } from '../../src/plugins/libvirt/network/networkHosts.js';

const spec: DomainSpec = {
  name: 'db-1', uuid: '6726f87a-e29a-4d57-bb0e-868fe81dae29', type: 'qemu', memoryMb: 256, vcpuCount: 1, arch: 'x86_64',
  firmware: 'bios', overlayPath: '/s/overlay.qcow2', consolePath: '/s/console.log', networkName: 'p-back',
  metadata: { image: 'i', imageDigest: 'sha256:1', created: '2026-11-30T00:00:00Z', ephemeral: false, filesDir: '/s', labels: {} },
};

test('a requested MAC is the interface\'s <mac address>; without one libvirt picks it', () => {
  const xml = buildDomainXml({ ...spec, macAddress: '52:54:00:0a:0b:0c' });
  assert.equal(attr(find(parseXml(xml), 'devices/interface/mac'), 'address'), '52:54:00:0a:0b:0c');
  assert.equal(parseDomainXml(xml).interfaces[0]!.mac, '52:54:00:0a:0b:0c');
  assert.equal(find(parseXml(buildDomainXml(spec)), 'devices/interface/mac'), undefined);
});

test('DNS host entries and DHCP reservations are read from the network XML (MACs lower case)', () => {
  const xml = `<network><name>p-back</name>
  <dns><host ip='10.0.5.10'><hostname>db</hostname><hostname>db.p</hostname></host><host ip='10.0.5.200'><hostname>web</hostname></host></dns>
  <ip address='10.0.5.1' netmask='255.255.255.0'><dhcp><range start='10.0.5.128' end='10.0.5.254'/>
  <host mac='52:54:00:AA:BB:CC' ip='10.0.5.10'/><host name='nomac' ip='10.0.5.11'/></dhcp></ip>
  <ip family='ipv6' address='fd00::1' prefix='64'><dhcp><host id='0:1' ip='fd00::5'/></dhcp></ip></network>`;
  assert.deepEqual(parseNetworkHosts(xml), {
    dns: [{ ip: '10.0.5.10', hostnames: ['db', 'db.p'] }, { ip: '10.0.5.200', hostnames: ['web'] }],
    dhcp: [{ mac: '52:54:00:aa:bb:cc', ip: '10.0.5.10' }],
  });
  assert.deepEqual(parseNetworkHosts('<network><name>x</name></network>'), { dns: [], dhcp: [] });
});
