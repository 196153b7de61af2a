// Getting into a VM through the daemon, on the fast busybox guest under TCG: the domain boots with
// the new devices (CPU model, rng, agent channel, pty console logged to a file), SSH keys are merged
// into the user's user-data (the guest prints what it got), GetVM, VMLogs (tail, follow) and
// AttachVMConsole work over gRPC, and keys appear in no event.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import YAML from 'yaml';
import libvirtPlugin from '../../../src/plugins/libvirt/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { GUEST_MARKERS, testGuest, type TestGuest } from '../../support/guest.js';
import { optedOut, requireService } from '../../support/services.js';
import { uniqueName } from '../../support/unique.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;
const URI = 'qemu:///system';
const BOOT_MS = 300_000;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZtcnRlc3RrZXlub3RyZWFsbHl1c2VkZm9yYW55dGhpbmc vmr-test';
const code = (c: number) => (err: unknown) => (err as { code?: number }).code === c;

async function* chunksOf(file: string): AsyncGenerator<Buffer> {
  for await (const b of createReadStream(file, { highWaterMark: 1 << 20 })) yield b as Buffer;
}

describe('GetVM, VMLogs, AttachVMConsole and key merging on a real guest', { skip: optedOut('libvirtd'), timeout: 900_000 }, () => {
  let d: TestDaemon;
  let guest: TestGuest;
  const name = uniqueName('vmr-access');
  const token = uniqueName('token');

  before(async () => {
    await requireService('libvirtd');
    guest = await testGuest();
    d = await startTestDaemon({ plugins: [libvirtPlugin], pluginConfig: { libvirt: { uri: URI, domainType: 'qemu' } } });
    const doc = YAML.parse(await fs.readFile(guest.vmfilePath, 'utf8'));
    const diskFile = path.resolve(path.dirname(guest.vmfilePath), doc.spec.disk.path);
    const vmfile = {
      apiVersion: doc.api_version, kind: doc.kind,
      metadata: { name: doc.metadata.name, labels: doc.metadata.labels ?? {} },
      spec: { disk: doc.spec.disk, resources: { memoryMb: 256, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } },
    };
    const totalSize = (await fs.stat(diskFile)).size;
    const messages = async function* () {
      yield { header: { vmfile, reference: `${name}-img:1`, totalSize: String(totalSize) } };
      for await (const c of chunksOf(diskFile)) yield { chunk: c };
    };
    await d.client.clientStream('ImportImageStream', messages(), { deadlineMs: 300_000 });
  });

  after(async () => {
    await d?.client.call('DeleteVM', { vm: name, force: true }).catch(() => undefined);
    await d?.stop();
  });

  const logText = async (req: Msg = {}) =>
    Buffer.concat((await d.client.stream('VMLogs', { vm: name, ...req }, { deadlineMs: 30_000 })).map((m) => Buffer.from(m.data))).toString('utf8');

  test('run with keys → logs show the merged user-data → inspect → follow + console through a graceful stop', async () => {
    const run = await d.client.call('RunVM', {
      image: `${name}-img:1`, name,
      options: { cloudInit: { userData: `#cloud-config\n# ${token}\nruncmd: [echo hi]\n` }, sshAuthorizedKeys: [KEY], waitForIp: true },
    }, { deadlineMs: BOOT_MS });
    assert.equal(run.status, 'running');

    let text = '';
    for (const until = Date.now() + BOOT_MS; !text.includes(GUEST_MARKERS.ready);) {
      if (Date.now() > until) assert.fail(`the guest never got ready; console:\n${text}`);
      await delay(1000);
      text = await logText();
    }
    // The user's user-data is kept (comment, runcmd) and the key is added to it, in one #cloud-config.
    const userData = text.slice(text.indexOf(GUEST_MARKERS.userDataBegin), text.indexOf(GUEST_MARKERS.userDataEnd));
    assert.match(userData, /#cloud-config/);
    assert.ok(userData.includes(token), `the user's user-data survives:\n${userData}`);
    assert.ok(userData.includes('runcmd'), userData);
    assert.ok(userData.includes(KEY), `the key was merged in:\n${userData}`);

    const tail = await logText({ tailLines: 1 });
    assert.equal(tail.trim().split('\n').length, 1, `one line: ${JSON.stringify(tail)}`);
    assert.ok(text.trimEnd().endsWith(tail.trim()), 'the last line of the log');

    const ipLine = text.split('\n').find((l) => l.startsWith(GUEST_MARKERS.ipPrefix))!;
    const ip = ipLine.slice(GUEST_MARKERS.ipPrefix.length).trim();
    const info = await d.client.call('GetVM', { vm: name });
    assert.equal(info.vm.name, name);
    assert.equal(info.vm.status, 'running');
    assert.deepEqual(info.networks[0].ipAddresses, [ip]);
    assert.match(info.networks[0].mac, /^52:54:00:/);
    assert.equal(info.libvirtUri, URI);
    assert.equal(info.domainType, 'qemu');
    assert.equal(info.defaultUser, 'root', 'neither debian nor ubuntu in the image name');
    assert.deepEqual(info.cloudInit, { userDataKind: 'cloud-config', userDataBytes: info.cloudInit.userDataBytes, sshAuthorizedKeys: 1, metaData: false, networkConfig: false });
    assert.ok(info.started);
    const disk = info.disks.find((x: Msg) => x.device === 'disk');
    assert.equal(disk.format, 'qcow2');
    await fs.access(disk.path);
    assert.ok(info.consoleLog.endsWith('console.log'));
    assert.ok(!JSON.stringify(info).includes('AAAAC3Nza'), 'inspect tells how many keys, never the keys');
    await assert.rejects(d.client.call('GetVM', { vm: `${name}-nope` }), code(grpc.status.NOT_FOUND));

    // Follow the log and attach the console, then press the power button: both see the guest's
    // last words, and both end once the VM is off.
    const followed: Buffer[] = [];
    const follow = d.client.stream('VMLogs', { vm: name, follow: true, tailLines: 1 }, { onMessage: (m) => followed.push(Buffer.from(m.data)) });
    const consoleOut: Buffer[] = [];
    const call = (d.client.raw.AttachVMConsole as (m: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>).call(d.client.raw, new grpc.Metadata());
    const consoleDone = new Promise<void>((resolve, reject) => {
      call.on('data', (m: Msg) => consoleOut.push(Buffer.from(m.data)));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    call.write({ vm: name, data: Buffer.from('\r') });
    await delay(1000);
    await d.client.call('StopVM', { vm: name, timeoutSeconds: 120 }, { deadlineMs: 180_000 });
    await Promise.race([consoleDone, delay(30_000).then(() => assert.fail('the console stream did not end with the VM'))]);
    assert.match(Buffer.concat(consoleOut).toString(), new RegExp(GUEST_MARKERS.acpiPoweroff));
    await Promise.race([follow, delay(30_000).then(() => assert.fail('following did not end with the VM'))]);
    assert.match(Buffer.concat(followed).toString(), new RegExp(GUEST_MARKERS.acpiPoweroff));

    // A stopped VM: no console, a message that says to start it; the log is still there.
    const stopped = (d.client.raw.AttachVMConsole as (m: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>).call(d.client.raw, new grpc.Metadata());
    const refused = new Promise<grpc.ServiceError>((resolve) => {
      stopped.on('data', () => undefined);
      stopped.on('error', resolve);
    });
    stopped.write({ vm: name });
    const err = await refused;
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /start/);
    assert.ok((await logText()).includes(GUEST_MARKERS.acpiPoweroff));

    const events: Msg[] = [];
    await d.client.stream('Events', {}, { signal: AbortSignal.timeout(1000), onMessage: (m) => events.push(m) }).catch(() => undefined);
    assert.ok(events.some((e) => e.type === 'vm' && e.name === name), 'the replayed events include the run');
    assert.ok(!JSON.stringify(events).includes('AAAAC3Nza'), 'no key in any event');
  });
});
