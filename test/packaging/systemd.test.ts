// The shipped unit files pass systemd's own checks and the shipped configs load.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/core/config/DaemonConfig.js';

const pexec = promisify(execFile);
const DIR = path.resolve('packaging/systemd');
const BIN = path.resolve('dist/src/bin/vmregistryd.js');
const tmp: string[] = [];
after(async () => { for (const d of tmp) await rm(d, { recursive: true, force: true }); });

/** systemd-analyze verify, with ExecStart pointed at this build (the unit names the installed path). */
async function verify(unit: string, user: boolean): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'vmrt-unit-'));
  tmp.push(d);
  const text = (await readFile(path.join(DIR, unit), 'utf8')).replace('/usr/bin/vmregistryd', `${process.execPath} ${BIN}`);
  const file = path.join(d, 'vmregistryd.service');
  await writeFile(file, text);
  try {
    const r = await pexec('systemd-analyze', [...(user ? ['--user'] : []), 'verify', file], { env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } });
    return `${r.stdout}${r.stderr}`;
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('systemd-analyze is missing: install the Debian package systemd (scripts/services/apt-packages.sh lists it)');
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

describe('packaging/systemd', () => {
  it('the system unit verifies cleanly', async () => {
    const out = await verify('vmregistryd.service', false);
    assert.doesNotMatch(out, /vmregistryd\.service:/, out);
  });

  it('the user unit has no unit-file errors', async () => {
    // Without a user manager (no session bus here) systemd can only parse the file; any error about the unit itself still shows.
    const out = await verify('user/vmregistryd.service', true);
    assert.doesNotMatch(out, /vmregistryd\.service:\d+|Unknown (key|section)|Invalid/, out);
  });

  it('the sample configs load, with metrics off and the libvirt URIs as documented', async () => {
    const sys = await loadConfig({ file: path.join(DIR, 'config.yaml'), env: {} });
    assert.equal(sys.config.plugins.libvirt!.config!.uri, 'qemu:///system');
    assert.equal(sys.config.metrics.enabled, false);
    assert.deepEqual(sys.warnings, []);
    const user = await loadConfig({ file: path.join(DIR, 'user/config.yaml'), env: {} });
    assert.equal(user.config.plugins.libvirt!.config!.uri, 'qemu:///session');
  });

  it('the sysusers snippet creates the daemon user in the libvirt and libvirt-qemu groups', async () => {
    const text = await readFile(path.join(DIR, 'vmregistry.sysusers.conf'), 'utf8');
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(lines.map((l) => l.split(/\s+/).slice(0, 3).join(' ')), ['g vmregistry -', 'u vmregistry -', 'm vmregistry libvirt', 'm vmregistry libvirt-qemu']);
  });
});
