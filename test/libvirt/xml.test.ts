import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attr, child, el, escapeXml, find, findAll, parseXml, text, toXml } from '../../src/plugins/libvirt/xml/index.js';
import { buildNetworkXml, parseNetworkXml } from '../../src/plugins/libvirt/network/networkXml.js';
import { checkCidr, overlaps, prefixFromNetmask } from '../../src/plugin-api/index.js';
import { isVmrError } from '../../src/core/errors.js';

test('parser: attributes in both quotes, entities, comments, CDATA, self-closing, prefixes', () => {
  const doc = parseXml(`<?xml version="1.0"?>
<!-- c --><domain type='kvm' id="3"><name>a&amp;b &#x41;&#66;</name>
<metadata><vmr:labels xmlns:vmr="urn:x"><vmr:label key="k&quot;">v&lt;</vmr:label></vmr:labels></metadata>
<devices><interface type='network'><source network='default'/></interface><interface type='bridge'><source bridge='br0'/></interface></devices>
<description><![CDATA[<raw>]]></description></domain>`);
  assert.equal(doc.name, 'domain');
  assert.deepEqual(doc.attrs, { type: 'kvm', id: '3' });
  assert.equal(text(child(doc, 'name')), 'a&b AB');
  assert.equal(attr(find(doc, 'metadata/vmr:labels/vmr:label'), 'key'), 'k"');
  assert.equal(text(find(doc, 'metadata/vmr:labels/vmr:label')), 'v<');
  assert.deepEqual(findAll(doc, 'devices/interface/source').map((s) => s.attrs), [{ network: 'default' }, { bridge: 'br0' }]);
  assert.equal(text(child(doc, 'description')), '<raw>');
});

test('parser rejects malformed XML', () => {
  for (const bad of ['<a>', '<a></b>', '<a b=c/>', 'text', '<a/><b/>', '<a><!-- x</a>']) {
    assert.throws(() => parseXml(bad), (err) => isVmrError(err) && err.code === 'INVALID_ARGUMENT', bad);
  }
});

test('builder escapes text and attributes and round-trips through the parser', () => {
  const x = el('network', { a: `q"'<&>` }, el('name', {}, 'x<y&z'), el('empty'), undefined, false);
  const s = toXml(x);
  assert.equal(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
  assert.match(s, /a="q&quot;&apos;&lt;&amp;&gt;"/);
  const back = parseXml(s);
  assert.equal(back.attrs.a, `q"'<&>`);
  assert.equal(text(child(back, 'name')), 'x<y&z');
  assert.ok(child(back, 'empty'));
});

test('network XML: build then parse gives the same fields (nat with DHCP, DNS, labels)', () => {
  const xml = buildNetworkXml({
    name: 'vmrt-a', mode: 'nat', gateway: '10.231.9.1', prefix: 24, dhcp: { start: '10.231.9.128', end: '10.231.9.254' },
    bridgeName: 'vmrtbr9', forwardDevice: 'eth0', domain: 'lab.test', labels: { project: 'web&db' },
  });
  const p = parseNetworkXml(xml);
  assert.deepEqual(
    { ...p, uuid: undefined },
    {
      name: 'vmrt-a', uuid: undefined, mode: 'nat', bridge: 'vmrtbr9', subnet: '10.231.9.0/24', gateway: '10.231.9.1',
      dhcpStart: '10.231.9.128', dhcpEnd: '10.231.9.254', forwardDevice: 'eth0', domain: 'lab.test', labels: { project: 'web&db' },
    },
  );
  assert.equal(parseNetworkXml(buildNetworkXml({ name: 'i', mode: 'isolated', gateway: '10.0.0.1', prefix: 8, bridgeName: '', forwardDevice: '', domain: '', labels: {} })).mode, 'isolated');
  assert.equal(parseNetworkXml(buildNetworkXml({ name: 'r', mode: 'routed', gateway: '10.0.0.1', prefix: 8, bridgeName: '', forwardDevice: '', domain: '', labels: {} })).mode, 'routed');
  const br = parseNetworkXml(buildNetworkXml({ name: 'b', mode: 'bridge', bridgeName: 'br0', forwardDevice: '', domain: '', labels: {} }));
  assert.deepEqual([br.mode, br.bridge, br.subnet], ['bridge', 'br0', '']);
});

test('network XML from libvirt with netmask instead of prefix', () => {
  const p = parseNetworkXml(`<network><name>default</name><uuid>u</uuid><forward mode='nat'/><bridge name='virbr0'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip>
    <ip family='ipv6' address='fd00::1' prefix='64'/></network>`);
  assert.deepEqual([p.subnet, p.gateway, p.dhcpStart, p.mode], ['192.168.122.0/24', '192.168.122.1', '192.168.122.2', 'nat']);
});

test('CIDR parsing and overlap', () => {
  assert.deepEqual(checkCidr('10.231.4.0/24', 's'), { base: 0x0ae70400, prefix: 24, size: 256 });
  for (const bad of ['10.231.4.0', '10.231.4.0/33', '10.231.4.1/24', '256.0.0.0/8', '010.0.0.0/8', 'x/24']) {
    assert.throws(() => checkCidr(bad, 'subnet'), (err) => isVmrError(err) && err.code === 'INVALID_ARGUMENT', bad);
  }
  assert.equal(overlaps(checkCidr('10.0.0.0/8', 'a'), checkCidr('10.231.4.0/24', 'b')), true);
  assert.equal(overlaps(checkCidr('10.231.5.0/24', 'a'), checkCidr('10.231.4.0/24', 'b')), false);
  assert.equal(prefixFromNetmask('255.255.240.0'), 20);
  assert.equal(prefixFromNetmask('255.0.255.0'), undefined);
});
