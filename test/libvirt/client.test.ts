// LibvirtClient against a fake libvirtd that splits, coalesces and reorders packets, interleaves
// events (serial 1) and pings, returns errors, goes silent, crashes and comes back.
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { FakeLibvirtd, TEST_DOMAIN } from './fakeLibvirtd.js';
import {
  LibvirtClient,
  LibvirtConnectionManager,
  Proc,
  XdrReader,
  XdrWriter,
  writeDomain,
  type DomainLifecycleEvent,
} from '../../src/plugins/libvirt/rpc/index.js';
import { isVmrError } from '../../src/core/errors.js';

const lifecyclePayload = (callbackId: number, name: string, event: number, detail: number) => {
  const w = new XdrWriter().int(callbackId);
  writeDomain(w, { ...TEST_DOMAIN, name });
  return w.int(event).int(detail).toBuffer();
};

const codeOf = (err: unknown) => (isVmrError(err) ? err.code : `not a VmrError: ${String(err)}`);

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LibvirtClient over a fake libvirtd', () => {
  let fake: FakeLibvirtd;
  let client: LibvirtClient | undefined;

  beforeEach(async () => {
    fake = await FakeLibvirtd.start();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await fake.stop();
  });

  test('handshake: AUTH_LIST first, keepalive feature, then CONNECT_OPEN with the transport-less URI', async () => {
    client = await LibvirtClient.connect(fake.uri);
    assert.deepEqual(fake.calls.slice(0, 3).map((c) => c.proc), [Proc.AUTH_LIST, Proc.CONNECT_SUPPORTS_FEATURE, Proc.CONNECT_OPEN]);
    assert.equal(new XdrReader(fake.calls[1].payload).int(), 10);
    assert.deepEqual(fake.openedUris, ['test:///default']);
    assert.equal(client.state, 'connected');
    assert.equal(await client.getHostname(), 'fakehost');
  });

  test('pipelined calls get their own replies when the daemon answers in reverse, split byte-wise', async () => {
    client = await LibvirtClient.connect(fake.uri);
    fake.split = true;
    fake.reorderBatch = 10;
    const names = Array.from({ length: 10 }, (_, i) => `dom-${i}`);
    const got = await Promise.all(names.map((n) => client!.domainLookupByName(n)));
    assert.deepEqual(got.map((d) => d.name), names);
    const serials = fake.callsOf(Proc.DOMAIN_LOOKUP_BY_NAME).map((c) => c.serial);
    assert.equal(new Set(serials).size, 10);
  });

  test('coalesced packets: events with serial 1 and pings between replies are routed by type', async () => {
    client = await LibvirtClient.connect(fake.uri);
    const sub = await client.subscribeDomainEvents();
    const events: DomainLifecycleEvent[] = [];
    client.on('domainLifecycle', (e) => events.push(e));
    fake.coalesce = true;
    fake.reorderBatch = 3;
    // The event and the ping go into the same write as the held replies.
    const calls = [client.domainLookupByName('a'), client.domainLookupByName('b'), client.getVersion()] as const;
    await until(() => fake.calls.filter((c) => c.proc === Proc.CONNECT_GET_VERSION).length === 1, 'calls to arrive');
    fake.sendEvent(Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE, lifecyclePayload(7, 'evdom', 2, 0));
    fake.sendPing();
    const [a, b, v] = await Promise.all(calls);
    assert.equal(a.name, 'a');
    assert.equal(b.name, 'b');
    assert.equal(v, 2);
    await until(() => events.length === 1 && fake.pongs === 1, 'event and pong');
    fake.reorderBatch = 0;
    assert.deepEqual(events[0], { callbackId: 7, dom: { ...TEST_DOMAIN, name: 'evdom' }, event: 2, detail: 0 });
    await sub.unsubscribe();
    assert.equal(fake.callsOf(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY).length, 1);
    assert.equal(new XdrReader(fake.callsOf(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY)[0].payload).int(), 7);
  });

  test('an event that arrives before the reply of call #1 does not resolve call #1', async () => {
    // Serial 1 is the first call on the connection; make the daemon send an event instead of replying.
    let release!: () => void;
    fake.handlers.set(Proc.AUTH_LIST, () => new Promise((resolve) => {
      release = () => resolve({ payload: new XdrWriter().array([0], (w, v) => w.int(v)).toBuffer() });
    }));
    const p = LibvirtClient.connect(fake.uri);
    await until(() => fake.calls.length === 1, 'AUTH_LIST');
    assert.equal(fake.calls[0].serial, 1);
    fake.sendEvent(Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE, lifecyclePayload(0, 'early', 0, 0));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(fake.calls.length, 1, 'handshake must still wait for the real AUTH_LIST reply');
    release();
    client = await p;
    assert.equal(client.state, 'connected');
  });

  test('libvirt errors become domain errors carrying the libvirt code', async () => {
    client = await LibvirtClient.connect(fake.uri);
    await assert.rejects(client.domainLookupByName('missing-1'), (err: any) => {
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(err.name, 'NotFoundError');
      assert.deepEqual(err.libvirt, { code: 42, domain: 12, message: 'Domain not found' });
      assert.match(err.message, /missing-1/);
      return true;
    });
    await assert.rejects(client.getCapabilities(), (err) => codeOf(err) === 'UNIMPLEMENTED');
    assert.equal((await client.domainLookupByName('ok')).name, 'ok', 'the connection survives errors');
  });

  test('AbortSignal cancels one call; its late reply is dropped and the connection stays usable', async () => {
    client = await LibvirtClient.connect(fake.uri);
    let answer!: () => void;
    fake.handlers.set(Proc.CONNECT_GET_HOSTNAME, () => new Promise((resolve) => {
      answer = () => resolve({ payload: new XdrWriter().string('late').toBuffer() });
    }));
    const ac = new AbortController();
    const p = client.getHostname({ signal: ac.signal });
    await until(() => fake.callsOf(Proc.CONNECT_GET_HOSTNAME).length === 1, 'call');
    ac.abort();
    await assert.rejects(p, (err) => codeOf(err) === 'CANCELLED');
    answer();
    assert.equal((await client.domainLookupByName('after')).name, 'after');
    await assert.rejects(client.getVersion({ signal: AbortSignal.abort() }), (err) => codeOf(err) === 'CANCELLED');
    await assert.rejects(
      (async () => {
        fake.handlers.set(Proc.CONNECT_GET_HOSTNAME, () => 'none');
        return client!.getHostname({ timeoutMs: 50 });
      })(),
      (err) => codeOf(err) === 'DEADLINE_EXCEEDED',
    );
  });

  test('keepalive: answers the daemon\'s PING, pings when idle, and declares a silent peer dead', async () => {
    client = await LibvirtClient.connect(fake.uri, { keepaliveIntervalMs: 100, keepaliveCount: 5, reconnect: false });
    fake.sendPing();
    await until(() => fake.pongs >= 1, 'our PONG');
    await until(() => fake.pingsReceived >= 1, 'our own PING when idle');
    fake.silent = true;
    const pending = client.getHostname().then(() => 'resolved', (err: unknown) => codeOf(err));
    const [reason] = await once(client, 'disconnected');
    assert.match(reason.message, /stopped answering/);
    assert.equal(await pending, 'UNAVAILABLE');
    await assert.rejects(client.getHostname(), (err) => codeOf(err) === 'UNAVAILABLE');
  });

  test('daemon restart: pending and in-between calls fail UNAVAILABLE at once; reconnects and re-registers events', async () => {
    client = await LibvirtClient.connect(fake.uri, { backoffInitialMs: 20, backoffMaxMs: 100 });
    await client.subscribeDomainEvents();
    assert.equal(fake.callsOf(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY).length, 1);
    fake.handlers.set(Proc.CONNECT_GET_HOSTNAME, () => 'none');
    const pending = client.getHostname().then(() => 'resolved', (err: unknown) => codeOf(err));
    await until(() => fake.callsOf(Proc.CONNECT_GET_HOSTNAME).length === 1, 'call');
    const down = once(client, 'disconnected');
    await fake.crash();
    await down;
    assert.equal(await pending, 'UNAVAILABLE');
    const t0 = Date.now();
    await assert.rejects(client.domainLookupByName('x'), (err) => codeOf(err) === 'UNAVAILABLE');
    assert.ok(Date.now() - t0 < 1000, 'a call while down must fail promptly, not hang');

    fake.handlers.delete(Proc.CONNECT_GET_HOSTNAME);
    fake.handlers.set(Proc.CONNECT_GET_HOSTNAME, () => ({ payload: new XdrWriter().string('back').toBuffer() }));
    const up = once(client, 'connected');
    await fake.listen();
    await up;
    assert.equal(await client.getHostname(), 'back');
    assert.equal(fake.callsOf(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY).length, 2, 're-registered after reconnect');
    const events: DomainLifecycleEvent[] = [];
    client.on('domainLifecycle', (e) => events.push(e));
    fake.sendEvent(Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE, lifecyclePayload(8, 'after-restart', 5, 1));
    await until(() => events.length === 1, 'event after reconnect');
    assert.equal(fake.openedUris.length, 2);
  });

  test('first connect to a missing socket fails UNAVAILABLE with a hint; create() retries until it appears', async () => {
    const missing = `test+unix:///default?socket=${encodeURIComponent(fake.socketPath + '.nope')}`;
    await assert.rejects(LibvirtClient.connect(missing), (err: any) => codeOf(err) === 'UNAVAILABLE' && /libvirtd/.test(err.message));
    await fake.crash();
    const lazy = LibvirtClient.create(fake.uri, { backoffInitialMs: 20, backoffMaxMs: 50 });
    try {
      await assert.rejects(lazy.getHostname(), (err) => codeOf(err) === 'UNAVAILABLE');
      await fake.listen();
      await lazy.ready({ timeoutMs: 5000 });
      assert.equal(await lazy.getHostname(), 'fakehost');
    } finally {
      await lazy.close();
    }
  });

  test('close() says CONNECT_CLOSE; later calls fail UNAVAILABLE', async () => {
    client = await LibvirtClient.connect(fake.uri);
    await client.close();
    assert.equal(fake.callsOf(Proc.CONNECT_CLOSE).length, 1);
    assert.equal(client.state, 'closed');
    await assert.rejects(client.getVersion(), (err) => codeOf(err) === 'UNAVAILABLE');
  });

  test('connection manager shares one client per URI', async () => {
    const mgr = new LibvirtConnectionManager();
    try {
      const a = mgr.get(fake.uri);
      assert.equal(mgr.get(fake.uri), a);
      assert.equal(await a.getHostname(), 'fakehost');
      assert.equal(fake.connections, 1);
      assert.throws(() => mgr.get('nonsense'), (err) => codeOf(err) === 'INVALID_ARGUMENT');
    } finally {
      await mgr.closeAll();
    }
  });
});

