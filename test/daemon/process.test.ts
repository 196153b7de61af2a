// The vmregistryd binary as users run it: defaults, socket hygiene, signals, clear startup errors.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { VmClient } from '../../src/testing/client.js';

const BIN = path.resolve('dist/src/bin/vmregistryd.js');
const dirs: string[] = [];
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'vmrt-d-'));
  await chmod(d, 0o755);
  dirs.push(d);
  return d;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, VMR_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  p.stdout!.on('data', (b) => { out += b; });
  p.stderr!.on('data', (b) => { out += b; });
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  return { p, output: () => out, exited };
}

async function waitFor(fn: () => Promise<boolean> | boolean, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const noPlugins = async (dir: string) => { const f = path.join(dir, 'c.yaml'); await writeFile(f, 'plugins: {}\n'); return f; };

describe('vmregistryd process', () => {
  it('listens with mode 0660, refuses a second daemon, and stops cleanly on SIGTERM', async () => {
    const dir = await tmp();
    const sock = path.join(dir, 'run', 'vmr.sock');
    const cfg = await noPlugins(dir);
    const d = run(['--config', cfg, '--socket', sock, '--data-dir', path.join(dir, 'data')]);
    await waitFor(() => stat(sock).then(() => true, () => false), 'the socket');
    assert.equal((await stat(sock)).mode & 0o777, 0o660);
    const c = new VmClient(sock);
    assert.equal((await c.call('HealthCheck')).status, 'SERVING');
    c.close();
    const second = run(['--config', cfg, '--socket', sock, '--data-dir', path.join(dir, 'data2')]);
    assert.equal(await second.exited, 3);
    assert.match(second.output(), /another vmregistryd is already listening on/);
    d.p.kill('SIGTERM');
    assert.equal(await d.exited, 0);
    await assert.rejects(stat(sock), /ENOENT/);
  });

  it('removes a stale socket left by a crashed daemon', async () => {
    const dir = await tmp();
    const sock = path.join(dir, 'vmr.sock');
    // A crashed daemon leaves its socket file behind with nobody listening: bind one and exit.
    await new Promise<void>((resolve, reject) => spawn('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(sock)})`])
      .on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`python exited ${code}`)))));
    assert.ok((await stat(sock)).isSocket());
    const d = run(['--config', await noPlugins(dir), '--socket', sock, '--data-dir', path.join(dir, 'data')]);
    await waitFor(() => d.output().includes('vmregistryd listening'), 'the daemon to listen');
    d.p.kill('SIGINT');
    assert.equal(await d.exited, 0);
  });

  it('starts with no config file at all (embedded defaults) when its plugins load', async () => {
    const dir = await tmp();
    const sock = path.join(dir, 'vmr.sock');
    const d = run(['--socket', sock, '--data-dir', path.join(dir, 'data')]);
    await waitFor(() => d.output().includes('vmregistryd listening') || d.p.exitCode !== null, 'startup');
    assert.match(d.output(), /vmregistryd listening/, d.output());
    d.p.kill('SIGTERM');
    assert.equal(await d.exited, 0);
  });

  it('explains startup errors in one line: bad socket dir, unknown plugin, config type error', async () => {
    const dir = await tmp();
    const blocker = path.join(dir, 'file');
    await writeFile(blocker, '');
    const a = run(['--config', await noPlugins(dir), '--socket', path.join(blocker, 'sub', 'vmr.sock'), '--data-dir', path.join(dir, 'd')]);
    assert.equal(await a.exited, 1);
    assert.match(a.output(), /cannot create the socket directory/);
    const unknown = path.join(dir, 'u.yaml');
    await writeFile(unknown, 'plugins:\n  warp-drive: {}\n');
    const b = run(['--config', unknown, '--socket', path.join(dir, 'b.sock'), '--data-dir', path.join(dir, 'd')]);
    assert.equal(await b.exited, 1);
    assert.match(b.output(), /plugin "warp-drive": unknown plugin or package "warp-drive"/);
    assert.doesNotMatch(b.output(), /\n\s+at /, 'no stack trace');
    const typed = path.join(dir, 't.yaml');
    await writeFile(typed, 'shutdownTimeoutSeconds: soon\n');
    const c = run(['--config', typed, '--socket', path.join(dir, 'c.sock'), '--data-dir', path.join(dir, 'd')]);
    assert.equal(await c.exited, 1);
    assert.match(c.output(), /shutdownTimeoutSeconds must be a number/);
  });
});
