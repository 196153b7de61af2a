// Export: an OCI layout (dir or tar) that skopeo/oras can push as is, or the bare disk.
// Everything is built beside the destination and renamed into place, so a failed export leaves
// nothing at output_path (and an overwrite replaces the old one only once the new one is complete).
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CallContext } from '../ports/common.js';
import type { LocalImage } from '../ports/images.js';
import { fromSystemError, throwIfAborted } from '../errors.js';
import { tempName, writeFileAtomic } from './atomicFile.js';
import { hexOf } from './digest.js';
import { ANN_REF_NAME, OCI_INDEX, OCI_MANIFEST } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import { byteProgress } from './progress.js';
import { qemuImgConvert } from './qemuImg.js';

const pexec = promisify(execFile);

async function writeLayout(content: OciContentStore, img: LocalImage, dir: string, ctx: CallContext): Promise<number> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true, mode: 0o755 });
  const descs = [{ digest: img.digest, size: img.manifestBytes.length }, img.manifest.config, ...img.manifest.layers];
  const p = byteProgress(ctx, 'export', descs.reduce((a, d) => a + d.size, 0), img.reference);
  let size = 0;
  for (const d of descs) {
    throwIfAborted(ctx.signal);
    // A reflink where the filesystem can, a copy otherwise; never a hard link (the export is the user's to change).
    await copyFile(content.blobPath(d.digest), path.join(blobs, hexOf(d.digest)), constants.COPYFILE_FICLONE);
    size += d.size;
    p.add(d.size);
  }
  const layout = JSON.stringify({ imageLayoutVersion: '1.0.0' });
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{
      mediaType: OCI_MANIFEST,
      digest: img.digest,
      size: img.manifestBytes.length,
      ...(img.manifest.artifactType ? { artifactType: img.manifest.artifactType } : {}),
      annotations: { [ANN_REF_NAME]: img.reference },
    }],
  }, null, 2);
  await writeFileAtomic(path.join(dir, 'oci-layout'), layout);
  await writeFileAtomic(path.join(dir, 'index.json'), index);
  p.done();
  return size + layout.length + index.length;
}

async function replace(tmp: string, outputPath: string, existed: boolean): Promise<void> {
  if (existed) await rm(outputPath, { recursive: true, force: true });
  await rename(tmp, outputPath);
}

export async function exportLayout(content: OciContentStore, img: LocalImage, outputPath: string, out: { exists: boolean }, ctx: CallContext): Promise<number> {
  const tmp = tempName(path.dirname(outputPath), path.basename(outputPath));
  try {
    const size = await writeLayout(content, img, tmp, ctx);
    await replace(tmp, outputPath, out.exists);
    return size;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw fromSystemError(err, `exporting ${img.reference} to ${outputPath}`);
  }
}

export async function exportArchive(content: OciContentStore, img: LocalImage, outputPath: string, out: { exists: boolean }, ctx: CallContext): Promise<number> {
  const dir = tempName(path.dirname(outputPath), path.basename(outputPath) + '.d');
  const tar = tempName(path.dirname(outputPath), path.basename(outputPath));
  try {
    await writeLayout(content, img, dir, ctx);
    await pexec('tar', ['-cf', tar, '-C', dir, 'oci-layout', 'index.json', 'blobs'], { signal: ctx.signal });
    await replace(tar, outputPath, out.exists);
    return (await stat(outputPath)).size;
  } catch (err) {
    await rm(tar, { force: true });
    throw fromSystemError(err, `exporting ${img.reference} to ${outputPath}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function exportDisk(baseDisk: string, format: 'raw' | 'qcow2', outputPath: string, out: { exists: boolean }, ctx: CallContext): Promise<number> {
  const tmp = tempName(path.dirname(outputPath), path.basename(outputPath));
  try {
    ctx.progress?.({ phase: 'export', current: 0, total: 0, unit: 'bytes', message: `converting to ${format}` });
    await qemuImgConvert(baseDisk, 'raw', tmp, format, ctx.signal);
    await replace(tmp, outputPath, out.exists);
    return (await stat(outputPath)).size;
  } catch (err) {
    await rm(tmp, { force: true });
    throw fromSystemError(err, `exporting the disk to ${outputPath}`);
  }
}
