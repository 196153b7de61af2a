// A throwaway OpenSSH server on a free loopback port with its own host key and one authorized key,
// for testing `qemu+ssh://` against the local libvirtd. Needs root (to log in as root).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile, chmod, mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './freePort.js';

const pexec = promisify(execFile);

export interface TestSshd {
  port: number;
  /** Private key authorized for root. */
  keyfile: string;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<TestSshd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-sshd-'));
  const key = (name: string) => pexec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, name)]);
  await Promise.all([key('hostkey'), key('userkey')]);
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(path.join(dir, 'userkey.pub')));
  await chmod(path.join(dir, 'authorized_keys'), 0o600);
  await mkdir('/run/sshd', { recursive: true }); // privilege separation directory
  const port = await freePort();
  await writeFile(path.join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/hostkey`, `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
    'StrictModes no', `PidFile ${dir}/sshd.pid`, '',
  ].join('\n'));
  // -D: stay in the foreground so the child is ours to stop.
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-f', `${dir}/sshd_config`, '-E', `${dir}/log`], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.createConnection(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`sshd exited: ${await readFile(`${dir}/log`, 'utf8').catch(() => '')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    keyfile: path.join(dir, 'userkey'),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
