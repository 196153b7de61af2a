// The proof that the Debian 12 test image (test/support/debianGuest.ts) is a working cloud image:
// booted under libvirt (qemu:///system, TCG) on an overlay with a NoCloud seed and no vmregistry code
// involved, its own cloud-init applies the user-data (key for the default user, runcmd), sshd accepts
// the key, growpart fills a larger disk, and qemu-guest-agent answers on org.qemu.guest_agent.0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { DEBIAN_GUEST, debianGuestImage } from '../../support/debianGuest.js';
import { requireService } from '../../support/services.js';
import { uniqueName } from '../../support/unique.js';
import { xorriso } from '../../support/xorriso.js';

const pexec = promisify(execFile);
const URI = 'qemu:///system';
const virsh = async (...args: string[]): Promise<string> => (await pexec('virsh', ['-c', URI, ...args])).stdout;
const OVERLAY_BYTES = 3 * 1024 ** 3;

/** Polls `probe` until it returns a value, or fails with `what` (and `detail()`) after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>,
  detail: () => Promise<string> = async () => ''): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${await detail()}`);
    await delay(2000);
  }
}

/** The parts of the domain that matter here: virtio root disk (SATA livelocks under multi-threaded TCG). */
function domainXml(o: { name: string; overlay: string; seed: string; console: string }): string {
  return `<domain type='qemu'>
  <name>${o.name}</name>
  <memory unit='MiB'>${DEBIAN_GUEST.memoryMb}</memory>
  <vcpu>${DEBIAN_GUEST.vcpuCount}</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='maximum'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${o.overlay}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${o.seed}'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
    <serial type='file'><source path='${o.console}'/><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
`;
}

describe('Debian 12 test image boots under libvirt with its own cloud-init, sshd and guest agent', { timeout: DEBIAN_GUEST.buildMs + 2 * DEBIAN_GUEST.sshReadyMs }, () => {
  let image: string;

  before(async () => {
    await requireService('libvirtd');
    image = await debianGuestImage();
  });

  it('takes the NoCloud key and runcmd, accepts SSH as the default user, grows its disk, answers guest-ping', { timeout: 2 * DEBIAN_GUEST.sshReadyMs }, async (t) => {
    const name = uniqueName('vmr-debian');
    // libvirt-qemu must reach the overlay, seed and console: the directory is world-searchable.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-debian-'));
    let started = false;
    try {
      await fs.chmod(dir, 0o755);
      const key = path.join(dir, 'id_ed25519');
      await pexec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
      const pub = (await fs.readFile(`${key}.pub`, 'utf8')).trim();
      const token = randomBytes(8).toString('hex');

      const seedDir = path.join(dir, 'seed');
      await fs.mkdir(seedDir);
      await fs.writeFile(path.join(seedDir, 'user-data'), [
        '#cloud-config',
        'ssh_authorized_keys:',
        `  - ${pub}`,
        'runcmd:',
        `  - [ sh, -c, "echo ${token} > /var/tmp/vmr-runcmd-marker" ]`,
        '',
      ].join('\n'));
      await fs.writeFile(path.join(seedDir, 'meta-data'), `instance-id: ${name}\nlocal-hostname: ${name}\n`);
      const seed = path.join(dir, 'seed.iso');
      await xorriso(['-as', 'mkisofs', '-quiet', '-V', 'cidata', '-J', '-r', '-o', seed, seedDir]);

      // A private base, as the image store keeps one: libvirt relabels a backing file for QEMU while the
      // domain runs, and the machine-wide cached image must not change owner under other test processes.
      const base = path.join(dir, 'base.qcow2');
      await fs.copyFile(image, base, fs.constants.COPYFILE_FICLONE);
      const overlay = path.join(dir, 'disk.qcow2');
      await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay, String(OVERLAY_BYTES)]);
      const consoleLog = path.join(dir, 'console.log');
      const xmlPath = path.join(dir, 'domain.xml');
      await fs.writeFile(xmlPath, domainXml({ name, overlay, seed, console: consoleLog }));

      const t0 = Date.now();
      await virsh('create', xmlPath); // transient: destroying it is the whole cleanup
      started = true;
      const consoleTail = async () =>
        `; console tail:\n${(await fs.readFile(consoleLog, 'utf8').catch(() => '')).split('\n').slice(-25).join('\n')}`;

      const mac = /([0-9a-f]{2}(:[0-9a-f]{2}){5})/.exec(await virsh('domiflist', name))?.[1];
      assert.ok(mac, 'the domain has a MAC on the default network');
      const ip = await waitFor('a DHCP lease on the default network', DEBIAN_GUEST.sshReadyMs, async () => {
        const leases = await virsh('net-dhcp-leases', 'default', '--mac', mac).catch(() => '');
        return /ipv4\s+(\d+\.\d+\.\d+\.\d+)\//.exec(leases)?.[1];
      }, consoleTail);
      const tLease = Date.now();

      const ssh = (...cmd: string[]) => pexec('ssh', ['-i', key, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10',
        `${DEBIAN_GUEST.defaultUser}@${ip}`, '--', ...cmd], { timeout: DEBIAN_GUEST.sshReadyMs });
      await waitFor(`sshd on ${ip} to accept the key for ${DEBIAN_GUEST.defaultUser}`, DEBIAN_GUEST.sshReadyMs - (tLease - t0),
        () => ssh('true').then(() => true, () => undefined), consoleTail);
      const tSsh = Date.now();

      const status = await ssh('cloud-init', 'status', '--wait');
      assert.match(status.stdout, /status: done/, `cloud-init finished without errors: ${status.stdout}`);
      assert.equal((await ssh('cat', '/var/tmp/vmr-runcmd-marker')).stdout.trim(), token, 'runcmd from the user-data ran');
      assert.equal((await ssh('sudo', '-n', 'id', '-u')).stdout.trim(), '0', 'the default user has passwordless sudo');
      assert.equal((await ssh('hostname')).stdout.trim(), name, 'the hostname comes from the seed meta-data');
      const rootBytes = Number((await ssh('df', '-B1', '--output=size', '/')).stdout.trim().split('\n').pop());
      assert.ok(rootBytes > DEBIAN_GUEST.diskBytes, `growpart grew / to fill the ${OVERLAY_BYTES}-byte disk (${rootBytes})`);

      const ping = await waitFor('qemu-guest-agent to answer guest-ping', 60_000,
        () => virsh('qemu-agent-command', name, '{"execute":"guest-ping"}').catch(() => undefined));
      assert.deepEqual(JSON.parse(ping), { return: {} });
      const ifaces = JSON.parse(await virsh('qemu-agent-command', name, '{"execute":"guest-network-get-interfaces"}')) as
        { return: { 'hardware-address'?: string; 'ip-addresses'?: { 'ip-address': string }[] }[] };
      const nic = ifaces.return.find((i) => i['hardware-address'] === mac);
      assert.ok(nic?.['ip-addresses']?.some((a) => a['ip-address'] === ip), 'the agent reports the leased IP on the NIC');

      assert.match(await fs.readFile(consoleLog, 'utf8'), /cloud-init/, 'the serial console log carries cloud-init output');
      t.diagnostic(`lease after ${(tLease - t0) / 1000} s, ssh after ${(tSsh - t0) / 1000} s, cloud-init done after ${(Date.now() - t0) / 1000} s`);
    } finally {
      if (started) await virsh('destroy', name).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
