// libvirtd restarted in the middle of a run: calls in between fail UNAVAILABLE, the same client
// recovers and its event subscriptions are registered again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { exclusiveLibvirtd, repoRoot } from '../../support/services.js';
import { LibvirtNetworkManager } from '../../../src/plugins/libvirt/network/LibvirtNetworkManager.js';
import { LibvirtConnectionManager } from '../../../src/plugins/libvirt/rpc/index.js';
import { isVmrError } from '../../../src/core/errors.js';
import type { CallContext } from '../../../src/core/ports/common.js';
import { defaultContextInfo, testCallContext } from '../../../src/testing/callContext.js';
import { uniqueName } from '../../support/unique.js';

const pexec = promisify(execFile);
const ctxFor = (uri: string): CallContext => testCallContext({ context: defaultContextInfo({ name: 'test', libvirtUri: uri }) });
const codeOf = (err: unknown) => (isVmrError(err) ? err.code : `not a VmrError: ${String(err)}`);
const run = uniqueName('vmrt-r');

describe('libvirtd restarts in the middle of a run', () => {
  const ctx = ctxFor('test+unix:///default');
  let connections: LibvirtConnectionManager;
  let nm: LibvirtNetworkManager;
  const transient = `${run}-restart`;

  let release: (() => Promise<void>) | undefined;
  before(async () => {
    release = await exclusiveLibvirtd();
    connections = new LibvirtConnectionManager({ backoffInitialMs: 100, backoffMaxMs: 1000 });
    nm = new LibvirtNetworkManager({ connections, defaultUri: 'qemu:///system' });
  });

  after(async () => {
    // Whatever happened, leave a running libvirtd behind.
    await pexec('bash', [path.join(repoRoot, 'scripts/services/libvirtd.sh')]).catch(() => undefined);
    const c = connections.get('test+unix:///default');
    const d = await c.domainLookupByName(transient).catch(() => undefined);
    if (d) await c.domainDestroy(d).catch(() => undefined);
    await connections.closeAll();
    await release?.();
  });

  test('an RPC in between fails UNAVAILABLE; the same client recovers and still gets events', async () => {
    const client = connections.get('test+unix:///default');
    await client.ready();
    await client.subscribeDomainEvents();
    assert.ok((await nm.list(ctx)).some((n) => n.name === 'default'));

    const pid = Number((await readFile('/run/libvirtd.pid', 'utf8')).trim());
    assert.ok(pid > 1, 'libvirtd pid file');
    const down = once(client, 'disconnected');
    process.kill(pid, 'SIGTERM');
    await down;
    for (let i = 0; i < 150 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');

    const t0 = Date.now();
    await assert.rejects(nm.list(ctx), (err) => codeOf(err) === 'UNAVAILABLE');
    await assert.rejects(client.getVersion(), (err) => codeOf(err) === 'UNAVAILABLE');
    assert.ok(Date.now() - t0 < 5000, 'calls while libvirtd is down fail promptly');

    await pexec('bash', [path.join(repoRoot, 'scripts/services/libvirtd.sh')]);
    await client.ready({ timeoutMs: 30000 });
    assert.equal(connections.get('test+unix:///default'), client, 'no new client');
    assert.ok((await nm.list(ctx)).some((n) => n.name === 'default'));

    const events: string[] = [];
    client.on('domainLifecycle', (e) => {
      if (e.dom.name === transient) events.push(`${e.event}`);
    });
    const dom = await client.domainCreateXml(`<domain type='test'><name>${transient}</name><memory>1024</memory><os><type>hvm</type></os></domain>`);
    await client.domainDestroy(dom);
    for (let i = 0; i < 100 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    // STARTED (2) then STOPPED (5): the subscription was registered again on the new connection.
    assert.deepEqual(events, ['2', '5']);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
