// LibvirtHypervisor against libvirtd (run from libvirtd.test.ts, before the restart suite): the test driver (fast, no QEMU) and real TCG guests built from
// Debian packages (test/support/guest). The guest prints its cloud-init seed and DHCP address on
// its serial console, which is how these tests see inside it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isVmrError } from '../../../src/core/errors.js';
import type { CallContext, Logger } from '../../../src/core/ports/common.js';
import { silentLogger } from '../../../src/core/log/silentLogger.js';
import type { RunVMSpec, VMRecord } from '../../../src/core/ports/hypervisor.js';
import { LibvirtConnectionManager } from '../../../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../../../src/plugins/libvirt/vm/index.js';
import { uriSlug } from '../../../src/plugins/libvirt/vm/vmFiles.js';
import { GUEST_MARKERS, testGuest, type TestGuest } from '../../support/guest.js';
import { optedOut, requireService } from '../../support/services.js';
import { uniqueName } from '../../support/unique.js';

const pexec = promisify(execFile);
const TEST_URI = 'test+unix:///default';
const QEMU_URI = 'qemu:///system';

const quiet: Logger = silentLogger();

function ctx(uri: string, timeoutMs = 60_000): CallContext {
  return {
    signal: AbortSignal.timeout(timeoutMs),
    log: quiet,
    context: {
      name: 'it', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: uri,
      insecureRegistry: false, current: true, created: new Date().toISOString(),
    },
  };
}

function spec(name: string, baseDiskPath: string, over: Partial<RunVMSpec> = {}): RunVMSpec {
  return {
    name,
    image: {
      reference: 'localhost:5000/test/guest:1', digest: 'sha256:' + '1'.repeat(64), baseDiskPath,
      diskSize: 48 << 20, firmware: 'bios', architecture: 'x86_64',
    },
    memoryMb: 256, vcpuCount: 1, diskSizeGb: 0, ephemeral: false, networkName: '', activateNetwork: false,
    labels: {}, waitForIp: false, start: true, ...over,
  };
}

const code = (c: string) => (e: unknown) => isVmrError(e) && e.code === c;

async function vmDirs(stateDir: string, uri: string, name: string): Promise<string[]> {
  const root = path.join(stateDir, uriSlug(uri));
  const all = await fs.readdir(root).catch(() => [] as string[]);
  return all.filter((d) => d.startsWith(`${name}.`)).map((d) => path.join(root, d));
}

async function hvFor(stateDir: string) {
  const mgr = new LibvirtConnectionManager({ log: quiet });
  const hv = new LibvirtHypervisor({ clientFor: (u) => mgr.get(u), stateDir, log: quiet, defaultStopTimeoutSeconds: 60 });
  return { mgr, hv };
}

