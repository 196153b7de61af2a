// A libvirtd that is alive (answers keepalive) but whose driver is stuck: every VM call ends with
// DEADLINE_EXCEEDED after the per-call bound, the per-name lock is released each time, and a caller
// queued behind a stuck call gives up when its own signal fires instead of waiting for the holder.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FakeLibvirtd } from './fakeLibvirtd.js';
import { LibvirtConnectionManager, Proc } from '../../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../../src/plugins/libvirt/vm/index.js';
import { isVmrError } from '../../src/core/errors.js';
import type { CallContext, Logger } from '../../src/core/ports/common.js';
import { silentLogger } from '../../src/core/log/silentLogger.js';

const quiet: Logger = silentLogger();
const codeOf = (err: unknown) => (isVmrError(err) ? err.code : `not a VmrError: ${String(err)}`);

describe('VM calls to a stuck but alive libvirtd', () => {
  let fake: FakeLibvirtd;
  let mgr: LibvirtConnectionManager;
  let hv: LibvirtHypervisor;
  let stateDir: string;
  const ctx = (signal: AbortSignal = new AbortController().signal): CallContext => ({
    signal, log: quiet,
    context: { name: 't', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: fake.uri,
      insecureRegistry: false, current: true, created: '' },
  });

  before(async () => {
    fake = await FakeLibvirtd.start();
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'vmr-stuck-'));
    mgr = new LibvirtConnectionManager({ callTimeoutMs: 1500, keepaliveIntervalMs: 200, log: quiet });
    hv = new LibvirtHypervisor({ clientFor: (u) => mgr.get(u), stateDir, log: quiet });
    await mgr.get(fake.uri).ready();
  });
  after(async () => {
    await mgr?.closeAll();
    await fake?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  test('each call is bounded, the lock is released, and a queued caller honours its signal', async () => {
    fake.handlers.set(Proc.DOMAIN_LOOKUP_BY_NAME, () => 'none'); // the driver never answers
    const order: string[] = [];
    const first = hv.stop('web', { force: true, timeoutSeconds: 0 }, ctx()).then(
      () => order.push('first ok'), (e) => order.push(`first ${codeOf(e)}`));
    // Queued behind `first` on the name lock; its own deadline fires while `first` is still stuck.
    const queued = hv.start('web', ctx(AbortSignal.timeout(100))).then(
      () => order.push('queued ok'), (e) => order.push(`queued ${codeOf(e)}`));
    await Promise.all([first, queued]);
    assert.deepEqual(order, ['queued CANCELLED', 'first DEADLINE_EXCEEDED']);
    assert.ok(mgr.get(fake.uri).connected, 'keepalive kept the connection: libvirtd is alive, only the call was stuck');

    // The lock is free again: the next call on the name is answered (here: the VM does not exist).
    fake.handlers.set(Proc.DOMAIN_LOOKUP_BY_NAME, () => ({ error: { code: 42, domain: 12, message: 'Domain not found' } }));
    await assert.rejects(hv.stop('web', { force: true, timeoutSeconds: 0 }, ctx()), (e) => codeOf(e) === 'NOT_FOUND');
  });
});
