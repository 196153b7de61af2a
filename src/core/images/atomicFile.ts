// Crash-safe file replacement: a reader sees the old file or the complete new one, never a part.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a directory so a rename inside it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function tempName(dir: string, base: string): string {
  return path.join(dir, `.${base}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to a temp file beside `file`, fsyncs, renames over `file`, fsyncs the directory. */
export async function writeFileAtomic(file: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = tempName(dir, path.basename(file));
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}
