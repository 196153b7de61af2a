import { lstat, readdir } from 'node:fs/promises';
import { AlreadyExistsError, FailedPreconditionError, fromSystemError } from '../errors.js';
import type { OpenedHostDir } from '../hostfs/HostPaths.js';

/** Where an export goes: an entry of a directory opened (and checked against paths.export) by descriptor. */
export interface ExportTarget {
  dir: OpenedHostDir;
  name: string;
  /** As the client wrote it, for messages and the reply. */
  shown: string;
}

/** What is at the destination now: nothing, or an earlier export that `overwrite` may replace. */
export async function checkOutputPath(t: ExportTarget, overwrite: boolean, kind: 'dir' | 'file'): Promise<{ exists: boolean; isDir: boolean }> {
  const field = 'output_path';
  const p = t.dir.entry(t.name);
  let st;
  try {
    st = await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, isDir: false };
    throw fromSystemError(err, `"${t.shown}"`, field);
  }
  if (!overwrite) throw new AlreadyExistsError(`${t.shown} already exists; choose another output_path or ask to overwrite`, { field });
  if (st.isDirectory()) {
    // Overwrite replaces an earlier export, never an unrelated directory.
    const names = await readdir(p);
    if (kind === 'file' || (names.length > 0 && !names.includes('oci-layout'))) {
      throw new FailedPreconditionError(`${t.shown} is a directory that is not an OCI layout; refusing to replace it even with overwrite`, { field });
    }
    // Removing a tree someone else owns could be raced (a subdirectory swapped for a symlink mid-removal):
    // only an earlier export of this daemon (its own uid, dirs only it can write) is replaced.
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
      throw new FailedPreconditionError(`${t.shown} is a directory the daemon did not write; remove it yourself or choose another output_path`, { field });
    }
  } else if (kind === 'dir' || !st.isFile()) {
    throw new FailedPreconditionError(`${t.shown} exists and is not a ${kind === 'dir' ? 'directory' : 'regular file'}; refusing to replace it`, { field });
  }
  return { exists: true, isDir: st.isDirectory() };
}
