import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLibvirtUri, sshArgs } from '../../src/plugins/libvirt/rpc/index.js';
import { isVmrError } from '../../src/core/errors.js';

test('local URIs go to the system socket and open the same URI', () => {
  const q = parseLibvirtUri('qemu:///system');
  assert.deepEqual([q.transport, q.socketPath, q.openUri, q.driver], ['unix', '/run/libvirt/libvirt-sock', 'qemu:///system', 'qemu']);
  assert.deepEqual(q.fallbackSockets, ['/run/libvirt/virtqemud-sock']);
  const t = parseLibvirtUri('test+unix:///default');
  assert.deepEqual([t.transport, t.socketPath, t.openUri], ['unix', '/run/libvirt/libvirt-sock', 'test:///default']);
  assert.equal(parseLibvirtUri('test:///default').openUri, 'test:///default');
  const ro = parseLibvirtUri('qemu:///system?readonly=1');
  assert.equal(ro.socketPath, '/run/libvirt/libvirt-sock-ro');
  const custom = parseLibvirtUri('qemu+unix:///system?socket=/tmp/s&name=qemu:///embed');
  assert.deepEqual([custom.socketPath, custom.openUri], ['/tmp/s', 'qemu:///embed']);
});

test('qemu:///session uses the per-user socket', () => {
  const prev = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = '/run/user/1234';
  try {
    const s = parseLibvirtUri('qemu:///session');
    assert.equal(s.socketPath, '/run/user/1234/libvirt/libvirt-sock');
    assert.equal(s.openUri, 'qemu:///session');
  } finally {
    if (prev === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = prev;
  }
});

test('qemu+ssh URIs carry user, host, port and build libvirt\'s ssh command', () => {
  const u = parseLibvirtUri('qemu+ssh://root@10.0.0.5:2200/system?keyfile=/id&proxy=netcat');
  assert.deepEqual([u.transport, u.user, u.host, u.port, u.openUri], ['ssh', 'root', '10.0.0.5', 2200, 'qemu:///system']);
  assert.deepEqual(sshArgs(u), [
    '-p', '2200', '-l', 'root', '-i', '/id', '-T', '-e', 'none', '-o', 'BatchMode=yes', '--', '10.0.0.5',
    "'nc' -U '/run/libvirt/libvirt-sock'",
  ]);
  const n = parseLibvirtUri('qemu+ssh://host/system?proxy=native');
  assert.equal(sshArgs(n).at(-1), "virt-ssh-helper 'qemu:///system'");
  assert.equal(parseLibvirtUri('qemu+ssh://[fe80::1]/system').host, 'fe80::1');
});

test('malformed and unsupported URIs are INVALID_ARGUMENT with a hint', () => {
  for (const bad of ['', 'nonsense', 'qemu://host/system', 'qemu+tls://h/system', 'qemu+ssh:///system', 'qemu+unix://h/system']) {
    assert.throws(() => parseLibvirtUri(bad), (err) => isVmrError(err) && err.code === 'INVALID_ARGUMENT', bad);
  }
  assert.throws(() => parseLibvirtUri('qemu://host/system'), /qemu\+ssh:\/\/host\/system/);
});
