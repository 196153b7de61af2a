// ImportImageFile's entry: a VMFile and its disk on the daemon's host, each opened once under
// paths.import (hostfs/HostPaths.ts), checked before anything is read (regular file, size), and read
// from then on through the descriptor only.
import path from 'node:path';
import { InvalidArgumentError, throwIfAborted } from '../errors.js';
import { insideDir, type HostPaths, type OpenedHostFile } from '../hostfs/HostPaths.js';
import type { VMFile } from '../ports/images.js';
import { MAX_VMFILE_BYTES, assertValidVMFile, parseVMFile } from './validateVMFile.js';

export interface HostImport {
  vmfile: VMFile;
  disk: OpenedHostFile;
}

/** Reads at most `max` bytes of an opened file, stopping between blocks when `signal` fires. */
async function readBounded(f: OpenedHostFile, max: number, signal: AbortSignal): Promise<Buffer> {
  const buf = Buffer.alloc(Math.min(f.size, max) + 1);
  let n = 0;
  while (n < buf.length) {
    throwIfAborted(signal);
    const { bytesRead } = await f.fh.read(buf, n, Math.min(buf.length - n, 64 * 1024), n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  if (n > max) throw new InvalidArgumentError(`the VMFile grew past ${max} bytes while being read`, { field: 'vmfile_path' });
  return buf.subarray(0, n);
}

export async function openHostImport(hostPaths: HostPaths, vmfilePath: string, opts: { allowOutsidePaths?: boolean; signal: AbortSignal }): Promise<HostImport> {
  const vf = await hostPaths.openForRead(vmfilePath, 'vmfile_path', { maxBytes: MAX_VMFILE_BYTES });
  let vmfile: VMFile;
  try {
    const text = (await readBounded(vf, MAX_VMFILE_BYTES, opts.signal)).toString('utf8');
    vmfile = assertValidVMFile(parseVMFile(text), vmfilePath.slice(0, 256));
  } finally {
    await vf.close();
  }
  const field = 'spec.disk.path';
  const rel = vmfile.spec.disk.path;
  if (!rel) throw new InvalidArgumentError('spec.disk.path is required to import from the daemon host', { field });
  if (rel.includes('\0')) throw new InvalidArgumentError('spec.disk.path must not contain NUL', { field });
  // Relative to the directory the VMFile really is in (its descriptor said where).
  const base = path.dirname(vf.realPath);
  const abs = path.resolve(base, rel);
  const within = (p: string) => insideDir(base, p) && p !== base;
  if (!opts.allowOutsidePaths && !within(abs)) {
    throw new InvalidArgumentError(`spec.disk.path "${rel.slice(0, 256)}" leaves the VMFile's directory; move the disk beside the VMFile or allow outside paths`, { field });
  }
  const disk = await hostPaths.openForRead(abs, field);
  if (!opts.allowOutsidePaths && !within(disk.realPath)) {
    await disk.close();
    throw new InvalidArgumentError(`spec.disk.path "${rel.slice(0, 256)}" resolves (through a symlink) outside the VMFile's directory`, { field });
  }
  if (disk.size === 0) {
    await disk.close();
    throw new InvalidArgumentError(`spec.disk.path "${rel.slice(0, 256)}" is empty`, { field });
  }
  return { vmfile, disk };
}
