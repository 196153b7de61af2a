// The whole real stack through one daemon over gRPC: the real image store, the libvirt plugin on
// qemu:///system (TCG), registry-oci against Debian's docker-registry, and compose loaded beside them.
// import (streamed) → push → delete + GC → RunVM pulls it back and boots it with cloud-init → the
// daemon restarts on the same data dir and still knows the VM → stop / start / delete. Two guest boots.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import YAML from 'yaml';
import composePlugin from '../../../src/plugins/compose/index.js';
import libvirtPlugin from '../../../src/plugins/libvirt/index.js';
import registryOciPlugin from '../../../src/plugins/registry-oci/index.js';
import { startTestDaemon, type TestDaemon, type TestDaemonOptions } from '../../../src/testing/startTestDaemon.js';
import { GUEST_MARKERS, testGuest, type TestGuest } from '../../support/guest.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { requireService } from '../../support/services.js';
import { RUN_ID } from '../../support/unique.js';

const pexec = promisify(execFile);
const URI = 'qemu:///system';
const PREFIX = 'vmre2e-';
const CHUNK = 1 << 20;
// TCG boots on a loaded 2-core machine: be generous, but bounded.
const BOOT_MS = 300_000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;

const virsh = async (...args: string[]): Promise<string> => (await pexec('virsh', ['-c', URI, ...args])).stdout;
const grpcCode = (code: number) => (err: unknown) => (err as { code?: number }).code === code;

/** The VMFile YAML (snake_case) as the wire message the proto loader expects (camelCase). */
function vmfileToWire(doc: Msg): Msg {
  const m = doc.metadata ?? {};
  const s = doc.spec ?? {};
  return {
    apiVersion: doc.api_version, kind: doc.kind,
    metadata: { name: m.name, description: m.description ?? '', author: m.author ?? '', source: m.source ?? '', labels: m.labels ?? {} },
    spec: {
      disk: { path: s.disk.path, format: s.disk.format },
      resources: { memoryMb: s.resources?.memory_mb ?? 0, vcpuCount: s.resources?.vcpu_count ?? 0, diskSizeGb: s.resources?.disk_size_gb ?? 0 },
      os: { architecture: s.os?.architecture ?? '', firmware: s.os?.firmware ?? '' },
    },
  };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(file)) h.update(b as Buffer);
  return h.digest('hex');
}

/** Reads `file` in 1 MiB pieces, however the stream happens to cut it. */
async function* chunksOf(file: string): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const b of createReadStream(file, { highWaterMark: CHUNK })) {
    pending = pending.length ? Buffer.concat([pending, b as Buffer]) : (b as Buffer);
    while (pending.length >= CHUNK) {
      yield pending.subarray(0, CHUNK);
      pending = pending.subarray(CHUNK);
    }
  }
  if (pending.length) yield pending;
}