describe('qemu+ssh transport through a stand-in ssh binary', () => {
  let fake: FakeLibvirtd;
  let sshScript: string;
  before(async () => {
    fake = await FakeLibvirtd.start();
    const { writeFile, chmod } = await import('node:fs/promises');
    const path = await import('node:path');
    sshScript = path.join(fake.dir, 'fake-ssh.mjs');
    // Records its argv and relays stdio to the fake daemon's socket, as `ssh host nc -U sock` would.
    await writeFile(sshScript, `#!/usr/bin/env node
import net from 'node:net';
import fs from 'node:fs';
fs.writeFileSync(${JSON.stringify(path.join(fake.dir, 'argv.json'))}, JSON.stringify(process.argv.slice(2)));
const s = net.createConnection(${JSON.stringify(fake.socketPath)});
process.stdin.pipe(s); s.pipe(process.stdout);
s.on('close', () => process.exit(0));
`);
    await chmod(sshScript, 0o755);
  });
  after(async () => fake.stop());

  test('speaks RPC over the child\'s stdio and builds libvirt\'s ssh command line', async () => {
    const { readFile } = await import('node:fs/promises');
    const c = await LibvirtClient.connect('qemu+ssh://alice@example.test:2222/system?keyfile=/k&no_verify=1', { sshCommand: sshScript });
    try {
      assert.equal(await c.getHostname(), 'fakehost');
      assert.deepEqual(fake.openedUris, ['qemu:///system']);
      const argv = JSON.parse(await readFile(`${fake.dir}/argv.json`, 'utf8')) as string[];
      assert.deepEqual(argv.slice(0, 6), ['-p', '2222', '-l', 'alice', '-i', '/k']);
      assert.ok(argv.includes('StrictHostKeyChecking=no'));
      const host = argv.indexOf('example.test');
      assert.equal(argv[host - 1], '--');
      assert.match(argv[host + 1], /^sh -c .*virt-ssh-helper .*qemu:\/\/\/system/);
      assert.match(argv[host + 1], /nc.* -U .*\/run\/libvirt\/libvirt-sock/);
    } finally {
      await c.close();
    }
  });

  test('an ssh that cannot run fails UNAVAILABLE', async () => {
    await assert.rejects(
      LibvirtClient.connect('qemu+ssh://h/system', { sshCommand: '/nonexistent/ssh', reconnect: false }),
      (err) => codeOf(err) === 'UNAVAILABLE',
    );
  });
});
