import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '../../src/plugins/libvirt/xml/index.js';
import { findMetadata, metadataElement, metadataForSet, parseMetadata, VM_XMLNS, type VmMetadata } from '../../src/plugins/libvirt/vm/vmMetadata.js';
import { toXml } from '../../src/plugins/libvirt/xml/index.js';

const meta: VmMetadata = {
  image: 'localhost:5000/demo/debian:12',
  imageDigest: 'sha256:' + 'a'.repeat(64),
  created: '2026-11-29T14:00:00.000Z',
  ephemeral: false,
  filesDir: '/var/lib/vmregistry/plugins/libvirt/vms/qemu_system-1/web.0011aabb',
  labels: { tier: 'web', 'odd key': 'a & <b> "c"' },
  compose: { project: 'stack', service: 'web', index: 2, hash: 'h123' },
};

test('metadata survives build → XML text → parse', () => {
  const xml = `<metadata>${toXml(metadataElement(meta))}</metadata>`;
  const found = findMetadata(parseXml(xml));
  assert.ok(found, 'our element is found');
  assert.deepEqual(parseMetadata(found!), { ...meta, startedAt: undefined });
});

test('metadata as libvirt stores it (another prefix, unprefixed children, started) is read', () => {
  // libvirt keeps the namespace only on the root element of a metadata entry.
  const xml = `<metadata>
    <other:thing xmlns:other="https://example.com/x"><image reference="nope" digest="x"/></other:thing>
    <ns0:vm xmlns:ns0="${VM_XMLNS}">${toXml(parseXml(metadataForSet({ ...meta, startedAt: '2026-11-29T15:00:00Z' }))).replace(/^<vm>|<\/vm>$/g, '')}</ns0:vm>
  </metadata>`;
  const found = findMetadata(parseXml(xml));
  assert.ok(found);
  const m = parseMetadata(found!);
  assert.equal(m?.image, meta.image);
  assert.equal(m?.startedAt, '2026-11-29T15:00:00Z');
  assert.deepEqual(m?.labels, meta.labels);
  assert.deepEqual(m?.compose, meta.compose);
});

test('a domain without our namespace is not ours', () => {
  assert.equal(findMetadata(parseXml('<metadata><vm xmlns="https://example.com/vm"><image/></vm></metadata>')), undefined);
  assert.equal(findMetadata(undefined), undefined);
});

test('metadataForSet carries no namespace (libvirt adds prefix and URI itself)', () => {
  const s = metadataForSet(meta);
  assert.match(s, /^<vm>/);
  assert.doesNotMatch(s, /xmlns/);
});

test('an element of ours missing its required parts is rejected, not half-read', () => {
  const found = findMetadata(parseXml(`<metadata><vmr:vm xmlns:vmr="${VM_XMLNS}"><created>x</created></vmr:vm></metadata>`));
  assert.ok(found);
  assert.equal(parseMetadata(found!), undefined);
});

test('default user and cloud-init summary round-trip; never the user-data itself', async () => {
  const { metadataElement, parseMetadata } = await import('../../src/plugins/libvirt/vm/vmMetadata.js');
  const { toXml, parseXml } = await import('../../src/plugins/libvirt/xml/index.js');
  const m = {
    image: 'debian:12', imageDigest: 'sha256:1', created: '2026-11-30T14:00:00.000Z', ephemeral: false, filesDir: '/s/x', labels: {},
    defaultUser: 'debian',
    cloudInit: { userDataKind: 'cloud-config' as const, userDataBytes: 321, sshAuthorizedKeys: 1, metaData: false, networkConfig: true },
  };
  const xml = toXml(metadataElement(m));
  assert.ok(!xml.includes('ssh-ed25519'));
  assert.deepEqual(parseMetadata(parseXml(xml)), { ...m, compose: undefined, startedAt: undefined });
});
