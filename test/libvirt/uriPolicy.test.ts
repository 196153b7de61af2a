// What a context may name as its libvirt URI: checked at ContextCreate/ContextUpdate (INVALID_ARGUMENT
// naming context.libvirt_uri, nothing stored) and again before the plugin connects.
import 'reflect-metadata';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkContextUri, uriPolicyViolation, type UriPolicy } from '../../src/plugins/libvirt/uriPolicy.js';
import { LibvirtConnectionManager } from '../../src/plugins/libvirt/rpc/index.js';
import libvirtPlugin from '../../src/plugins/libvirt/index.js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';

const policy: UriPolicy = { allowedParams: [], trusted: ['test+unix:///default?socket=/run/admin.sock'] };

test('allowed: local system/session, the test driver, plain qemu+ssh', () => {
  for (const uri of ['qemu:///system', 'qemu:///session', 'qemu+unix:///system', 'test:///default', 'test+unix:///default',
    'qemu+ssh://alice@host.example/system', 'qemu+ssh://host.example:2222/system?readonly=1', 'qemu:///system?readonly=1',
    'test+unix:///default?socket=/run/admin.sock']) {
    assert.equal(uriPolicyViolation(uri, policy), undefined, uri);
  }
});

test('refused: transport parameters, other drivers and paths, option-looking hosts', () => {
  const refused: Array<[string, RegExp]> = [
    ['qemu+ssh://root@evil.example/system?keyfile=/root/.ssh/id_ed25519', /"keyfile"/],
    ['qemu+ssh://root@evil.example/system?no_verify=1', /"no_verify"/],
    ['qemu+ssh://h/system?keyfile=/k&no_verify=1&known_hosts=/dev/null', /"keyfile", "no_verify", "known_hosts" are not allowed/],
    ['qemu:///system?socket=/run/other/daemon.sock', /"socket"/],
    ['qemu+ssh://h/system?netcat=/tmp/x', /"netcat"/],
    ['qemu+ssh://h/system?command=/tmp/x', /"command"/],
    ['qemu+ssh://h/system?proxy=netcat', /"proxy"/],
    ['qemu:///system?pkipath=/tmp/pki', /"pkipath"/],
    ['qemu:///system?name=test:///etc/shadow', /"name"/],
    ['test:///etc/passwd', /test driver opens \/default/],
    ['qemu:///embed?root=/tmp', /qemu driver opens/],
    ['lxc:///system', /driver "lxc" is not allowed/],
    ['qemu+tls://h/system', /not supported/],
    ['qemu+ssh://-oProxyCommand=touch%20x/system', /may not start with "-"/],
    ['not a uri', /not a libvirt URI/],
  ];
  for (const [uri, why] of refused) assert.match(uriPolicyViolation(uri, policy) ?? 'allowed', why, uri);
});

test('the daemon config can allow-list a parameter', () => {
  const uri = 'qemu+ssh://ops@host/system?keyfile=/etc/vmregistry/ops_key';
  assert.ok(uriPolicyViolation(uri, policy));
  assert.equal(uriPolicyViolation(uri, { ...policy, allowedParams: ['keyfile'] }), undefined);
});

test('checked again before connecting: the connection manager refuses and makes no client', () => {
  const mgr = new LibvirtConnectionManager({ checkUri: (u) => checkContextUri(u, policy) });
  assert.throws(() => mgr.get('qemu:///system?socket=/tmp/evil.sock'),
    (e: { code?: string; field?: string }) => e.code === 'INVALID_ARGUMENT' && e.field === 'libvirt_uri');
  assert.deepEqual(mgr.uris(), []);
});

describe('ContextCreate / ContextUpdate with the libvirt plugin', () => {
  let d: TestDaemon;
  let stateDir: string;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'vmr-uripolicy-'));
    d = await startTestDaemon({ plugins: [libvirtPlugin], pluginConfig: { libvirt: { uri: 'test+unix:///default', stateDir } } });
  });
  after(async () => {
    await d?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  test('a refused URI is INVALID_ARGUMENT naming context.libvirt_uri and stores nothing', async () => {
    const bad = 'qemu+ssh://root@elsewhere.example/system?keyfile=/root/.ssh/id_ed25519&no_verify=1';
    await assert.rejects(d.client.call('ContextCreate', { context: { name: 'sneaky', libvirtUri: bad } }),
      (e: any) => e.code === status.INVALID_ARGUMENT && /context\.libvirt_uri/.test(e.details) && /keyfile/.test(e.details));
    assert.ok(!(await d.client.call('ContextList')).contexts.some((c: { name: string }) => c.name === 'sneaky'));

    await d.client.call('ContextCreate', { context: { name: 'fine', libvirtUri: 'qemu+ssh://ops@host.example/system' } });
    await assert.rejects(d.client.call('ContextUpdate', { name: 'fine', context: { libvirtUri: 'qemu:///system?socket=/tmp/x' }, updateMask: ['libvirt_uri'] }),
      (e: any) => e.code === status.INVALID_ARGUMENT && /context\.libvirt_uri/.test(e.details));
    const fine = (await d.client.call('ContextList')).contexts.find((c: { name: string }) => c.name === 'fine');
    assert.equal(fine.libvirtUri ?? fine.libvirt_uri, 'qemu+ssh://ops@host.example/system', 'the refused update changed nothing');
  });
});
