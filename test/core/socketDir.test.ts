// The socket's directory must be ours and private: the daemon refuses to listen in one someone else made
// (or made writable), and the CLI refuses to talk through the per-uid temp directory unless it is the
// user's own (issue 15.6: otherwise whoever creates /tmp/vmregistry-<uid> first collects `vmr login -p`
// passwords). The CLI case runs the real `vmr` as another uid, so it needs root.
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareSocketPath } from '../../src/core/grpc/socket.js';
import { socketDirProblem } from '../../src/core/grpc/socketDir.js';
import { vmr } from '../cli/support/runVmr.js';

const isRoot = process.getuid?.() === 0;
const OTHER_UID = 12345;
const me = process.getuid?.() ?? 0;

describe('socket directory safety', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'vmrt-sockdir-'));
    await chmod(base, 0o755);
  });
  after(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('accepts a private directory of ours (or none yet), and names what is wrong with any other', async () => {
    const ok = path.join(base, 'ok');
    await mkdir(ok, { mode: 0o755 });
    assert.equal(socketDirProblem(ok, [me]), undefined);
    assert.equal(socketDirProblem(path.join(base, 'absent'), [me]), undefined);

    const open = path.join(base, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    assert.match(socketDirProblem(open, [me])!, /writable by every user/);
    await chmod(open, 0o775);
    assert.match(socketDirProblem(open, [me])!, /writable by its group/);

    const link = path.join(base, 'link');
    await symlink(ok, link);
    assert.match(socketDirProblem(link, [me])!, /symbolic link/);
    assert.match(socketDirProblem(ok, [me + 1])!, /belongs to uid/);
  });

  it('has the daemon refuse to listen in a directory others can write, leaving nothing there', async () => {
    const open = path.join(base, 'daemon-open');
    await mkdir(open);
    await chmod(open, 0o777);
    await assert.rejects(prepareSocketPath(path.join(open, 'vmregistry.sock')), (e: Error & { code?: string; field?: string }) =>
      e.code === 'FAILED_PRECONDITION' && e.field === 'socket' && /refusing to listen/.test(e.message));
    assert.deepEqual(await readdir(open), []);
    // A fresh directory is created and accepted.
    await prepareSocketPath(path.join(base, 'fresh', 'vmregistry.sock'));
  });

  it('has the daemon refuse a directory owned by another user', { skip: !isRoot && 'needs root to chown' }, async () => {
    const theirs = path.join(base, 'theirs');
    await mkdir(theirs, { mode: 0o755 });
    await chown(theirs, OTHER_UID, OTHER_UID);
    await assert.rejects(prepareSocketPath(path.join(theirs, 'vmregistry.sock')), /belongs to uid 12345/);
  });

  it('has `vmr login -p` refuse a /tmp/vmregistry-<uid> someone else made, sending nothing',
    { skip: !isRoot && 'needs root to run vmr as another uid' }, async () => {
      // TMPDIR=base for the CLI, so its per-uid default is base/vmregistry-12345 — made here by root.
      const dir = path.join(base, `vmregistry-${OTHER_UID}`);
      await mkdir(dir, { mode: 0o755 });
      const sock = path.join(dir, 'vmregistry.sock');
      let connections = 0;
      const impostor = net.createServer((c) => { connections++; c.destroy(); });
      await new Promise<void>((r) => impostor.listen(sock, r));
      await chmod(sock, 0o666);
      try {
        const r = await vmrAs(OTHER_UID, ['login', '-u', 'frank', '--password-stdin'], { TMPDIR: base }, 'hunter2-password\n');
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stderr, /refusing to use it: .*belongs to uid 0/);
        assert.equal(connections, 0, 'the CLI never connected to the impostor socket');
      } finally {
        await new Promise<void>((r) => impostor.close(() => r()));
      }
    });
});

function vmrAs(uid: number, args: string[], env: Record<string, string>, input: string) {
  return vmr(args, { env: { ...env, XDG_RUNTIME_DIR: undefined, HOME: os.tmpdir() }, input, timeoutMs: 60_000, uid });
}
