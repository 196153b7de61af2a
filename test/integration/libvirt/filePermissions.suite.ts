// After a real run on qemu:///system: the VM's seed (user-data), overlay and console log are readable by
// the daemon and QEMU only (QEMU did open them: the domain runs), its directory is closed to others,
// and an unprivileged user can read none of it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CallContext, Logger } from '../../../src/core/ports/common.js';
import { silentLogger } from '../../../src/core/log/silentLogger.js';
import { LibvirtConnectionManager } from '../../../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../../../src/plugins/libvirt/vm/index.js';
import { qemuIdentity } from '../../../src/plugins/libvirt/vm/filePermissions.js';
import { uriSlug } from '../../../src/plugins/libvirt/vm/vmFiles.js';
import { optedOut, requireService } from '../../support/services.js';
import { uniqueName } from '../../support/unique.js';

const pexec = promisify(execFile);
const URI = 'qemu:///system';
const quiet: Logger = silentLogger();
const ctx = (): CallContext => ({
  signal: AbortSignal.timeout(120_000), log: quiet,
  context: { name: 'perm', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: URI,
    insecureRegistry: false, current: true, created: '' },
});

describe('VM files are private on qemu:///system', { skip: optedOut('libvirtd') || (process.getuid?.() !== 0 && 'needs root (runuser, chown)') }, () => {
  let stateDir: string;
  let mgr: LibvirtConnectionManager;
  let hv: LibvirtHypervisor;
  const name = uniqueName('vmr-perm');

  before(async () => {
    await requireService('libvirtd');
    await fs.mkdir(path.resolve('.test-work'), { recursive: true });
    stateDir = await fs.mkdtemp(path.resolve('.test-work', 'vm-perm-'));
    mgr = new LibvirtConnectionManager({ log: quiet });
    hv = new LibvirtHypervisor({ clientFor: (u) => mgr.get(u), stateDir, log: quiet });
  });
  after(async () => {
    await hv?.delete(name, { force: true }, ctx()).catch(() => undefined);
    await mgr?.closeAll();
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  test('seed, overlay, console log and base disk: no access for others, QEMU still boots from them', { timeout: 180_000 }, async () => {
    const base = path.join(stateDir, 'base.raw');
    await fs.writeFile(base, '');
    await fs.truncate(base, 1 << 20);
    await fs.chmod(base, 0o644); // as an older daemon left it
    const vm = await hv.run({
      name,
      image: { reference: 'localhost:5000/perm/x:1', digest: 'sha256:' + 'e'.repeat(64), baseDiskPath: base, diskSize: 1 << 20, firmware: 'bios', architecture: 'x86_64' },
      memoryMb: 128, vcpuCount: 1, diskSizeGb: 0, ephemeral: false, networkName: '', activateNetwork: true,
      cloudInit: { userData: '#cloud-config\npassword: hunter2\n' }, labels: {}, waitForIp: false, start: true,
    }, ctx());
    assert.equal(vm.status, 'running', 'QEMU opened the overlay, the seed and the base disk');

    const q = await qemuIdentity();
    const root = path.join(stateDir, uriSlug(URI));
    const [dirName] = (await fs.readdir(root)).filter((d) => d.startsWith(`${name}.`));
    const dir = path.join(root, dirName!);
    const st = await fs.stat(dir);
    assert.equal(st.mode & 0o777, 0o750, 'the VM directory is 0750');
    assert.equal(st.gid, q.gid, `its group is QEMU's (${q.group})`);
    for (const f of ['seed.iso', 'overlay.qcow2', 'console.log', base]) {
      const p = path.isAbsolute(f) ? f : path.join(dir, f);
      const fst = await fs.stat(p).catch(() => undefined);
      if (!fst && f === 'console.log') continue; // written only once the guest prints
      assert.ok(fst, `${p} exists`);
      assert.equal(fst.mode & 0o007, 0, `${p} is not accessible to others (mode ${(fst.mode & 0o777).toString(8)})`);
      // libvirt creates the console log itself and hands QEMU the descriptor.
      if (f !== 'console.log') assert.ok(fst.gid === q.gid || fst.uid === q.uid, `${p} is QEMU's to read (uid ${fst.uid}, gid ${fst.gid})`);
    }
    for (const args of [['cat', path.join(dir, 'seed.iso')], ['ls', dir], ['cat', base]]) {
      await assert.rejects(pexec('runuser', ['-u', 'nobody', '--', ...args]), /Permission denied/, `nobody: ${args.join(' ')}`);
    }
    await hv.delete(name, { force: true }, ctx());
    await assert.rejects(fs.stat(dir), 'delete removes the directory');
  });
});
