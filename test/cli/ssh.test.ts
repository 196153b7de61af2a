// The CLI's side of issue 14 against a fake daemon: which key `vmr run` sends (and --no-ssh-key),
// compose up sends it too, `vmr ssh`/`exec` build the right ssh command line (a stand-in ssh
// records it) and fail clearly, `vmr inspect` tells VMs from images, `vmr logs` prints the log,
// `vmr import` of a bare disk makes the VMFile.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startFakeDaemon, status, canned, type FakeDaemon } from './support/fakeServer.js';
import { vmr } from './support/runVmr.js';

const pexec = promisify(execFile);
const VM_ID = canned.vms[0].vmId;
let fake: FakeDaemon;
let tmp: string;
let sshd: net.Server;
let sshdPort: number;

const detail = (over: Record<string, unknown> = {}) => ({
  vm: { ...canned.vms[0], ...over }, started: new Date().toISOString(),
  networks: [{ name: 'default', mac: '52:54:00:00:00:01', interfaceType: 'network', ipAddresses: ['127.0.0.1'] }],
  disks: [{ target: 'vda', device: 'disk', path: '/var/lib/x/overlay.qcow2', format: 'qcow2', backingPath: '' }],
  libvirtUri: 'qemu:///system', defaultUser: 'debian', composeIndex: 0, consoleLog: '/var/lib/x/console.log', domainType: 'qemu',
  cloudInit: { userDataKind: 'cloud-config', userDataBytes: 120, sshAuthorizedKeys: 1, metaData: false, networkConfig: false },
});

before(async () => {
  fake = await startFakeDaemon();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-ssh-cli-'));
  // Something on a port that greets like sshd, so the CLI's wait for the SSH server ends.
  sshd = net.createServer((s) => s.end('SSH-2.0-OpenSSH_fake\r\n'));
  await new Promise<void>((r) => sshd.listen(0, '127.0.0.1', () => r()));
  sshdPort = (sshd.address() as net.AddressInfo).port;
  fake.handlers.GetVM = (req: { vm: string }) => {
    if (req.vm === 'web') return detail();
    if (req.vm === 'db') return { ...detail({ name: 'db', status: 'stopped' }), networks: [] };
    if (req.vm === 'noip') return { ...detail({ name: 'noip' }), networks: [] };
    throw status(grpc.status.NOT_FOUND, `no VM "${req.vm}" (vmregistry lists only the VMs it created)`);
  };
  fake.handlers.VMLogs = (req: { tailLines: number }, call: grpc.ServerWritableStream<any, any>) => {
    call.write({ data: Buffer.from(req.tailLines ? 'line 9\nline 10\n' : 'boot\ncloud-init: done\n') });
    call.end();
  };
});

