import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attr, child, find, findAll, parseXml, text } from '../../src/plugins/libvirt/xml/index.js';
import { buildDomainXml, libvirtArch, parseDomainXml, type DomainSpec } from '../../src/plugins/libvirt/vm/domainXml.js';
import { findMetadata } from '../../src/plugins/libvirt/vm/vmMetadata.js';

const spec: DomainSpec = {
  name: 'web-1',
  uuid: '6726f87a-e29a-4d57-bb0e-868fe81dae29',
  type: 'qemu',
  memoryMb: 512,
  vcpuCount: 2,
  arch: 'x86_64',
  firmware: 'bios',
  overlayPath: '/state/web-1.abcd/overlay.qcow2',
  seedPath: '/state/web-1.abcd/seed.iso',
  consolePath: '/state/web-1.abcd/console.log',
  networkName: 'backend',
  metadata: {
    image: 'demo/debian:12', imageDigest: 'sha256:1', created: '2026-11-29T14:00:00Z', ephemeral: false,
    filesDir: '/state/web-1.abcd', labels: {},
  },
};

test('domain XML has the type, sizes, disks, NIC, ACPI, serial log and our metadata', () => {
  const d = parseXml(buildDomainXml(spec));
  assert.equal(attr(d, 'type'), 'qemu');
  assert.equal(text(find(d, 'name')), 'web-1');
  assert.equal(text(find(d, 'uuid')), spec.uuid);
  assert.equal(text(find(d, 'memory')), '512');
  assert.equal(attr(find(d, 'memory'), 'unit'), 'MiB');
  assert.equal(text(find(d, 'vcpu')), '2');
  assert.ok(find(d, 'features/acpi'), 'ACPI, so a graceful stop can press the power button');
  assert.equal(attr(find(d, 'os/type'), 'arch'), 'x86_64');
  const disks = findAll(d, 'devices/disk');
  assert.equal(disks.length, 2);
  const [disk, cdrom] = disks;
  assert.equal(attr(disk, 'device'), 'disk');
  assert.equal(attr(child(disk, 'driver'), 'type'), 'qcow2');
  assert.equal(attr(child(disk, 'source'), 'file'), spec.overlayPath);
  assert.equal(attr(child(disk, 'target'), 'bus'), 'virtio');
  assert.equal(attr(cdrom, 'device'), 'cdrom');
  assert.equal(attr(child(cdrom, 'source'), 'file'), spec.seedPath);
  assert.equal(attr(child(cdrom, 'target'), 'bus'), 'sata');
  assert.ok(child(cdrom, 'readonly'));
  const nic = find(d, 'devices/interface');
  assert.equal(attr(nic, 'type'), 'network');
  assert.equal(attr(child(nic, 'source'), 'network'), 'backend');
  assert.equal(attr(child(nic, 'model'), 'type'), 'virtio');
  const serial = find(d, 'devices/serial');
  assert.equal(attr(serial, 'type'), 'pty', 'a pty, so a console can attach');
  assert.equal(attr(child(serial, 'log'), 'file'), spec.consolePath, 'and logged to a file');
  assert.equal(attr(child(serial, 'log'), 'append'), 'on');
  assert.equal(attr(find(d, 'devices/console/target'), 'type'), 'serial');
  assert.ok(findMetadata(find(d, 'metadata')));
});

test('modern-image devices: CPU model per domain type, virtio-rng, guest agent channel', () => {
  const tcg = parseXml(buildDomainXml(spec));
  assert.equal(attr(find(tcg, 'cpu'), 'mode'), 'maximum', 'TCG: QEMU\'s -cpu max, not qemu64');
  assert.equal(attr(find(tcg, 'devices/rng'), 'model'), 'virtio');
  assert.equal(text(find(tcg, 'devices/rng/backend')), '/dev/urandom');
  const channel = find(tcg, 'devices/channel');
  assert.equal(attr(channel, 'type'), 'unix');
  assert.equal(attr(child(channel, 'target'), 'name'), 'org.qemu.guest_agent.0');
  const kvm = parseXml(buildDomainXml({ ...spec, type: 'kvm' }));
  assert.equal(attr(find(kvm, 'cpu'), 'mode'), 'host-passthrough');
  const testDriver = parseXml(buildDomainXml({ ...spec, type: 'test' }));
  assert.equal(find(testDriver, 'cpu'), undefined);
  assert.equal(find(testDriver, 'devices/channel'), undefined);
});

