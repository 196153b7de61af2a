import { test } from 'node:test';
import assert from 'node:assert/strict';
import { libvirtHealth } from '../../src/plugins/libvirt/health.js';
import { LibvirtConnectionManager } from '../../src/plugins/libvirt/rpc/index.js';
import { FakeLibvirtd } from './fakeLibvirtd.js';
import type { CallContext, Logger } from '../../src/core/ports/common.js';
import { silentLogger } from '../../src/core/log/silentLogger.js';

const log: Logger = silentLogger();
const ctx = { signal: new AbortController().signal, log } as CallContext;

test('health: versions when libvirtd answers, the reason when it does not', async () => {
  const fake = await FakeLibvirtd.start();
  const mgr = new LibvirtConnectionManager({ backoffInitialMs: 50 });
  try {
    const up = await libvirtHealth('hypervisor', mgr.get(fake.uri), ctx);
    assert.equal(up.status, 'SERVING');
    assert.equal(up.details?.libvirtVersion, '9.0.0');
    assert.equal(up.details?.hypervisorVersion, '0.0.2');

    const gone = `test+unix:///default?socket=${encodeURIComponent(fake.socketPath + '.gone')}`;
    const down = await libvirtHealth('hypervisor', () => mgr.get(gone), ctx);
    assert.equal(down.status, 'NOT_SERVING');
    assert.match(down.message, /cannot connect to libvirtd/);

    const bad = await libvirtHealth('networks', () => mgr.get('qemu+tls://h/system'), ctx);
    assert.equal(bad.status, 'NOT_SERVING');
    assert.match(bad.message, /not supported/);
  } finally {
    await mgr.closeAll();
    await fake.stop();
  }
});
