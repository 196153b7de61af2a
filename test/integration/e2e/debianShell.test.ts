// From a real Debian 12 cloud image to a shell, as a new user does it with the CLI (the README's quick
// start): `vmr import` the qcow2 without a VMFile, `vmr run` without user-data (the CLI's key is
// injected), `vmr ssh … cloud-init status --wait`, `vmr exec` with the remote exit code, `vmr logs`
// with cloud-init's lines, `vmr console` attached in tmux and detached with Ctrl-], `vmr inspect`
// with the address. The CLI runs with a temp HOME, so the user's own keys are never touched.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import libvirtPlugin from '../../../src/plugins/libvirt/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { vmr, type VmrResult } from '../../cli/support/runVmr.js';
import { DEBIAN_GUEST, debianGuestImage } from '../../support/debianGuest.js';
import { optedOut, requireService } from '../../support/services.js';
import { uniqueName } from '../../support/unique.js';

const pexec = promisify(execFile);
const URI = 'qemu:///system';

describe('Debian 12 cloud image → shell with vmr import/run/ssh/exec/logs/console/inspect', { skip: optedOut('libvirtd'), timeout: 1_800_000 }, () => {
  let d: TestDaemon;
  let home: string;
  const name = uniqueName('vmr-deb');
  const ref = `${uniqueName('vmr-deb-img')}:12`;
  const tmuxSocket = uniqueName('vmr-console');
  const tmux = (...args: string[]) => pexec('tmux', ['-L', tmuxSocket, ...args], { env: { ...process.env, TERM: 'xterm-256color' } });
  const cli = (args: string[], timeoutMs = 120_000): Promise<VmrResult> =>
    vmr(args, { env: { HOME: home, VMR_HOST: `unix://${d.socket}` }, timeoutMs });
  const ok = (r: VmrResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

  before(async () => {
    await requireService('libvirtd');
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-deb-home-'));
    d = await startTestDaemon({ plugins: [libvirtPlugin], pluginConfig: { libvirt: { uri: URI, domainType: 'qemu' } } });
  });

  after(async () => {
    await tmux('kill-server').catch(() => undefined);
    if (d) {
      await cli(['rm', '-f', name]).catch(() => undefined);
      await cli(['rmi', ref]).catch(() => undefined);
      await d.stop();
    }
    await fs.rm(home, { recursive: true, force: true });
  });

  it('imports, runs with the injected key, and gets in every way', async () => {
    const image = await debianGuestImage();

    // 1. A bare qcow2 becomes an image; the VMFile made for it is printed.
    const imported = await cli(['import', image, '-t', ref], 600_000);
    ok(imported, 'vmr import');
    assert.match(imported.stderr, /No VMFile given[\s\S]*format: qcow2/);

    // 2. No user-data: the CLI makes a key pair under HOME and the daemon gives it to `debian`.
    ok(await cli(['run', '--name', name, '--memory', String(DEBIAN_GUEST.memoryMb), '--cpus', String(DEBIAN_GUEST.vcpuCount), ref]), 'vmr run');
    await fs.access(path.join(home, '.config/vmregistry/ssh/id_ed25519'));

    // 3. ssh waits for the address and sshd, then cloud-init finishes inside.
    const status = await cli(['ssh', '--wait', String(DEBIAN_GUEST.sshReadyMs / 1000), name, '--', 'cloud-init', 'status', '--wait'], DEBIAN_GUEST.sshReadyMs + 300_000);
    ok(status, 'vmr ssh -- cloud-init status --wait');
    assert.match(status.stdout, /status: done/);
    const who = await cli(['ssh', name, '--', 'id', '-un']);
    ok(who, 'vmr ssh -- id -un');
    assert.equal(who.stdout.trim(), 'debian', 'the image\'s default user, guessed from its name');

    // 4. exec: no terminal, the remote exit code is ours.
    const seven = await cli(['exec', name, '--', 'sh', '-c', 'exit 7']);
    assert.equal(seven.code, 7, seven.stderr);

    // 5. The console log through the daemon has cloud-init's lines.
    const logs = await cli(['logs', name]);
    ok(logs, 'vmr logs');
    assert.match(logs.stdout, /cloud-init/);
    const tail = await cli(['logs', '--tail', '3', name]);
    assert.ok(tail.stdout.trim().split('\n').length <= 3, tail.stdout);

    // 6. inspect: the address (agent or lease), the default user, the key count — never the key.
    const inspected = await cli(['inspect', name]);
    ok(inspected, 'vmr inspect');
    const view = JSON.parse(inspected.stdout);
    assert.equal(view.Type, 'vm');
    assert.match(view.IPAddresses[0], /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(view.DefaultUser, 'debian');
    assert.equal(view.CloudInit.SSHAuthorizedKeys, 1);
    const pub = (await fs.readFile(path.join(home, '.config/vmregistry/ssh/id_ed25519.pub'), 'utf8')).split(' ')[1];
    assert.ok(!inspected.stdout.includes(pub));

    // 7. console: attach in a real terminal, get a login prompt, detach with Ctrl-].
    const cmd = `HOME=${home} VMR_HOST=unix://${d.socket} ${process.execPath} ${path.resolve('dist/src/bin/vmr.js')} console ${name}; echo EXIT=$?; sleep 120`;
    await tmux('new-session', '-d', '-s', 'vmr', '-x', '120', '-y', '30', cmd);
    const pane = async () => (await tmux('capture-pane', '-p', '-t', 'vmr')).stdout;
    const waitPane = async (re: RegExp, what: string) => {
      for (let i = 0; i < 120; i++) {
        const p = await pane();
        if (re.test(p)) return p;
        if (i % 10 === 9) await tmux('send-keys', '-t', 'vmr', 'Enter');
        await delay(500);
      }
      assert.fail(`the console never showed ${what}:\n${await pane()}`);
    };
    await waitPane(/Connected to the console/, 'the attach message');
    await tmux('send-keys', '-t', 'vmr', 'Enter');
    await waitPane(/login:/, 'a login prompt');
    await tmux('send-keys', '-t', 'vmr', 'C-]');
    const detached = await waitPane(/EXIT=\d+/, 'the exit');
    assert.match(detached, /Detached\./);
    assert.match(detached, /EXIT=0/);

    // The VM is still fine after the console session.
    const again = await cli(['exec', name, '--', 'true']);
    ok(again, 'vmr exec after the console');
  });
});