test('uefi firmware and arch names', () => {
  const d = parseXml(buildDomainXml({ ...spec, firmware: 'uefi', type: 'kvm' }));
  assert.equal(attr(find(d, 'os'), 'firmware'), 'efi');
  assert.equal(attr(d, 'type'), 'kvm');
  assert.equal(libvirtArch('amd64'), 'x86_64');
  assert.equal(libvirtArch('arm64'), 'aarch64');
  assert.equal(libvirtArch('riscv64'), 'riscv64');
});

test('facts read back from XML as libvirt returns it (KiB, generated MAC)', () => {
  const ours = buildDomainXml(spec);
  const meta = ours.slice(ours.indexOf('<metadata>'), ours.indexOf('</metadata>') + 11);
  const dumped = `<domain type='qemu' id='7'>
  <name>web-1</name>
  <uuid>${spec.uuid}</uuid>
  ${meta}
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${spec.overlayPath}' index='2'/>
      <backingStore type='file' index='3'><format type='raw'/><source file='/images/base.raw'/></backingStore>
      <target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='${spec.seedPath}'/><target dev='sda' bus='sata'/></disk>
    <interface type='network'><mac address='52:54:00:AB:cd:01'/><source network='backend' bridge='virbr1'/>
      <target dev='vnet3'/><model type='virtio'/></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/></interface>
    <serial type='pty'><source path='/dev/pts/7'/><log file='/state/web-1.abcd/console.log' append='on'/><target type='isa-serial' port='0'/></serial>
    <console type='pty' tty='/dev/pts/7'><source path='/dev/pts/7'/><target type='serial' port='0'/></console>
    <channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-7-web-1/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
  </devices>
</domain>`;
  const f = parseDomainXml(dumped);
  assert.equal(f.name, 'web-1');
  assert.equal(f.uuid, spec.uuid);
  assert.equal(f.memoryMb, 512);
  assert.equal(f.vcpuCount, 2);
  assert.deepEqual(f.diskFiles, [spec.overlayPath, spec.seedPath]);
  assert.deepEqual(f.interfaces, [
    { name: 'backend', mac: '52:54:00:ab:cd:01', interfaceType: 'network' },
    { name: 'br0', mac: '52:54:00:00:00:02', interfaceType: 'bridge' },
  ]);
  assert.equal(f.metadata?.filesDir, '/state/web-1.abcd');
  assert.deepEqual(f.console, { pty: '/dev/pts/7', logFile: '/state/web-1.abcd/console.log' });
  assert.equal(f.guestAgent, true);
  assert.deepEqual(f.disks[0], { target: 'vda', device: 'disk', path: spec.overlayPath, format: 'qcow2', backingPath: '/images/base.raw' });
  assert.equal(f.disks[1].device, 'cdrom');
});

test('a VM from before consoles were ptys still has its log file', () => {
  const f = parseDomainXml(`<domain type='qemu'><name>old</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
    <memory unit='KiB'>8388608</memory><vcpu>2</vcpu><devices>
    <serial type='file'><source path='/state/old/console.log'/><target port='0'/></serial></devices></domain>`);
  assert.deepEqual(f.console, { logFile: '/state/old/console.log' });
  assert.equal(f.guestAgent, false);
});

test('a domain that is not ours has no metadata', () => {
  const f = parseDomainXml(`<domain type='test'><name>test</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
    <memory unit='KiB'>8388608</memory><vcpu>2</vcpu><devices/></domain>`);
  assert.equal(f.metadata, undefined);
  assert.equal(f.memoryMb, 8192);
});
