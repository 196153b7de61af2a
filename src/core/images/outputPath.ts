import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors.js';

/** Checks an export destination: absolute, no `..`, parent exists, no overwrite unless asked. */
export async function checkOutputPath(p: string, overwrite: boolean, kind: 'dir' | 'file'): Promise<{ exists: boolean; isDir: boolean }> {
  const field = 'output_path';
  if (!p || p.includes('\0')) throw new InvalidArgumentError('output_path is required and must not contain NUL', { field });
  if (!path.isAbsolute(p)) throw new InvalidArgumentError(`output_path "${p}" must be absolute (it is a path on the daemon's host)`, { field });
  if (p.split(/[\\/]+/).includes('..')) throw new InvalidArgumentError(`output_path "${p}" must not contain ".." segments`, { field });
  if (path.resolve(p) === path.parse(p).root) throw new InvalidArgumentError('output_path must not be the filesystem root', { field });
  try {
    const st = await lstat(path.dirname(p));
    if (!st.isDirectory()) throw new InvalidArgumentError(`the parent of output_path (${path.dirname(p)}) is not a directory`, { field });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`the directory ${path.dirname(p)} does not exist; create it first`);
    throw err;
  }
  try {
    const st = await lstat(p);
    if (!overwrite) throw new AlreadyExistsError(`${p} already exists; choose another output_path or ask to overwrite`);
    if (st.isDirectory()) {
      // Overwrite replaces an earlier export, never an unrelated directory.
      const names = await readdir(p);
      if (kind === 'file' || (names.length > 0 && !names.includes('oci-layout'))) {
        throw new FailedPreconditionError(`${p} is a directory that is not an OCI layout; refusing to replace it even with overwrite`);
      }
    } else if (kind === 'dir' || !st.isFile()) {
      throw new FailedPreconditionError(`${p} exists and is not a ${kind === 'dir' ? 'directory' : 'regular file'}; refusing to replace it`);
    }
    return { exists: true, isDir: st.isDirectory() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, isDir: false };
    throw err;
  }
}
