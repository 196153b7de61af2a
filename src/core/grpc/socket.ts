// Unix socket hygiene: a parent directory we control (owned by us or root, writable by nobody else),
// refuse when another daemon answers, remove a stale socket, then 0660 (+ optional group) once bound.
import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import { socketDirProblem } from './socketDir.js';

export async function prepareSocketPath(socket: string): Promise<void> {
  if (Buffer.byteLength(socket) > 107) throw new InvalidArgumentError(`socket path ${socket} is longer than the 107 bytes a Unix socket allows`, { field: 'socket' });
  const dir = path.dirname(socket);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new FailedPreconditionError(`cannot create the socket directory ${dir}: ${(err as Error).message} (choose another with --socket)`, { cause: err, field: 'socket' });
  }
  const uid = process.getuid?.() ?? 0;
  const problem = socketDirProblem(dir, uid === 0 ? [0] : [uid, 0]);
  if (problem) {
    // Not "fixed" by chmod/chown: a directory someone else made may already hold their socket or files.
    throw new FailedPreconditionError(`refusing to listen in ${dir}: ${problem}; someone else could swap the socket. ` +
      'Remove the directory (it is recreated safely) or choose another --socket', { field: 'socket' });
  }
  let st;
  try {
    st = await lstat(socket);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new FailedPreconditionError(`${socket} exists and is not a socket; remove it or choose another --socket`, { field: 'socket' });
  if (await answers(socket)) throw new AlreadyExistsError(`another vmregistryd is already listening on ${socket}`, { field: 'socket' });
  await unlink(socket);
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    const done = (v: boolean) => { c.destroy(); resolve(v); };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

export async function secureSocket(socket: string, group: string): Promise<void> {
  await chmod(socket, 0o660);
  if (!group) return;
  const gid = /^\d+$/.test(group) ? Number(group) : lookupGroup(group);
  await chown(socket, process.getuid?.() ?? 0, gid);
}

function lookupGroup(name: string): number {
  try {
    const line = execFileSync('getent', ['group', name], { encoding: 'utf8' });
    return Number(line.split(':')[2]);
  } catch {
    throw new InvalidArgumentError(`socket group "${name}" does not exist`, { field: 'socketGroup' });
  }
}
