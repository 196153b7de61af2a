// Modes for VM files and which directories the daemon may open to QEMU (unit level; the qemu:///system
// suite checks real files after a real run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureQemuCanReach, fileModesFor, qemuIdentity, type FileModes } from '../../src/plugins/libvirt/vm/filePermissions.js';

const files = (conf: string) => ({
  qemuConf: async () => conf,
  passwd: async () => 'root:x:0:0::/root:/bin/sh\nlibvirt-qemu:x:64055:108:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\nqemu2:x:5000:5000::/:/bin/false\n',
  group: async () => 'root:x:0:\nkvm:x:108:\nlibvirt-qemu:x:64055:libvirt-qemu\nqemu2:x:5000:\n',
});

test("QEMU's identity comes from qemu.conf, with Debian's defaults", async () => {
  assert.deepEqual(await qemuIdentity(files('#user = "libvirt-qemu"\n')),
    { user: 'libvirt-qemu', uid: 64055, gids: [108, 64055], group: 'libvirt-qemu', gid: 64055 });
  const custom = await qemuIdentity(files('user = "qemu2"\ngroup = "qemu2"\n'));
  assert.equal(custom.uid, 5000);
  assert.equal(custom.gid, 5000);
});

test('private modes where QEMU runs as the daemon; group modes for qemu:///system', async () => {
  for (const uri of ['qemu:///session', 'test:///default', 'test+unix:///default']) {
    assert.deepEqual(await fileModesFor(uri, files('')), { dir: 0o700, file: 0o600 }, uri);
  }
  const sys = await fileModesFor('qemu:///system', files(''));
  assert.equal(sys.qemu?.user, 'libvirt-qemu');
  if (process.getuid?.() === 0) assert.deepEqual([sys.dir, sys.file, sys.gid], [0o750, 0o640, 64055]);
  else assert.deepEqual([sys.dir, sys.file], [0o711, 0o600], 'without the group: traversal only, files 0600');
});

test('directories the daemon did not make are reported, never opened; its own get group search', async () => {
  const top = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-perm-'));
  try {
    await fs.chmod(top, 0o755);
    const foreign = path.join(top, 'home');
    const data = path.join(foreign, 'data');
    const vms = path.join(data, 'vms');
    await fs.mkdir(vms, { recursive: true, mode: 0o700 });
    await fs.chmod(foreign, 0o700);
    await fs.chmod(data, 0o700);
    const gid = process.getuid?.() === 0 ? 64055 : process.getgid!();
    const m: FileModes = { dir: 0o750, file: 0o640, gid, qemu: { user: 'libvirt-qemu', uid: 64055, gids: [gid], group: 'libvirt-qemu', gid } };
    await assert.rejects(ensureQemuCanReach(vms, m, [data]), (e: { code?: string; message: string }) =>
      e.code === 'FAILED_PRECONDITION' && e.message.includes(`${foreign} is not searchable`) && /setfacl|chmod o\+x/.test(e.message));
    assert.equal((await fs.stat(foreign)).mode & 0o777, 0o700, 'the foreign directory was left alone');

    await fs.chmod(foreign, 0o711); // the admin's fix
    await ensureQemuCanReach(vms, m, [data]);
    for (const d of [data, vms]) {
      const st = await fs.stat(d);
      assert.equal(st.mode & 0o777, 0o710, `${d}: group search only`);
      assert.equal(st.gid, gid);
    }
    assert.equal((await fs.stat(foreign)).mode & 0o777, 0o711);
    // QEMU running as us: nothing is checked or changed.
    await fs.chmod(foreign, 0o700);
    await ensureQemuCanReach(vms, { dir: 0o700, file: 0o600 }, []);
  } finally {
    await fs.rm(top, { recursive: true, force: true });
  }
});
