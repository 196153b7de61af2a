// Every command group against the fake daemon: the request the CLI sent, the human output, the --json
// output (which must be the RPC's response), and the exit code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeDaemon, status, canned, type FakeDaemon } from './support/fakeServer.js';
import { testHome, vmr } from './support/runVmr.js';
import * as grpc from '@grpc/grpc-js';

let fake: FakeDaemon;
const run = (args: string[], opts: Parameters<typeof vmr>[1] = {}) => vmr(['--host', fake.target, ...args], opts);
const json = async (args: string[]) => {
  const r = await run(['--json', ...args]);
  assert.equal(r.code, 0, `vmr --json ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
};

before(async () => { fake = await startFakeDaemon(); });
after(async () => { await fake.stop(); });

describe('images', () => {
  test('images prints an aligned table with short ids, relative times and human sizes', async () => {
    const r = await run(['images']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+ARCH\s+SOURCE\s+CREATED\s+SIZE$/);
    assert.match(lines[1], /^localhost:5000\/demo\/debian\s+12\s+a1b2c3d4e5f6\s+x86_64\s+containerdisk\s+3 minutes ago\s+1\.23GB$/);
    assert.match(lines[2], /^alpine\s+3\.20\s+ffffffffffff\s+aarch64\s+vmregistry\s+2 days ago\s+52\.4MB$/);
    // columns line up: TAG starts at the same offset on every line
    const col = lines[0].indexOf('TAG');
    assert.equal(lines[1].slice(col, col + 2), '12');
  });

  test('images --json is the ListLocalImages response; -q prints references', async () => {
    assert.deepEqual(await json(['images']), { images: canned.images });
    const q = await run(['images', '-q']);
    assert.equal(q.stdout, 'localhost:5000/demo/debian:12\nalpine:3.20\n');
    const alias = await run(['image', 'ls', '-q']);
    assert.equal(alias.stdout, q.stdout);
  });

  test('pull streams progress and prints the result; --json prints only the result', async () => {
    const r = await run(['pull', 'demo/debian:12']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.last('PullImageWithProgress'), { reference: 'demo/debian:12' });
    assert.match(r.stdout, /^Digest: sha256:a1b2c3d4e5f6/m);
    assert.match(r.stdout, /localhost:5000\/demo\/debian:12\n$/);
    assert.match(r.stderr, /download\s+100%\s+300MB\/300MB/, 'non-TTY progress lines on stderr');
    assert.ok(!r.stderr.includes('\r'));
    const j = await run(['--json', 'pull', 'demo/debian:12']);
    assert.equal(j.stderr, '', 'no progress noise under --json off a terminal');
    assert.equal(JSON.parse(j.stdout).reference, 'localhost:5000/demo/debian:12');
  });

  test('pull of a missing image: server message, exit 1; --json gives the gRPC code', async () => {
    const r = await run(['pull', 'missing:1']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').pop(), 'Error: manifest unknown: missing:1');
    const j = await run(['--json', 'image', 'pull', 'missing:1']);
    assert.equal(j.code, 1);
    assert.deepEqual(JSON.parse(j.stdout), { error: { code: 'NOT_FOUND', message: 'manifest unknown: missing:1' } });
  });

  test('a daemon without the streaming RPC gets the unary one', async () => {
    const saved = fake.handlers.PullImageWithProgress;
    delete fake.handlers.PullImageWithProgress;
    try {
      const j = await json(['pull', 'old:1']);
      assert.equal(j.reference, 'old:1');
      assert.deepEqual(fake.last('PullImage'), { reference: 'old:1' });
    } finally {
      fake.handlers.PullImageWithProgress = saved;
    }
  });

  test('push, export, tag, inspect, gc send what the flags say', async () => {
    assert.equal((await json(['push', 'a:1', 'reg/b:2'])).reference, 'reg/b:2');
    // the default format is field 3's zero value (what older clients send)
    assert.deepEqual(fake.last('PushImageWithProgress'), { reference: 'a:1', destination: 'reg/b:2', format: 'VMREGISTRY' });
    await json(['push', '--format', 'containerdisk', 'a:1', 'reg/kv:2']);
    assert.deepEqual(fake.last('PushImageWithProgress'), { reference: 'a:1', destination: 'reg/kv:2', format: 'CONTAINERDISK' });
    const bad = await run(['push', '--format', 'docker', 'a:1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /containerdisk/);

    const ex = await json(['export', '--on-daemon', '--format', 'disk', '--disk-format', 'qcow2', '-f', 'a:1', 'rel/out.qcow2']);
    const req = fake.last('ExportImageWithProgress');
    assert.equal(req.format, 'DISK');
    assert.equal(req.diskFormat, 'qcow2');
    assert.equal(req.overwrite, true);
    assert.ok(req.outputPath.startsWith('/') && req.outputPath.endsWith('rel/out.qcow2'), 'output path made absolute');
    assert.equal(ex.outputPath, req.outputPath);

    const t = await run(['tag', 'a:1', 'b:2']);
    assert.equal(t.stdout.trim(), `Tagged b:2 (${canned.images[0].digest})`);
    assert.deepEqual(fake.last('TagImage'), { source: 'a:1', target: 'b:2' });

    const i = JSON.parse((await run(['inspect', 'a:1'])).stdout);
    assert.deepEqual(i.manifest, { schemaVersion: 2 });
    assert.deepEqual((await json(['image', 'inspect', 'a:1'])).manifestJson, '{"schemaVersion":2}');

    const gc = await run(['image', 'prune', '--dry-run']);
    assert.equal(fake.last('GarbageCollect').dryRun, true);
    assert.match(gc.stdout, /Would reclaim: 0B/);
    assert.equal((await json(['gc'])).freedBytes, '2048000');
  });

  test('rmi with several references goes on after a failure and exits 1', async () => {
    const r = await run(['rmi', 'a:1', 'missing:1', 'b:1']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Untagged: a:1[\s\S]*Untagged: b:1/);
    assert.equal(r.stderr, 'Error: image "missing:1" not found locally; check "vmr images"\n');
    const j = await run(['--json', 'rmi', '-f', 'a:1', 'missing:1']);
    assert.equal(fake.last('DeleteImage').force, true);
    assert.deepEqual(JSON.parse(j.stdout)[1], { error: { code: 'NOT_FOUND', message: 'image "missing:1" not found locally; check "vmr images"' } });
  });
});

describe('VMs', () => {
  test('run builds VMRunOptions from flags and reads cloud-init files client-side', async () => {
    const { mkdtemp, writeFile, rm, readFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'vmr-run-'));
    try {
      await writeFile(path.join(dir, 'user-data'), '#cloud-config\npackages: [nginx]\n');
      await writeFile(path.join(dir, 'net'), 'version: 2\n');
      const r = await run(['run', '--name', 'web', '--memory', '2048', '--cpus', '2', '--rm', '--network', 'backend',
        '--activate-network', '-l', 'team=web', '--label', 'tier=front', '--cloud-init-user-data', path.join(dir, 'user-data'),
        '--cloud-init-network-config', path.join(dir, 'net'), '--wait-ip', '--disk-size', '20', 'alpine:3.20']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(fake.last('RunVM'), {
        image: 'alpine:3.20', name: 'web',
        options: {
          memoryMb: 2048, vcpuCount: 2, ephemeral: true, activateNetwork: true, networkName: 'backend',
          labels: { team: 'web', tier: 'front' }, waitForIp: true, diskSizeGb: 20,
          cloudInit: { userData: '#cloud-config\npackages: [nginx]\n', metaData: '', networkConfig: 'version: 2\n' },
          sshAuthorizedKeys: [(await readFile(path.join(testHome(), '.config/vmregistry/ssh/id_ed25519.pub'), 'utf8')).trim()],
        },
      });
      assert.equal(r.stdout, '6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b\nweb running 192.168.122.50\n');
      await run(['run', '--ephemeral', 'alpine:3.20']);
      assert.equal(fake.last('RunVM').options.ephemeral, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('run: an unreadable cloud-init file or a bad number is a usage error (exit 2), nothing sent', async () => {
    const before = fake.calls.length;
    const r = await run(['run', '--cloud-init-user-data', '/nonexistent/ud', 'alpine:3.20']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error: cannot read cloud-init user-data "\/nonexistent\/ud": ENOENT/);
    const n = await run(['run', '--memory', 'lots', 'alpine:3.20']);
    assert.equal(n.code, 2);
    assert.match(n.stderr, /--memory must be a whole number/);
    const l = await run(['run', '--label', 'novalue', 'alpine:3.20']);
    assert.equal(l.code, 2);
    assert.equal(fake.calls.length, before);
  });

  test('ps shows running VMs with IPs; -a and ls list all; -q prints ids', async () => {
    const ps = await run(['ps']);
    assert.match(ps.stdout, /^VM ID\s+NAME\s+IMAGE\s+STATUS\s+UPTIME\s+CPUS\s+MEMORY\s+IP ADDRESSES\s+LABELS\n6f1c2d3e4b5a\s+web\s+alpine:3\.20\s+running\s+10m2s\s+2\s+1GiB\s+192\.168\.122\.50\s+team=web\n$/);
    const all = await run(['ps', '-a']);
    assert.match(all.stdout, /db\s+localhost:5000\/demo\/debian:12\s+stopped \(ephemeral\)\s+2 hours ago\s+1\s+512MiB\s+stack/);
    assert.equal((await run(['ls'])).stdout, all.stdout);
    assert.deepEqual(await json(['ps', '-a']), { vms: canned.vms });
    assert.equal((await json(['ps'])).vms[0].networks[0].ipAddresses[0], '192.168.122.50');
    assert.equal((await run(['ps', '-q'])).stdout, `${canned.vms[0].vmId}\n`);
    assert.equal((await run(['ps', '-aq'])).stdout, canned.vms.map((v) => `${v.vmId}\n`).join(''));
  });

  test('start/stop/restart/rm pass force and timeouts; server refusals exit 1 with the message', async () => {
    assert.equal((await run(['start', 'web', 'db'])).stdout, 'web\ndb\n');
    await run(['stop', '-t', '10', 'web']);
    assert.deepEqual(fake.last('StopVM'), { vm: 'web', force: false, timeoutSeconds: 10 });
    await run(['restart', '--force', 'web']);
    assert.deepEqual(fake.last('RestartVM'), { vm: 'web', force: true, timeoutSeconds: 0 });
    const rm = await run(['rm', 'web']);
    assert.equal(rm.code, 1);
    assert.equal(rm.stderr, 'Error: VM "web" is running; stop it first or use --force\n');
    const rmj = await run(['--json', 'rm', 'web']);
    assert.deepEqual(JSON.parse(rmj.stdout), { error: { code: 'FAILED_PRECONDITION', message: 'VM "web" is running; stop it first or use --force' } });
    const ok = await json(['rm', '-f', 'web']);
    assert.deepEqual(ok, { vmId: 'id-web', message: 'removed' });
  });
});

describe('networks and contexts', () => {
  test('network ls/inspect/create/start/stop/rm', async () => {
    const ls = await run(['network', 'ls']);
    assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+MODE\s+SUBNET\s+BRIDGE\s+STATE\s+AUTOSTART\s+VMS\n111111112222\s+default\s+nat\s+192\.168\.122\.0\/24\s+virbr0\s+active\s+yes\s+1\n/);
    assert.equal((await run(['network', 'ls', '-q'])).stdout, 'default\nbackend\n');
    assert.deepEqual(await json(['network', 'inspect', 'default']), { network: canned.network });
    assert.match((await run(['network', 'inspect', 'default'])).stdout, /^Subnet:\s+192\.168\.122\.0\/24$/m);
    const missing = await run(['network', 'inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'Error: network "nope" not found\n');

    await run(['network', 'create', '--mode', 'isolated', '--subnet', '10.9.0.0/24', '--dhcp', '--activate', 'lab']);
    const req = fake.last('NetworkCreate');
    assert.equal(req.name, 'lab');
    assert.equal(req.mode, 'isolated');
    assert.equal(req.subnet, '10.9.0.0/24');
    assert.equal(req.dhcp, true);
    assert.equal(req.activate, true);
    const badMode = await run(['network', 'create', '--mode', 'weird', 'lab']);
    assert.equal(badMode.code, 2);
    assert.match(badMode.stderr, /Allowed choices are nat, isolated, routed, bridge/);

    assert.equal((await run(['network', 'start', 'lab'])).stdout, 'lab\n');
    const stop = await run(['network', 'stop', 'lab']);
    assert.equal(stop.code, 1);
    assert.match(stop.stderr, /used by running VMs/);
    assert.equal((await run(['network', 'stop', '-f', 'lab'])).code, 0);
    await run(['network', 'rm', '-f', 'lab']);
    assert.deepEqual(fake.last('NetworkDelete'), { name: 'lab', force: true });
  });

  test('context create/update/use/ls/rm/show', async () => {
    await run(['context', 'create', '--registry', 'localhost:5000', '--insecure-registry', '--libvirt-uri', 'test+unix:///default', '--use', 'lab']);
    const c = fake.last('ContextCreate');
    assert.equal(c.use, true);
    assert.equal(c.context.name, 'lab');
    assert.equal(c.context.registryUrl, 'localhost:5000');
    assert.equal(c.context.insecureRegistry, true);
    assert.equal(c.context.libvirtUri, 'test+unix:///default');

    await run(['context', 'update', '--auth-server', 'https://id.example', '--no-insecure-registry', 'lab']);
    const u = fake.last('ContextUpdate');
    assert.deepEqual(u.updateMask, ['auth_server', 'insecure_registry']);
    assert.equal(u.context.insecureRegistry, false);
    assert.equal(u.context.authServer, 'https://id.example');

    assert.equal((await run(['context', 'use', 'lab'])).stdout, 'Current context is now "lab"\n');
    const nope = await run(['context', 'use', 'nope']);
    assert.equal(nope.code, 1);
    assert.equal(nope.stderr, 'Error: context "nope" not found; see "vmr context ls"\n');
    assert.match((await run(['context', 'ls'])).stdout, /^default \*\s+local libvirt/m);
    assert.equal((await json(['context', 'ls'])).current, 'default');
    assert.equal((await run(['context', 'show'])).stdout, 'default\n');
    assert.match((await run(['context', 'inspect'])).stdout, /^Libvirt URI:\s+qemu:\/\/\/system$/m);
    await run(['context', 'rm', 'lab']);
    assert.deepEqual(fake.last('ContextRemove'), { name: 'lab' });
  });
});

describe('auth, health, version', () => {
  test('login with --password-stdin uses the password grant', async () => {
    const r = await run(['login', '-u', 'alice', '--password-stdin'], { input: 's3cret\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.last('Login'), { username: 'alice', password: 's3cret', server: '', deviceFlow: false, deviceCode: '' });
    assert.match(r.stdout, /^Login Succeeded as alice at https:\/\/id\.example/);
    const bad = await run(['login', '-u', 'alice', '-p', 'wrong']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'Error: invalid user name or password\n');
    const noPass = await run(['login', '-u', 'alice']);
    assert.equal(noPass.code, 2, 'no terminal to prompt on: usage error');
    assert.match(noPass.stderr, /--password-stdin/);
  });

  test('login without a user name runs the device flow, polling while pending', async () => {
    const r = await run(['login', 'https://id.example']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /open https:\/\/id\.example\/device and enter the code ABCD-EFGH/);
    const logins = fake.calls.filter((c) => c.method === 'Login').slice(-3).map((c) => c.request);
    assert.equal(logins[0].deviceFlow, true);
    assert.equal(logins[0].server, 'https://id.example');
    assert.equal(logins[1].deviceCode, 'dev-123');
    assert.equal(logins[2].deviceCode, 'dev-123');
    assert.match(r.stdout, /Login Succeeded as alice/);
  });

  test('logout and register', async () => {
    assert.equal((await run(['logout'])).stdout, 'Logged out of https://id.example\n');
    const r = await run(['register', 'bob', '--email', 'bob@example.com', '--password-stdin'], { input: 'pw' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.last('Register'), { username: 'bob', password: 'pw', email: 'bob@example.com', displayName: '' });
  });

  test('health shows components; version shows client and daemon', async () => {
    const h = await run(['health']);
    assert.match(h.stdout, /^Daemon SERVING \(version 9\.9\.9-fake, context default\)\nCOMPONENT\s+STATUS\s+LATENCY\s+PLUGIN\s+MESSAGE\ndaemon\s+SERVING\s+0ms/);
    assert.deepEqual(await json(['health']), canned.health);
    const v = await json(['version']);
    assert.equal(v.daemon.version, '9.9.9-fake');
    assert.match(v.client.version, /^\d+\.\d+\.\d+/);
  });

  test('server errors keep the server\'s message for every code', async () => {
    const saved = fake.handlers.HealthCheck;
    fake.handlers.HealthCheck = () => { throw status(grpc.status.UNAVAILABLE, 'libvirtd is down: connect ENOTCONN'); };
    try {
      const r = await run(['health']);
      assert.equal(r.code, 1, 'a server-side UNAVAILABLE is a server error, not an unreachable daemon');
      assert.equal(r.stderr, 'Error: libvirtd is down: connect ENOTCONN\n');
    } finally {
      fake.handlers.HealthCheck = saved;
    }
  });
});

describe('reaching the daemon', () => {
  test('no daemon: one line saying how to start it, exit 3, no stack', async () => {
    const r = await vmr(['--host', 'unix:///nonexistent/dir/vmr.sock', 'images']);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, 'cannot reach the vmregistry daemon at unix:///nonexistent/dir/vmr.sock: is it running? start it with: vmregistryd\n');
    assert.equal(r.stdout, '');
    const j = await vmr(['--json', 'ps'], { env: { VMR_HOST: 'unix:///nonexistent/x.sock' } });
    assert.equal(j.code, 3);
    assert.equal(JSON.parse(j.stdout).error.code, 'DAEMON_UNREACHABLE');
  });

  test('a stale socket file (nothing listening) is unreachable too', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'vmr-stale-'));
    try {
      await writeFile(path.join(dir, 'vmregistry.sock'), '');
      const r = await vmr(['health'], { env: { VMR_HOST: `unix://${dir}/vmregistry.sock` } });
      assert.equal(r.code, 3);
      assert.match(r.stderr, /^cannot reach the vmregistry daemon at unix:\/\/.*: is it running\? start it with: vmregistryd\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the default address is the daemon\'s per-user socket', async () => {
    const r = await vmr(['images'], { env: { XDG_RUNTIME_DIR: '/nonexistent/run/user/1000' } });
    assert.equal(r.code, 3);
    const expected = process.getuid?.() === 0 ? '/run/vmregistry/vmregistry.sock' : '/nonexistent/run/user/1000/vmregistry/vmregistry.sock';
    // (root always uses /run, like the daemon)
    assert.ok(r.stderr.includes(`unix://${expected}`), r.stderr);
  });

  test('version works with the daemon down and says so', async () => {
    const r = await vmr(['--host', 'unix:///nonexistent/vmr.sock', 'version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Client:\n Version:  \d+\.\d+\.\d+/);
    assert.match(r.stdout, /Daemon:\n cannot reach the vmregistry daemon at unix:\/\/\/nonexistent\/vmr\.sock/);
  });

  test('usage errors exit 2: unknown command, unknown option, missing argument, bad --host', async () => {
    for (const args of [['frobnicate'], ['images', '--bogus'], ['tag', 'only-one'], ['--host', 'tcp://1.2.3.4:1', 'images']]) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    }
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.equal((await run(['--version'])).code, 0);
  });
});