after(async () => {
  sshd?.close();
  await fake?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

async function home(keys: Record<string, string> = {}): Promise<string> {
  const h = await fs.mkdtemp(path.join(tmp, 'home-'));
  await fs.mkdir(path.join(h, '.ssh'));
  for (const [name, pub] of Object.entries(keys)) {
    await fs.writeFile(path.join(h, '.ssh', name), 'private', { mode: 0o600 });
    await fs.writeFile(path.join(h, '.ssh', `${name}.pub`), `${pub}\n`);
  }
  return h;
}

const run = (args: string[], env: Record<string, string | undefined> = {}) => vmr(['--host', fake.target, ...args], { env });

describe('keys by default', () => {
  test('the user\'s key in order ed25519, ecdsa, rsa; else one vmr makes once (0600); --no-ssh-key sends none', async () => {
    const ecdsa = 'ecdsa-sha2-nistp256 AAAAE2VjZHNh mine';
    const h1 = await home({ id_rsa: 'ssh-rsa AAAAB3Nza rsa', id_ecdsa: ecdsa });
    assert.equal((await run(['run', 'alpine:3.20'], { HOME: h1 })).code, 0);
    assert.deepEqual(fake.last('RunVM').options.sshAuthorizedKeys, [ecdsa]);

    const h2 = await home();
    const first = await run(['run', '--cloud-init-user-data', '/dev/null', 'alpine:3.20'], { HOME: h2 });
    assert.equal(first.code, 0, first.stderr);
    const own = path.join(h2, '.config/vmregistry/ssh/id_ed25519');
    assert.equal((await fs.stat(own)).mode & 0o777, 0o600);
    assert.equal((await fs.stat(path.dirname(own))).mode & 0o777, 0o700);
    const pub = (await fs.readFile(`${own}.pub`, 'utf8')).trim();
    assert.deepEqual(fake.last('RunVM').options.sshAuthorizedKeys, [pub]);
    await run(['run', 'alpine:3.20'], { HOME: h2 });
    assert.deepEqual(fake.last('RunVM').options.sshAuthorizedKeys, [pub], 'made once, then reused');
    assert.deepEqual(await fs.readdir(path.join(h2, '.ssh')), [], 'the user\'s ~/.ssh is left alone');

    await run(['run', '--no-ssh-key', 'alpine:3.20'], { HOME: h2 });
    assert.deepEqual(fake.last('RunVM').options.sshAuthorizedKeys, []);
    assert.ok(!first.stderr.includes(pub) && !first.stdout.includes(pub), 'the key is not printed');
  });

  test('compose up sends the key too', async () => {
    const h = await home({ id_ed25519: 'ssh-ed25519 AAAAC3Nza compose' });
    const dir = await fs.mkdtemp(path.join(tmp, 'compose-'));
    await fs.writeFile(path.join(dir, 'vmcompose.yaml'), 'name: stack\nservices:\n  web:\n    image: alpine:3.20\n');
    const r = await vmr(['--host', fake.target, 'compose', 'up'], { env: { HOME: h }, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.last('ComposeUp').sshAuthorizedKeys, ['ssh-ed25519 AAAAC3Nza compose']);
  });
});

describe('vmr ssh / exec', () => {
  test('exec runs ssh with the key, the default user, a per-VM known_hosts and the quoted command; its exit code is ours', async () => {
    const h = await home({ id_ed25519: 'ssh-ed25519 AAAAC3Nza me' });
    const log = path.join(tmp, 'ssh-args.json');
    const fakeSsh = path.join(tmp, 'fake-ssh');
    await fs.writeFile(fakeSsh, `#!/usr/bin/env node\nif (process.argv[2] === '-V') process.exit(0);\nrequire('fs').writeFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)));\nprocess.exit(7);\n`, { mode: 0o755 });
    const r = await run(['exec', 'web', '--', 'sh', '-c', 'exit 7'], { HOME: h, VMR_SSH: fakeSsh, VMR_SSH_PORT: String(sshdPort) });
    assert.equal(r.code, 7, r.stderr);
    const args = JSON.parse(await fs.readFile(log, 'utf8')) as string[];
    const opt = (name: string) => args[args.indexOf(`-o`, args.findIndex((a) => a.startsWith(`${name}=`)) - 1) + 1];
    assert.equal(opt('StrictHostKeyChecking'), 'StrictHostKeyChecking=accept-new');
    assert.equal(opt('UserKnownHostsFile'), `UserKnownHostsFile=${path.join(h, '.config/vmregistry/known_hosts.d', VM_ID)}`);
    assert.equal(opt('HostKeyAlias'), `HostKeyAlias=vmr-${VM_ID}`);
    assert.ok(args.includes('BatchMode=yes') && args.includes('-T'), 'exec: no terminal, never a prompt');
    assert.deepEqual(args.slice(args.indexOf('-i'), args.indexOf('-i') + 2), ['-i', path.join(h, '.ssh/id_ed25519')]);
    assert.deepEqual(args.slice(-3), ['debian@127.0.0.1', '--', "sh -c 'exit 7'"]);
    assert.ok(args.includes(String(sshdPort)));

    const asRoot = await run(['ssh', '-u', 'root', 'web', '--', 'true'], { HOME: h, VMR_SSH: fakeSsh, VMR_SSH_PORT: String(sshdPort) });
    assert.equal(asRoot.code, 7);
    assert.ok((JSON.parse(await fs.readFile(log, 'utf8')) as string[]).includes('root@127.0.0.1'));
  });

  test('unknown VM, stopped VM, no address in time, no ssh client: clear errors', async () => {
    const h = await home();
    const env = { HOME: h, VMR_SSH: 'true' };
    const unknown = await run(['exec', 'nope', '--', 'true'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no VM "nope"/);
    const stopped = await run(['--json', 'exec', 'db', '--', 'true'], env);
    assert.equal(stopped.code, 1);
    const err = JSON.parse(stopped.stdout).error;
    assert.equal(err.code, 'FAILED_PRECONDITION');
    assert.match(err.message, /stopped; start it first: vmr start db/);
    const noip = await run(['--json', 'ssh', '--wait', '1', 'noip'], env);
    const late = JSON.parse(noip.stdout).error;
    assert.equal(late.code, 'DEADLINE_EXCEEDED');
    assert.match(late.message, /no IP address after 1 s[\s\S]*line 9[\s\S]*line 10/);
    const noSsh = await run(['ssh', 'web'], { HOME: h, VMR_SSH: path.join(tmp, 'no-such-ssh') });
    assert.equal(noSsh.code, 1);
    assert.match(noSsh.stderr, /openssh-client/);
    const usage = await run(['exec', 'web'], env);
    assert.equal(usage.code, 2);
  });
});

describe('inspect, logs, import of a bare disk', () => {
  test('inspect shows a VM (addresses up front), falls back to an image, or says neither', async () => {
    const vm = await run(['inspect', 'web']);
    assert.equal(vm.code, 0, vm.stderr);
    const view = JSON.parse(vm.stdout);
    assert.equal(view.Type, 'vm');
    assert.deepEqual(view.IPAddresses, ['127.0.0.1']);
    assert.equal(view.DefaultUser, 'debian');
    assert.equal(view.Disks[0].Path, '/var/lib/x/overlay.qcow2');
    assert.equal(view.LibvirtURI, 'qemu:///system');
    assert.equal(view.CloudInit.SSHAuthorizedKeys, 1);
    const img = await run(['inspect', 'localhost:5000/demo/debian:12']);
    assert.equal(img.code, 0, img.stderr);
    assert.equal(fake.last('GetImageManifest').reference, 'localhost:5000/demo/debian:12');
    const typed = await run(['inspect', '--type', 'image', 'web']);
    assert.equal(fake.last('GetImageManifest').reference, 'web');
    assert.notEqual(typed.stdout, vm.stdout);
  });

  test('logs prints the console log; --tail asks for N lines', async () => {
    const r = await run(['logs', 'web']);
    assert.equal(r.stdout, 'boot\ncloud-init: done\n');
    await run(['logs', '--tail', '2', 'web']);
    assert.deepEqual(fake.last('VMLogs'), { vm: 'web', follow: false, tailLines: 2 });
  });

  test('import of a qcow2 without a VMFile makes one (name, format, resources), prints and saves it', async () => {
    const dir = await fs.mkdtemp(path.join(tmp, 'disk-'));
    const disk = path.join(dir, 'Debian-12-GenericCloud_amd64.qcow2');
    await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const out = path.join(dir, 'made.yaml');
    const r = await run(['import', disk, '-t', 'debian:12', '--vmfile-out', out]);
    assert.equal(r.code, 0, r.stderr);
    const { parse } = await import('yaml');
    const saved = parse(await fs.readFile(out, 'utf8'));
    assert.equal(saved.metadata.name, 'debian-12-genericcloud_amd64');
    assert.deepEqual(saved.spec.disk, { path: './Debian-12-GenericCloud_amd64.qcow2', format: 'qcow2' });
    assert.equal(saved.spec.resources.memory_mb, 1024);
    assert.match(r.stderr, /No VMFile given[\s\S]*format: qcow2/);
    const header = fake.calls.filter((c) => c.method === 'ImportImageStream').at(-1);
    assert.ok(header, 'streamed to the daemon');
    const again = await run(['import', disk, '--vmfile-out', out]);
    assert.equal(again.code, 2, 'an existing --vmfile-out is not overwritten');
  });
});
