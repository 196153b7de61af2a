// The VM's disk: a qcow2 overlay whose backing file is the image's raw base. Creating it writes a
// few hundred KiB of metadata, whatever the base's size, and the base is never written to.
import fs from 'node:fs/promises';
import { FailedPreconditionError } from '../../../plugin-api/index.js';
import { qcow2Overlay } from './qcow2Overlay.js';

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
  // A qcow2 overlay cannot be smaller than its backing disk; a smaller request (often a VMFile
  // default) keeps the image's size rather than failing every run.
  const size = Math.max(opts.sizeGb * GiB, baseSize);
  opts.signal?.throwIfAborted();
  // Private; its mode and group are then the caller's (VmFiles.secure): the overlay holds the guest's data.
  await fs.writeFile(opts.overlayPath, qcow2Overlay(opts.basePath, size), { flag: 'wx', mode: 0o600 });
}
