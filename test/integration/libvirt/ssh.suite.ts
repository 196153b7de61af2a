// qemu+ssh:// for real: a throwaway sshd on loopback, the system ssh client, and the remote side's
// virt-ssh-helper or nc -U relaying to the local libvirtd.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireService } from '../../support/services.js';
import { startSshd, type TestSshd } from '../../support/sshd.js';
import { LibvirtClient } from '../../../src/plugins/libvirt/rpc/index.js';

describe('qemu+ssh:// through a local sshd', () => {
  let sshd: TestSshd;
  before(async () => {
    await requireService('libvirtd');
    sshd = await startSshd();
  });
  after(async () => sshd?.stop());

  for (const proxy of ['auto', 'native', 'netcat']) {
    test(`proxy=${proxy}: handshake, calls and events over ssh's stdio`, async () => {
      const uri = `qemu+ssh://root@127.0.0.1:${sshd.port}/system?keyfile=${encodeURIComponent(sshd.keyfile)}&no_verify=1&proxy=${proxy}`;
      const c = await LibvirtClient.connect(uri, { reconnect: false });
      try {
        assert.equal(await c.getUri(), 'qemu:///system');
        assert.ok((await c.listAllNetworks()).some((n) => n.name === 'default'));
        const sub = await c.subscribeDomainEvents();
        await sub.unsubscribe();
        assert.ok((await c.getLibVersion()) >= 9_000_000);
      } finally {
        await c.close();
      }
      assert.equal(c.state, 'closed');
    });
  }

  test('a refused key fails UNAVAILABLE with ssh\'s own message', async () => {
    const uri = `qemu+ssh://nobody@127.0.0.1:${sshd.port}/system?keyfile=${encodeURIComponent(sshd.keyfile)}&no_verify=1`;
    await assert.rejects(LibvirtClient.connect(uri, { reconnect: false, connectTimeoutMs: 10000 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UNAVAILABLE');
      assert.match(err.message, /ssh|Permission denied|closed/i);
      return true;
    });
  });
});