/** Polls `probe` until it returns a value, or fails with `what` after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(500);
  }
}

/** Paths libvirt really uses for the domain: the serial console file and the disk sources. */
async function domainFiles(name: string): Promise<{ console: string; disks: string[] }> {
  const xml = await virsh('dumpxml', name);
  // The console is a pty whose output libvirt also appends to a log file.
  const serial = /<serial type=['"]pty['"]>[\s\S]*?<log file=['"]([^'"]+)['"]/.exec(xml);
  assert.ok(serial, `the domain XML of ${name} has a serial console logged to a file`);
  const disks = [...xml.matchAll(/<disk[^>]*>[\s\S]*?<source file=['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return { console: serial[1]!, disks };
}

const exists = (p: string) => fs.access(p).then(() => true, () => false);

describe('the real stack over gRPC: import, push, pull-on-run, boot, restart, lifecycle', { timeout: 1_200_000 }, () => {
  // `<prefix><pid>-<run>`: the pid lets a later run sweep what a dead run left; the run id keeps it unique.
  const name = `${PREFIX}${process.pid}-${RUN_ID}`;
  const token = randomBytes(12).toString('hex');
  let guest: TestGuest;
  let reg: TestRegistry;
  let d: TestDaemon | undefined;
  let daemonOpts: TestDaemonOptions;
  const dataDirs: string[] = [];

  before(async () => {
    await requireService('libvirtd');
    guest = await testGuest();
    reg = await startRegistry();
    daemonOpts = {
      plugins: [libvirtPlugin, registryOciPlugin, composePlugin],
      pluginConfig: {
        libvirt: { uri: URI, domainType: 'qemu' },
        'registry-oci': { concurrency: 2, chunkSize: 4 << 20 },
        compose: { parallelism: 1, stopTimeoutSeconds: 30 },
      },
    };
    d = await startTestDaemon(daemonOpts);
    dataDirs.push(d.dataDir);
    await d.client.call('ContextCreate', {
      context: { name: 'e2e', registryUrl: reg.host, insecureRegistry: true, libvirtUri: URI },
      use: true,
    });
  });

  after(async () => {
    // Whatever a failed step left behind: our domains by name prefix, the daemon, the registry, the data dirs.
    // Another test file may be restarting libvirtd right now: wait (bounded) until it answers again.
    const listed = await waitFor('libvirtd to list domains for cleanup', 90_000,
      () => virsh('list', '--all', '--name').catch(() => undefined)).catch(() => '');
    const names = listed.split('\n').map((s) => s.trim());
    // Ours, and those of earlier runs that died; never another live run's (worktrees share libvirtd).
    const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    const stale = (n: string) => {
      const pid = Number(n.slice(PREFIX.length).split('-')[0]);
      return n.startsWith(PREFIX) && Number.isInteger(pid) && pid > 0 && !alive(pid);
    };
    const ours = (n: string) => n === name || stale(n);
    for (const n of names.filter(ours)) {
      await virsh('destroy', n).catch(() => undefined);
      await virsh('undefine', n, '--nvram').catch(() => virsh('undefine', n).catch(() => undefined));
    }
    await d?.stop().catch(() => undefined);
    await reg?.stop();
    // startTestDaemon's temp dir is the data dir's parent (socket beside it).
    for (const dir of dataDirs) await fs.rm(path.dirname(dir), { recursive: true, force: true });
  });

  const client = () => d!.client;

  it('loads all three plugins healthy', async () => {
    const health = await client().call('HealthCheck', {});
    const byPlugin = new Map<string, Msg>(health.components.map((c: Msg) => [c.plugin, c]));
    for (const p of ['libvirt', 'registry-oci']) {
      assert.equal(byPlugin.get(p)?.status, 'SERVING', `${p}: ${JSON.stringify(byPlugin.get(p))}`);
    }
    assert.equal((await client().call('ContextCurrent', {})).context.registryUrl, reg.host);
    // compose answers through the same daemon (its project is never brought up: two boots are the budget).
    const v = await client().call('ComposeValidate', {
      content: 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: e2e\nservices:\n  g: { image: "e2e/guest:1" }\n', baseDir: '/',
    });
    assert.equal(v.valid, true, JSON.stringify(v.errors));
    assert.deepEqual(v.services, ['g']);
  });

  let imported: Msg;
  it('imports the guest through ImportImageStream and lists and inspects it', async () => {
    const doc = YAML.parse(await fs.readFile(guest.vmfilePath, 'utf8'));
    const vmfile = vmfileToWire(doc);
    const diskFile = path.resolve(path.dirname(guest.vmfilePath), doc.spec.disk.path);
    const totalSize = (await fs.stat(diskFile)).size;
    const sha256 = await sha256File(diskFile);
    let chunks = 0;
    const messages = async function* () {
      yield { header: { vmfile, reference: 'vmr-e2e-guest:1', totalSize: String(totalSize), sha256 } };
      for await (const c of chunksOf(diskFile)) {
        chunks++;
        yield { chunk: c };
      }
    };
    imported = await client().clientStream('ImportImageStream', messages(), { deadlineMs: 300_000 });
    assert.match(imported.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(chunks, Math.ceil(totalSize / CHUNK));

    const list = await client().call('ListLocalImages');
    const info = list.images.find((i: Msg) => i.digest === imported.digest);
    assert.ok(info, `ListLocalImages shows the import: ${JSON.stringify(list.images)}`);
    assert.match(info.reference, /vmr-e2e-guest:1$/);
    assert.equal(info.name, 'vmr-test-guest');
    assert.equal(info.diskFormat, doc.spec.disk.format);
    assert.equal(info.architecture, 'x86_64');
    assert.equal(Number(info.diskSize), guest.diskSize, 'the virtual size of the guest disk');
    assert.equal(info.labels.purpose, 'test');

    const m = await client().call('GetImageManifest', { reference: 'vmr-e2e-guest:1' });
    assert.equal(m.digest, imported.digest);
    const manifest = JSON.parse(m.manifestJson);
    assert.equal(manifest.artifactType, 'application/vnd.vmregistry.vm.v1');
    assert.ok(manifest.layers.length >= 1, 'the disk is in the layers');
    const config = JSON.parse(m.configJson);
    assert.equal(JSON.stringify(config).includes('vmr-test-guest'), true, 'the config carries the VMFile');
  });

  let pushed: Msg;
  it('pushes to the registry with progress, then deletes locally and collects the garbage', async () => {
    const events = await client().stream('PushImageWithProgress', { reference: 'vmr-e2e-guest:1', destination: 'e2e/guest:1' }, { deadlineMs: 300_000 });
    assert.ok(events.some((e: Msg) => e.progress), 'progress events before the result');
    pushed = events.at(-1)!.push;
    assert.ok(pushed, `the stream ends with the push result: ${JSON.stringify(events.at(-1))}`);
    assert.equal(pushed.reference, `${reg.host}/e2e/guest:1`);
    assert.equal(pushed.digest, imported.digest, 'the registry holds the very manifest we imported');
    assert.ok(Number(pushed.transferred) > 0);

    // The registry really has it, independent of our client.
    const res = await fetch(`${reg.url}/v2/e2e/guest/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), pushed.digest);

    const del = await client().call('DeleteImage', { reference: 'vmr-e2e-guest:1' });
    assert.equal(del.untagged.length, 1);
    const gc = await client().call('GarbageCollect', {});
    assert.ok(gc.removedBlobs.length > 0 && Number(gc.freedBytes) > 0, `GC freed the image's blobs: ${JSON.stringify(gc)}`);
    assert.deepEqual((await client().call('ListLocalImages')).images, []);
  });

  let ip: string;
  let vmId: string;
  let files: { console: string; disks: string[] };
  let created: string;
  let pulledRef: string;
  it('RunVM pulls the image, boots it with cloud-init and waits for its address', async () => {
    const run = await client().call('RunVM', {
      image: 'e2e/guest:1', name,
      options: {
        cloudInit: { userData: `#cloud-config\n# e2e token ${token}\nhostname: ${name}\n` },
        waitForIp: true, networkName: 'default', activateNetwork: true, memoryMb: 256,
      },
    }, { deadlineMs: BOOT_MS });
    assert.equal(run.status, 'running');
    assert.equal(run.name, name);
    assert.equal(run.ipAddresses.length, 1, `one address: ${JSON.stringify(run)}`);
    ip = run.ipAddresses[0];
    vmId = run.vmId;
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);

    const local = (await client().call('ListLocalImages')).images.find((i: Msg) => i.digest === pushed.digest);
    assert.ok(local, 'RunVM pulled the image into the local store');
    // registry-oci stores a pull under the reference as written (see its README), resolved against the context's registry.
    pulledRef = local.reference;
    assert.match(pulledRef, /(^|\/)e2e\/guest:1$/);

    // The guest prints its seed and then its lease; the lease can land in dnsmasq before the print.
    files = await domainFiles(name);
    for (const f of [files.console, ...files.disks]) assert.equal(await exists(f), true, `${f} exists while the VM runs`);
    const log = await waitFor(`"${GUEST_MARKERS.ipPrefix}${ip}" on ${files.console}`, 120_000, async () => {
      const text = await fs.readFile(files.console, 'utf8').catch(() => '');
      return text.includes(`${GUEST_MARKERS.ipPrefix}${ip}`) && text.includes(GUEST_MARKERS.ready) ? text : undefined;
    });
    assert.ok(log.includes(GUEST_MARKERS.userDataBegin) && log.includes(GUEST_MARKERS.userDataEnd), 'the guest found its seed');
    const seed = log.slice(log.indexOf(GUEST_MARKERS.userDataBegin), log.indexOf(GUEST_MARKERS.userDataEnd));
    assert.ok(seed.includes(token), 'the guest read our user-data from its cloud-init seed');

    const ps = (await client().call('PsVMs')).vms.find((v: Msg) => v.name === name);
    assert.ok(ps, 'PsVMs shows the running VM');
    assert.equal(ps.status, 'running');
    assert.notEqual(ps.uptime, '');
    assert.equal(ps.networks.length, 1);
    assert.equal(ps.networks[0].name, 'default');
    assert.deepEqual(ps.networks[0].ipAddresses, [ip]);
    assert.match(ps.networks[0].mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
    const xml = await virsh('dumpxml', name);
    assert.ok(xml.includes(`<mac address='${ps.networks[0].mac}'/>`), 'the MAC is the domain\'s');

    const info = (await client().call('ListVMs')).vms.find((v: Msg) => v.name === name);
    assert.ok(info);
    assert.equal(info.vmId, vmId);
    assert.equal(info.image, pulledRef);
    assert.equal(info.imageDigest, pushed.digest);
    assert.ok(!Number.isNaN(Date.parse(info.created)), `created is a time: ${info.created}`);
    created = info.created;
  });

  it('a daemon restarted on the same data dir knows the VM', async () => {
    const dataDir = d!.dataDir;
    await d!.stop({ keepData: true });
    d = undefined;
    assert.match(await virsh('domstate', name), /running/, 'stopping the daemon leaves the VM running');
    d = await startTestDaemon({ ...daemonOpts, dataDir });
    const info = (await client().call('ListVMs')).vms.find((v: Msg) => v.name === name);
    assert.ok(info, 'the new daemon lists the VM');
    assert.equal(info.vmId, vmId);
    assert.equal(info.status, 'running');
    assert.equal(info.image, pulledRef);
    assert.equal(info.imageDigest, pushed.digest);
    assert.equal(info.created, created);
    assert.equal((await client().call('ContextCurrent', {})).context.name, 'e2e', 'the current context survived too');
    const ps = (await client().call('PsVMs')).vms.find((v: Msg) => v.name === name);
    assert.deepEqual(ps?.networks.map((n: Msg) => n.ipAddresses), [[ip]], 'and finds its address in the leases');
  });

  it('stops gracefully, starts again, refuses a plain delete while running, and deletes with force', async () => {
    const stopped = await client().call('StopVM', { vm: name, force: false, timeoutSeconds: 120 }, { deadlineMs: 180_000 });
    assert.equal(stopped.status, 'stopped');
    assert.ok((await fs.readFile(files.console, 'utf8')).includes(GUEST_MARKERS.acpiPoweroff), 'the guest saw the ACPI power button');
    assert.equal((await client().call('ListVMs')).vms.find((v: Msg) => v.name === name)?.status, 'stopped');
    assert.ok(!(await client().call('PsVMs')).vms.some((v: Msg) => v.name === name), 'PsVMs shows running VMs only');

    const started = await client().call('StartVM', { vm: name }, { deadlineMs: 120_000 });
    assert.equal(started.status, 'running');
    assert.equal(started.vmId, vmId);
    assert.match(await virsh('domstate', name), /running/);
    const ps = (await client().call('PsVMs')).vms.find((v: Msg) => v.name === name);
    assert.equal(ps?.status, 'running', 'PsVMs lists it again');
    assert.notEqual(ps.uptime, '');

    await assert.rejects(client().call('DeleteVM', { vm: name }), grpcCode(status.FAILED_PRECONDITION));
    assert.match(await virsh('domstate', name), /running/, 'a refused delete leaves the VM alone');

    await client().call('DeleteVM', { vm: name, force: true }, { deadlineMs: 120_000 });
    assert.ok(!(await client().call('ListVMs')).vms.some((v: Msg) => v.name === name), 'gone from ListVMs');
    assert.ok(!(await virsh('list', '--all', '--name')).split('\n').map((s) => s.trim()).includes(name), 'gone from virsh list --all');
    const vmDir = path.dirname(files.console);
    for (const f of [files.console, ...files.disks.filter((p) => p.startsWith(vmDir)), vmDir]) {
      assert.equal(await exists(f), false, `${f} removed`);
    }
    assert.ok(files.disks.some((p) => p.endsWith('overlay.qcow2')) && files.disks.some((p) => p.endsWith('seed.iso')),
      `the VM had its own overlay and seed: ${files.disks.join(', ')}`);
    await assert.rejects(client().call('StartVM', { vm: name }), grpcCode(status.NOT_FOUND));
  });
});
