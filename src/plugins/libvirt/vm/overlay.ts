// The VM's disk: a qcow2 overlay whose backing file is the image's raw base. Creating it writes a
// few hundred KiB of metadata, whatever the base's size, and the base is never written to.
import fs from 'node:fs/promises';
import { FailedPreconditionError } from '../../../plugin-api/index.js';
import { run } from './exec.js';

const GiB = 1024 ** 3;

export async function createOverlay(opts: {
  basePath: string;
  overlayPath: string;
  /** Grow the virtual size to this many GiB; 0 (or less than the base) keeps the base's size. */
  sizeGb: number;
  signal?: AbortSignal;
}): Promise<void> {
  let baseSize: number;
  try {
    baseSize = (await fs.stat(opts.basePath)).size;
  } catch (err) {
    throw new FailedPreconditionError(
      `the image's base disk ${opts.basePath} is missing (${(err as Error).message}); pull or import the image again`,
      { cause: err },
    );
  }
  const args = ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', opts.basePath, opts.overlayPath];
  // A qcow2 overlay cannot be smaller than its backing disk; a smaller request (often a VMFile
  // default) keeps the image's size rather than failing every run.
  const want = opts.sizeGb * GiB;
  if (want > baseSize) args.push(String(want));
  // Its mode and group are the caller's (VmFiles.secure): the overlay holds the guest's data.
  await run('qemu-img', args, opts.signal);
}
