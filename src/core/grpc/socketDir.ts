// Whether a socket's directory can be trusted: a real directory (not a symlink), owned by a trusted uid,
// writable by nobody else. Otherwise whoever controls it can swap the socket — the daemon would serve in a
// place someone else prepared, and a CLI would hand `vmr login -p` passwords to an impostor. Kept free of
// other imports: the CLI uses it too.
import { lstatSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Why `dir` cannot hold our socket, or undefined when it is safe (or absent: the caller creates it). */
export function socketDirProblem(dir: string, trustedUids: readonly number[]): string | undefined {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `cannot inspect ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  if (st.isSymbolicLink()) return `${dir} is a symbolic link`;
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (!trustedUids.includes(st.uid)) return `${dir} belongs to uid ${st.uid}, not to ${trustedUids.map((u) => `uid ${u}`).join(' or ')}`;
  // A sticky root-owned directory (/tmp itself) is fine: others cannot remove or rename what we put there.
  const stickyRoot = st.uid === 0 && (st.mode & 0o1000) !== 0;
  if (st.mode & 0o022 && !stickyRoot) return `${dir} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

/** The per-uid directory under the temp dir used when XDG_RUNTIME_DIR is unset (a name anyone can guess). */
export function tmpSocketDir(uid: number): string {
  return path.join(os.tmpdir(), `vmregistry-${uid}`);
}
