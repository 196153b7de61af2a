// The store's side of a containerDisk pull: the producer (the registry plugin) extracts the disk into
// the import's work dir; here its header decides the format exactly as for `vmr import` (diskHeader.ts:
// raw, or qcow2 without backing/external files), the VMFile is validated, and the disk is stored in our
// format. A raw disk becomes the base disk as it lies (no copy); a qcow2 is converted once.
import { open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError } from '../../errors.js';
import type { CallContext } from '../../ports/common.js';
import type { ImageOrigin, LocalImage, ProducedDisk, VMFile } from '../../ports/images.js';
import { insideDir } from '../../hostfs/HostPaths.js';
import { assertDiskFits } from '../coverage.js';
import { inspectDiskHeader, qcow2VirtualSize } from '../diskHeader.js';
import { qemuImgConvert } from '../qemuImg.js';
import { assertValidVMFile, checkVMFile } from '../validateVMFile.js';

export type StoreDisk = (disk: { source: string; raw: string }, virtualSize: number, vmfile: VMFile, sourceFormat: string, origin: ImageOrigin) => Promise<LocalImage>;

/** `maxDiskSize`: the store's cap (assertDiskFits), checked on the header before a qcow2 is converted. */
export async function importProducedDisk(work: string, produce: (workDir: string) => Promise<ProducedDisk>, ctx: CallContext, storeDisk: StoreDisk,
  maxDiskSize?: number): Promise<LocalImage> {
  const d = await produce(work);
  if (!insideDir(work, path.resolve(d.file))) throw new FailedPreconditionError(`the produced disk ${d.file} is not inside the import's work dir`);
  const fh = await open(d.file, 'r');
  let format: 'raw' | 'qcow2';
  let virtualSize: number;
  try {
    const size = (await fh.stat()).size;
    ({ format } = await inspectDiskHeader(fh, size));
    virtualSize = format === 'qcow2' ? await qcow2VirtualSize(fh) : size;
  } finally {
    await fh.close();
  }
  assertDiskFits(virtualSize, maxDiskSize, `the ${format} disk of ${d.origin.reference}`);
  const vmfile = structuredClone(d.vmfile);
  vmfile.spec.disk.format = format;
  vmfile.spec.disk.path ||= path.posix.basename(d.origin.path ?? 'disk');
  const checked = checkVMFile(vmfile);
  assertValidVMFile({ vmfile, errors: checked.errors }, `the VMFile made for ${d.origin.reference}`);
  if (format === 'raw') return storeDisk({ source: d.file, raw: d.file }, virtualSize, vmfile, 'raw', d.origin);
  const raw = path.join(work, 'disk.raw');
  ctx.progress?.({ phase: 'convert', current: 0, total: virtualSize, unit: 'bytes' });
  await qemuImgConvert(d.file, 'qcow2', raw, 'raw', ctx.signal);
  await rm(d.file, { force: true }); // free the space before compressing
  const got = (await stat(raw)).size;
  if (got !== virtualSize) throw new FailedPreconditionError(`the converted disk has ${got} bytes, its qcow2 header says ${virtualSize}; nothing was stored`);
  return storeDisk({ source: raw, raw }, virtualSize, vmfile, 'qcow2', d.origin);
}