/** Deletes test VMs even across a libvirtd restart by another suite (retries while UNAVAILABLE). */
async function cleanup(hv: LibvirtHypervisor, uri: string, names: string[]): Promise<void> {
  for (const name of names) {
    for (let i = 0; i < 60; i++) {
      try {
        await hv.delete(name, { force: true }, ctx(uri));
        break;
      } catch (err) {
        if (!code('UNAVAILABLE')(err)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

async function tempStateDir(): Promise<string> {
  // Under the repo (not /tmp) so a developer can look at console logs of a failed run.
  const base = path.resolve('.test-work');
  await fs.mkdir(base, { recursive: true });
  return fs.mkdtemp(path.join(base, 'vm-it-'));
}

describe('LibvirtHypervisor on the test driver', { skip: optedOut('libvirtd') }, () => {
  let stateDir: string;
  let mgr: LibvirtConnectionManager;
  let hv: LibvirtHypervisor;
  const names: string[] = [];
  const n = (s: string) => {
    const name = uniqueName(`vmr-t-${s}`);
    names.push(name);
    return name;
  };
  let base: string;

  before(async () => {
    await requireService('libvirtd');
    stateDir = await tempStateDir();
    ({ mgr, hv } = await hvFor(stateDir));
    // The test driver never opens disks, but the overlay is still made with qemu-img from a real file.
    base = path.join(stateDir, 'base.raw');
    await fs.writeFile(base, Buffer.alloc(0));
    await fs.truncate(base, 1 << 20);
  });

  after(async () => {
    await cleanup(hv, TEST_URI, names);
    await mgr.closeAll();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  test('run → get/list → stop → start → restart → delete, with the record kept in the domain', async () => {
    const name = n('life');
    const r = await hv.run(spec(name, base, {
      labels: { tier: 'web', 'a&b': '<"x">' },
      compose: { project: 'stack', service: 'web', index: 1, hash: 'h1' },
      cloudInit: { userData: '#cloud-config\n' },
    }), ctx(TEST_URI));
    assert.equal(r.name, name);
    assert.equal(r.status, 'running');
    assert.equal(r.image, 'localhost:5000/test/guest:1');
    assert.equal(r.memoryMb, 256);
    assert.equal(r.vcpuCount, 1);
    assert.deepEqual(r.labels, { tier: 'web', 'a&b': '<"x">' });
    assert.deepEqual(r.compose, { project: 'stack', service: 'web', index: 1, hash: 'h1' });
    assert.ok(r.startedAt && r.startedAt >= r.created);
    assert.equal(r.networks.length, 1);
    assert.equal(r.networks[0].name, 'default');
    assert.equal(r.networks[0].interfaceType, 'network');
    assert.match(r.networks[0].mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const [dir] = await vmDirs(stateDir, TEST_URI, name);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['overlay.qcow2', 'owner', 'seed.iso'], 'owner: which process made it (see runOwner.ts)');

    assert.deepEqual(await hv.get(r.id, ctx(TEST_URI)), await hv.get(name, ctx(TEST_URI)), 'by id = by name');
    assert.ok((await hv.list(ctx(TEST_URI))).some((v) => v.id === r.id));

    const stopped = await hv.stop(name, { force: false, timeoutSeconds: 10 }, ctx(TEST_URI));
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.startedAt, undefined);
    const started = await hv.start(name, ctx(TEST_URI));
    assert.equal(started.status, 'running');
    assert.ok(started.startedAt! >= r.startedAt!);
    const restarted = await hv.restart(name, { force: true, timeoutSeconds: 0 }, ctx(TEST_URI));
    assert.equal(restarted.status, 'running');
    assert.deepEqual(restarted.labels, r.labels, 'metadata survives stop/start');

    await assert.rejects(hv.delete(name, { force: false }, ctx(TEST_URI)), code('FAILED_PRECONDITION'));
    assert.equal((await hv.get(name, ctx(TEST_URI))).status, 'running', 'a refused delete changes nothing');
    await hv.delete(name, { force: true }, ctx(TEST_URI));
    await assert.rejects(hv.get(name, ctx(TEST_URI)), code('NOT_FOUND'));
    assert.deepEqual(await vmDirs(stateDir, TEST_URI, name), [], 'overlay and seed removed');
  });

  test('lifecycle events of our VMs reach onEvent listeners; foreign domains stay silent', async () => {
    const seen: Array<{ vm: string; action: string }> = [];
    const off = hv.onEvent((e) => seen.push({ vm: e.vm, action: e.action }));
    try {
      const name = n('events');
      await hv.run(spec(name, base), ctx(TEST_URI));
      await hv.stop(name, { force: true, timeoutSeconds: 0 }, ctx(TEST_URI));
      for (let i = 0; i < 100 && !seen.some((e) => e.vm === name && e.action === 'stopped'); i++) await new Promise((r) => setTimeout(r, 50));
      const mine = seen.filter((e) => e.vm === name).map((e) => e.action);
      assert.ok(mine.includes('started'), `events: ${JSON.stringify(seen)}`);
      assert.ok(mine.includes('stopped'), `events: ${JSON.stringify(seen)}`);
      assert.ok(seen.every((e) => e.vm !== 'test'), 'the test driver\'s own domain is not ours');
    } finally {
      off();
    }
  });

  test('20 concurrent runs of one name create exactly one VM', async () => {
    const name = n('race');
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => hv.run(spec(name, base), ctx(TEST_URI))));
    const ok = results.filter((x) => x.status === 'fulfilled');
    const failed = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    assert.equal(ok.length, 1);
    assert.equal(failed.length, 19);
    for (const f of failed) assert.ok(code('ALREADY_EXISTS')(f.reason), String(f.reason));
    assert.equal((await hv.list(ctx(TEST_URI))).filter((v) => v.name === name).length, 1);
    assert.equal((await vmDirs(stateDir, TEST_URI, name)).length, 1, 'losers left no files');
    // A second, independent instance (another daemon) is stopped by libvirt's own uniqueness.
    const other = await hvFor(stateDir);
    try {
      await assert.rejects(other.hv.run(spec(name, base), ctx(TEST_URI)), code('ALREADY_EXISTS'));
    } finally {
      await other.mgr.closeAll();
    }
  });

  test('a restarted daemon (fresh instance) sees every VM and its record', async () => {
    const a = await hv.run(spec(n('keep'), base, { labels: { k: 'v' } }), ctx(TEST_URI));
    const b = await hv.run(spec(n('keep2'), base, { start: false }), ctx(TEST_URI));
    assert.equal(b.status, 'stopped');
    const fresh = await hvFor(stateDir);
    try {
      const seen = await fresh.hv.list(ctx(TEST_URI));
      assert.deepEqual(seen.find((v) => v.id === a.id), await hv.get(a.id, ctx(TEST_URI)));
      assert.deepEqual(seen.find((v) => v.id === b.id), b);
    } finally {
      await fresh.mgr.closeAll();
    }
  });

  test('domains vmregistry did not create are invisible and untouchable', async () => {
    const name = uniqueName('vmr-t-foreign');
    const client = mgr.get(TEST_URI);
    const dom = await client.domainDefineXml(
      `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`);
    try {
      assert.ok(!(await hv.list(ctx(TEST_URI))).some((v) => v.name === name));
      await assert.rejects(hv.get(name, ctx(TEST_URI)), code('NOT_FOUND'));
      await assert.rejects(hv.get(dom.uuid, ctx(TEST_URI)), code('NOT_FOUND'));
      await assert.rejects(hv.delete(name, { force: true }, ctx(TEST_URI)), code('NOT_FOUND'));
      await assert.rejects(hv.stop(name, { force: true, timeoutSeconds: 0 }, ctx(TEST_URI)), code('NOT_FOUND'));
      await assert.rejects(hv.run(spec(name, base), ctx(TEST_URI)), code('ALREADY_EXISTS'));
      assert.equal((await client.domainLookupByName(name)).uuid, dom.uuid, 'still there');
    } finally {
      await client.domainUndefine(dom);
    }
  });

  test('failed runs leave no domain and no files', async () => {
    const noNet = n('nonet');
    await assert.rejects(hv.run(spec(noNet, base, { networkName: uniqueName('nope') }), ctx(TEST_URI)), code('NOT_FOUND'));
    const noBase = n('nobase');
    await assert.rejects(hv.run(spec(noBase, path.join(stateDir, 'missing.raw')), ctx(TEST_URI)), code('FAILED_PRECONDITION'));
    // Fails after the domain was defined and started: the test driver has no DHCP leases.
    const late = n('late');
    await assert.rejects(hv.run(spec(late, base, { waitForIp: true }), ctx(TEST_URI)), code('UNIMPLEMENTED'));
    const client = mgr.get(TEST_URI);
    for (const name of [noNet, noBase, late]) {
      await assert.rejects(client.domainLookupByName(name), code('NOT_FOUND'), name);
      assert.deepEqual(await vmDirs(stateDir, TEST_URI, name), [], name);
    }
    await assert.rejects(hv.run(spec('-bad name', base), ctx(TEST_URI)), code('INVALID_ARGUMENT'));
  });

  test('an ephemeral VM is transient and leaves nothing once stopped', async () => {
    const name = n('eph');
    const r = await hv.run(spec(name, base, { ephemeral: true }), ctx(TEST_URI));
    assert.equal(r.ephemeral, true);
    const client = mgr.get(TEST_URI);
    assert.equal(await client.domainIsPersistent(await client.domainLookupByName(name)), false);
    assert.equal((await vmDirs(stateDir, TEST_URI, name)).length, 1);
    const rebooted = await hv.restart(name, { force: false, timeoutSeconds: 5 }, ctx(TEST_URI));
    assert.equal(rebooted.id, r.id, 'a restart reboots a transient domain instead of ending it');
    assert.equal(rebooted.status, 'running');
    const s = await hv.stop(name, { force: false, timeoutSeconds: 5 }, ctx(TEST_URI));
    assert.equal(s.status, 'stopped');
    await assert.rejects(client.domainLookupByName(name), code('NOT_FOUND'));
    assert.deepEqual(await vmDirs(stateDir, TEST_URI, name), []);
  });
  test('an ephemeral VM stopped behind our back loses its files through the lifecycle event', async () => {
    const name = n('eph-ev');
    await hv.run(spec(name, base, { ephemeral: true }), ctx(TEST_URI));
    const client = mgr.get(TEST_URI);
    await client.domainDestroy(await client.domainLookupByName(name));
    const until = Date.now() + 10_000;
    while ((await vmDirs(stateDir, TEST_URI, name)).length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await vmDirs(stateDir, TEST_URI, name), []);
  });

  test('a restarted daemon sweeps VM files no domain owns, and never those of a live run', async () => {
    const sweeper = new LibvirtHypervisor({ clientFor: (u) => mgr.get(u), stateDir, log: quiet });
    const root = path.join(stateDir, uriSlug(TEST_URI));
    // An ephemeral VM that stopped while no daemon watched.
    const orphan = path.join(root, `${n('orphan')}.0000abcd`);
    await fs.mkdir(orphan, { recursive: true });
    await fs.writeFile(path.join(orphan, 'ephemeral.uuid'), randomUUID());
    // A run killed between mkdir and define: files, no domain, its process gone (pid 2^22 + 1 never exists).
    const killed = path.join(root, `${n('killed')}.0000abcd`);
    await fs.mkdir(killed, { recursive: true });
    await fs.writeFile(path.join(killed, 'owner'), '4194305 1\n');
    await fs.writeFile(path.join(killed, 'seed.iso'), 'user-data');
    // A run in progress in another live process (pid 1 with its real start time): not ours to sweep.
    const stat1 = await fs.readFile('/proc/1/stat', 'utf8');
    const live = path.join(root, `${n('live')}.0000abcd`);
    await fs.mkdir(live, { recursive: true });
    await fs.writeFile(path.join(live, 'owner'), `1 ${stat1.slice(stat1.lastIndexOf(')') + 2).split(' ')[19]}\n`);
    // A persistent VM defined by another instance: its domain owns its directory.
    const kept = n('kept');
    await hv.run(spec(kept, base, {}), ctx(TEST_URI));
    const [keptDir] = await vmDirs(stateDir, TEST_URI, kept);

    await sweeper.list(ctx(TEST_URI));
    await assert.rejects(fs.stat(orphan), 'the stopped ephemeral VM\'s files are gone');
    await assert.rejects(fs.stat(killed), 'the killed run\'s files are gone');
    assert.ok(await fs.stat(live), 'a live process\'s run keeps its directory');
    assert.ok(await fs.stat(keptDir!), 'a defined VM keeps its directory');
    await fs.rm(live, { recursive: true });
    await hv.delete(kept, { force: true }, ctx(TEST_URI));
  });

  test('a list racing runs never sweeps the directory of a VM that started meanwhile', async () => {
    const racers = Array.from({ length: 4 }, (_, i) => n(`race${i}`));
    const lists: Promise<unknown>[] = [];
    await Promise.all(racers.map(async (name, i) => {
      lists.push(hv.list(ctx(TEST_URI)));
      await hv.run(spec(name, base, { ephemeral: i % 2 === 0 }), ctx(TEST_URI));
      lists.push(hv.list(ctx(TEST_URI)));
    }));
    await Promise.all(lists);
    await hv.list(ctx(TEST_URI));
    for (const name of racers) assert.equal((await vmDirs(stateDir, TEST_URI, name)).length, 1, `${name} keeps its files`);
    for (const name of racers) await hv.delete(name, { force: true }, ctx(TEST_URI));
  });
});

describe('LibvirtHypervisor on qemu:///system with real guests', { skip: optedOut('libvirtd') }, () => {
  let stateDir: string;
  let mgr: LibvirtConnectionManager;
  let hv: LibvirtHypervisor;
  let guest: TestGuest;
  const names: string[] = [];
  const n = (s: string) => {
    const name = uniqueName(`vmr-q-${s}`);
    names.push(name);
    return name;
  };

  before(async () => {
    await requireService('libvirtd');
    guest = await testGuest();
    stateDir = await tempStateDir();
    ({ mgr, hv } = await hvFor(stateDir));
  });

  after(async () => {
    await cleanup(hv, QEMU_URI, names);
    await mgr.closeAll();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  const consoleOf = async (name: string) => {
    const [dir] = await vmDirs(stateDir, QEMU_URI, name);
    return fs.readFile(path.join(dir, 'console.log'), 'utf8').catch(() => '');
  };
  const waitConsole = async (name: string, marker: string, ms = 240_000) => {
    const until = Date.now() + ms;
    for (;;) {
      const text = await consoleOf(name);
      if (text.includes(marker)) return text;
      if (Date.now() > until) assert.fail(`"${marker}" never appeared on ${name}'s console:\n${text}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const sha256 = async (p: string) => createHash('sha256').update(await fs.readFile(p)).digest('hex');
  const backingOf = async (overlay: string) =>
    (JSON.parse((await pexec('qemu-img', ['info', '-U', '--output=json', overlay])).stdout) as { 'backing-filename'?: string })['backing-filename'];

  test('cloud-init, DHCP, shared base, daemon restart, stop/start/restart/delete, ephemeral cleanup', { timeout: 900_000 }, async () => {
    const token = `token-${randomUUID()}`;
    const baseHash = await sha256(guest.rawPath);
    const aName = n('a');
    const bName = n('b');
    // Two guests from one base, booting side by side (TCG, ~10-60 s depending on load).
    const [a, b] = await Promise.all([
      hv.run(spec(aName, guest.rawPath, {
        cloudInit: { userData: `#cloud-config\n# ${token}\n` },
        waitForIp: true,
        labels: { role: 'primary' },
        compose: { project: 'it', service: 'a', index: 1, hash: 'x' },
      }), ctx(QEMU_URI, 400_000)),
      hv.run(spec(bName, guest.rawPath, { ephemeral: true }), ctx(QEMU_URI)),
    ]);
    assert.equal(a.status, 'running');
    assert.equal(b.status, 'running');
    assert.equal(b.ephemeral, true);

    // The guest saw our user-data on its cidata seed, and took the lease get/list report.
    const text = await waitConsole(aName, GUEST_MARKERS.ready);
    const userData = text.slice(text.indexOf(GUEST_MARKERS.userDataBegin), text.indexOf(GUEST_MARKERS.userDataEnd));
    assert.ok(userData.includes(token), `user-data on the console:\n${text}`);
    const ipLine = text.split('\n').find((l) => l.startsWith(GUEST_MARKERS.ipPrefix));
    assert.ok(ipLine, `the guest printed its address:\n${text}`);
    const ip = ipLine!.slice(GUEST_MARKERS.ipPrefix.length).trim();
    assert.deepEqual(a.networks[0].ipAddresses, [ip], 'run(wait_for_ip) returned the lease');
    assert.deepEqual((await hv.get(aName, ctx(QEMU_URI))).networks[0].ipAddresses, [ip]);
    assert.deepEqual((await hv.list(ctx(QEMU_URI))).find((v) => v.name === aName)?.networks[0].ipAddresses, [ip]);
    assert.deepEqual(await hv.waitForIp(aName, ctx(QEMU_URI)), [ip]);

    // One base, two overlays: each backed by the base, which nobody wrote to.
    const [aDir] = await vmDirs(stateDir, QEMU_URI, aName);
    const [bDir] = await vmDirs(stateDir, QEMU_URI, bName);
    assert.notEqual(aDir, bDir);
    assert.equal(await backingOf(path.join(aDir, 'overlay.qcow2')), guest.rawPath);
    assert.equal(await backingOf(path.join(bDir, 'overlay.qcow2')), guest.rawPath);
    assert.ok((await fs.stat(path.join(aDir, 'overlay.qcow2'))).size < 8 << 20, 'overlay, not a copy');

    // A fresh instance (a restarted daemon) reads the same records from libvirt.
    const fresh = await hvFor(stateDir);
    try {
      const seen = await fresh.hv.list(ctx(QEMU_URI));
      const aSeen = seen.find((v) => v.name === aName);
      assert.deepEqual(aSeen, await hv.get(aName, ctx(QEMU_URI)));
      assert.deepEqual(aSeen?.compose, { project: 'it', service: 'a', index: 1, hash: 'x' });
      assert.deepEqual(aSeen?.labels, { role: 'primary' });
      assert.equal(seen.find((v) => v.name === bName)?.ephemeral, true);
    } finally {
      await fresh.mgr.closeAll();
    }

    // Graceful stop: the guest handles the ACPI power button.
    const stopped = await hv.stop(aName, { force: false, timeoutSeconds: 120 }, ctx(QEMU_URI, 180_000));
    assert.equal(stopped.status, 'stopped');
    assert.deepEqual(stopped.networks[0].ipAddresses, []);
    const afterStop = await consoleOf(aName);
    assert.ok(afterStop.includes(GUEST_MARKERS.acpiPoweroff), `powered off by ACPI, not killed:\n${afterStop}`);

    const started = await hv.start(aName, ctx(QEMU_URI));
    assert.equal(started.status, 'running');
    assert.ok(started.startedAt! > a.startedAt!);
    const restarted = await hv.restart(aName, { force: true, timeoutSeconds: 0 }, ctx(QEMU_URI));
    assert.equal(restarted.status, 'running');
    assert.ok(restarted.startedAt! > started.startedAt!);

    // Hard-stop fallback: right after a start the guest cannot handle ACPI yet (still booting),
    // so after the 1 s timeout the VM is destroyed. The console log spans every boot (libvirt appends),
    // so only what was printed from here on counts.
    const mark = (await consoleOf(aName)).length;
    const hard = await hv.stop(aName, { force: false, timeoutSeconds: 1 }, ctx(QEMU_URI));
    assert.equal(hard.status, 'stopped');
    const afterHard = (await consoleOf(aName)).slice(mark);
    assert.ok(!afterHard.includes(GUEST_MARKERS.acpiPoweroff), `stopped hard, not by the guest:\n${afterHard}`);

    // Delete refuses a running VM, then removes everything; stopping the ephemeral one removes it.
    await assert.rejects(hv.delete(bName, { force: false }, ctx(QEMU_URI)), code('FAILED_PRECONDITION'));
    const bStopped = await hv.stop(bName, { force: true, timeoutSeconds: 0 }, ctx(QEMU_URI));
    assert.equal(bStopped.status, 'stopped');
    const client = mgr.get(QEMU_URI);
    await assert.rejects(client.domainLookupByName(bName), code('NOT_FOUND'));
    assert.deepEqual(await vmDirs(stateDir, QEMU_URI, bName), [], 'ephemeral overlay and seed are gone');

    await hv.delete(aName, { force: false }, ctx(QEMU_URI));
    await assert.rejects(client.domainLookupByName(aName), code('NOT_FOUND'));
    assert.deepEqual(await vmDirs(stateDir, QEMU_URI, aName), []);
    assert.equal(await sha256(guest.rawPath), baseHash, 'the base disk was never written');
  });

  test('20 concurrent runs of one name define exactly one domain', async () => {
    const name = n('race');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => hv.run(spec(name, guest.rawPath, { start: false }), ctx(QEMU_URI))));
    assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
    for (const x of results) if (x.status === 'rejected') assert.ok(code('ALREADY_EXISTS')(x.reason), String(x.reason));
    assert.equal((await vmDirs(stateDir, QEMU_URI, name)).length, 1);
    await hv.delete(name, { force: false }, ctx(QEMU_URI));
    assert.deepEqual(await vmDirs(stateDir, QEMU_URI, name), []);
  });

  test('a run cancelled after the domain started leaves nothing behind', async () => {
    const name = n('cancel');
    const ac = new AbortController();
    const phases: string[] = [];
    const c: CallContext = {
      ...ctx(QEMU_URI),
      signal: ac.signal,
      // Cancel once the domain runs and the run waits for its lease: the hardest point to undo.
      progress: (p) => {
        phases.push(p.phase);
        if (p.phase === 'ip') ac.abort();
      },
    };
    await assert.rejects(hv.run(spec(name, guest.rawPath, { waitForIp: true }), c), code('CANCELLED'));
    assert.deepEqual(phases, ['disk', 'seed', 'boot', 'ip']);
    await assert.rejects(mgr.get(QEMU_URI).domainLookupByName(name), code('NOT_FOUND'));
    assert.deepEqual(await vmDirs(stateDir, QEMU_URI, name), []);
  });
});
