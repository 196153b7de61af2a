// Export: an OCI layout (dir or tar) that skopeo/oras can push as is, or the bare disk — written into a
// directory the daemon opened and checked against paths.export, or streamed to the client.
// Everything is built in a private temp entry beside the destination (reached through the directory's
// descriptor) and renamed into place, so a failed export leaves nothing at output_path and an overwrite
// replaces the old one only once the new one is complete.
import { spawn } from 'node:child_process';
import { constants, createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, open, rename, rm, stat, symlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { CallContext } from '../ports/common.js';
import type { LocalImage } from '../ports/images.js';
import { fromSystemError, throwIfAborted } from '../errors.js';
import { fdPath } from '../hostfs/HostPaths.js';
import { fsyncDir, writeFileAtomic } from './atomicFile.js';
import { hexOf } from './digest.js';
import { ANN_REF_NAME, OCI_INDEX, OCI_MANIFEST } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import type { ExportTarget } from './outputPath.js';
import { byteProgress } from './progress.js';
import { qemuImgConvert } from './qemuImg.js';

const descriptorsOf = (img: LocalImage) => [{ digest: img.digest, size: img.manifestBytes.length }, img.manifest.config, ...img.manifest.layers];

function layoutFiles(img: LocalImage): { layout: string; index: string } {
  return {
    layout: JSON.stringify({ imageLayoutVersion: '1.0.0' }),
    index: JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{
        mediaType: OCI_MANIFEST,
        digest: img.digest,
        size: img.manifestBytes.length,
        ...(img.manifest.artifactType ? { artifactType: img.manifest.artifactType } : {}),
        annotations: { [ANN_REF_NAME]: img.reference },
      }],
    }, null, 2),
  };
}

/** A layout with blob copies (what the user gets as a directory). `dir` is reached through a descriptor. */
async function writeLayout(content: OciContentStore, img: LocalImage, dir: string, ctx: CallContext): Promise<number> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true, mode: 0o755 });
  const descs = descriptorsOf(img);
  const p = byteProgress(ctx, 'export', descs.reduce((a, d) => a + d.size, 0), img.reference);
  let size = 0;
  for (const d of descs) {
    throwIfAborted(ctx.signal);
    // A reflink where the filesystem can, a copy otherwise; never a hard link (the export is the user's to change).
    await copyFile(content.blobPath(d.digest), path.join(blobs, hexOf(d.digest)), constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
    size += d.size;
    p.add(d.size);
  }
  const { layout, index } = layoutFiles(img);
  await writeFileAtomic(path.join(dir, 'oci-layout'), layout);
  await writeFileAtomic(path.join(dir, 'index.json'), index);
  p.done();
  return size + layout.length + index.length;
}

/** A layout of symlinks into the store under the daemon's own tmp dir: `tar -h` reads it without copying blobs. */
async function stageLayout(content: OciContentStore, img: LocalImage, stage: string): Promise<number> {
  const blobs = path.join(stage, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true, mode: 0o700 });
  let size = 0;
  for (const d of descriptorsOf(img)) {
    await symlink(content.blobPath(d.digest), path.join(blobs, hexOf(d.digest)));
    size += d.size;
  }
  const { layout, index } = layoutFiles(img);
  await writeFileAtomic(path.join(stage, 'oci-layout'), layout);
  await writeFileAtomic(path.join(stage, 'index.json'), index);
  return size + layout.length + index.length;
}

const tempEntry = (name: string) => `.${name.slice(0, 64)}.${randomUUID().slice(0, 12)}.tmp`;

/** Creates a private temp dir in the target dir and opens it, so what is written inside cannot be redirected. */
async function openTempDir(t: ExportTarget): Promise<{ name: string; fh: FileHandle }> {
  const name = tempEntry(t.name);
  await mkdir(t.dir.entry(name), { mode: 0o700 });
  const fh = await open(t.dir.entry(name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  return { name, fh };
}

/** A new temp file in the target dir, created exclusively (never an existing file, never through a symlink). */
async function openTempFile(t: ExportTarget): Promise<{ name: string; fh: FileHandle }> {
  const name = tempEntry(t.name);
  const fh = await open(t.dir.entry(name), constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  return { name, fh };
}

/** Moves the finished temp entry over the destination: rename replaces the entry, never what a symlink there points to. */
async function publish(t: ExportTarget, tmpName: string, existed: { exists: boolean; isDir: boolean }): Promise<void> {
  if (existed.exists && existed.isDir) {
    // Move the old layout aside first (rename acts on the entry, whatever it is by now), then remove it.
    const old = tempEntry(t.name);
    await rename(t.dir.entry(t.name), t.dir.entry(old));
    await rename(t.dir.entry(tmpName), t.dir.entry(t.name));
    await rm(t.dir.entry(old), { recursive: true, force: true });
  } else {
    await rename(t.dir.entry(tmpName), t.dir.entry(t.name));
  }
  await fsyncDir(t.dir.fdPath);
}

export async function exportLayout(content: OciContentStore, img: LocalImage, t: ExportTarget, out: { exists: boolean; isDir: boolean }, ctx: CallContext): Promise<number> {
  let tmp: { name: string; fh: FileHandle } | undefined;
  try {
    tmp = await openTempDir(t);
    const size = await writeLayout(content, img, fdPath(tmp.fh), ctx);
    await tmp.fh.chmod(0o755);
    await publish(t, tmp.name, out);
    return size;
  } catch (err) {
    if (tmp) await rm(t.dir.entry(tmp.name), { recursive: true, force: true }).catch(() => undefined);
    throw fromSystemError(err, `exporting ${img.reference} to ${t.shown}`, 'output_path');
  } finally {
    await tmp?.fh.close().catch(() => undefined);
  }
}

/** tar of a staged layout, to a descriptor or to a pipe. */
function tar(stage: string, stdout: number | 'pipe', signal: AbortSignal) {
  return spawn('tar', ['--owner=0', '--group=0', '--numeric-owner', '-chf', '-', '-C', stage, 'oci-layout', 'index.json', 'blobs'],
    { stdio: ['ignore', stdout, 'pipe'], signal });
}

function waitExit(child: ReturnType<typeof spawn>): Promise<void> {
  const err: Buffer[] = [];
  child.stderr?.on('data', (b: Buffer) => { if (err.length < 16) err.push(b); });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => code === 0 ? resolve() : reject(new Error(`${String(child.spawnfile)} exited with ${code}: ${Buffer.concat(err).toString().trim().slice(0, 300)}`)));
  });
}

export async function exportArchive(content: OciContentStore, img: LocalImage, t: ExportTarget, out: { exists: boolean; isDir: boolean }, workDir: string, ctx: CallContext): Promise<number> {
  const stage = path.join(workDir, `export-${randomUUID()}`);
  let tmp: { name: string; fh: FileHandle } | undefined;
  try {
    const total = await stageLayout(content, img, stage);
    ctx.progress?.({ phase: 'export', current: 0, total, unit: 'bytes', item: img.reference });
    tmp = await openTempFile(t);
    await waitExit(tar(stage, tmp.fh.fd, ctx.signal));
    await tmp.fh.sync();
    await tmp.fh.chmod(0o644);
    const size = (await tmp.fh.stat()).size;
    await publish(t, tmp.name, out);
    ctx.progress?.({ phase: 'export', current: total, total, unit: 'bytes', item: img.reference });
    return size;
  } catch (err) {
    if (tmp) await rm(t.dir.entry(tmp.name), { force: true }).catch(() => undefined);
    throw fromSystemError(err, `exporting ${img.reference} to ${t.shown}`, 'output_path');
  } finally {
    await tmp?.fh.close().catch(() => undefined);
    await rm(stage, { recursive: true, force: true });
  }
}

export async function exportDisk(baseDisk: string, format: 'raw' | 'qcow2', t: ExportTarget, out: { exists: boolean; isDir: boolean }, ctx: CallContext): Promise<number> {
  let tmp: { name: string; fh: FileHandle } | undefined;
  try {
    ctx.progress?.({ phase: 'export', current: 0, total: 0, unit: 'bytes', message: `converting to ${format}` });
    tmp = await openTempFile(t);
    await qemuImgConvert(baseDisk, 'raw', tmp.fh.fd, format, ctx.signal);
    await tmp.fh.sync();
    await tmp.fh.chmod(0o644);
    const size = (await tmp.fh.stat()).size;
    await publish(t, tmp.name, out);
    return size;
  } catch (err) {
    if (tmp) await rm(t.dir.entry(tmp.name), { force: true }).catch(() => undefined);
    throw fromSystemError(err, `exporting the disk to ${t.shown}`, 'output_path');
  } finally {
    await tmp?.fh.close().catch(() => undefined);
  }
}

/** The bytes of an export, for ExportImageStream: an OCI archive or a disk, produced in the daemon's tmp dir. */
export interface ExportBytes {
  /** Bytes that will follow when known in advance (disks); 0 for a tar. */
  size: number;
  chunks: AsyncIterable<Buffer>;
  /** Frees what the export holds (temp files, a tar process); idempotent, also run when `chunks` ends. */
  dispose(): Promise<void>;
}

function once<T>(fn: () => Promise<T>): () => Promise<T | undefined> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

export async function archiveStream(content: OciContentStore, img: LocalImage, workDir: string, ctx: CallContext): Promise<ExportBytes> {
  const stage = path.join(workDir, `export-${randomUUID()}`);
  try {
    await stageLayout(content, img, stage);
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    throw fromSystemError(err, `staging ${img.reference}`);
  }
  let child: ReturnType<typeof tar> | undefined;
  const dispose = once(async () => {
    if (child && child.exitCode === null) child.kill();
    await rm(stage, { recursive: true, force: true });
  });
  async function* chunks(): AsyncIterable<Buffer> {
    child = tar(stage, 'pipe', ctx.signal);
    const exited = waitExit(child);
    exited.catch(() => undefined);
    try {
      for await (const b of child.stdout!) yield b as Buffer;
      await exited;
    } catch (err) {
      throw fromSystemError(err, `archiving ${img.reference}`);
    } finally {
      await dispose();
    }
  }
  return { size: 0, chunks: chunks(), dispose: async () => { await dispose(); } };
}

export async function diskStream(baseDisk: string, format: 'raw' | 'qcow2', workDir: string, ctx: CallContext): Promise<ExportBytes> {
  let file = baseDisk;
  let cleanup = async () => {};
  if (format !== 'raw') {
    file = path.join(workDir, `export-${randomUUID()}.${format}`);
    cleanup = () => rm(file, { force: true });
    try {
      ctx.progress?.({ phase: 'convert', current: 0, total: 0, unit: 'bytes', message: `converting to ${format}` });
      await qemuImgConvert(baseDisk, 'raw', file, format, ctx.signal);
      await chmod(file, 0o600);
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
  const dispose = once(cleanup);
  const size = (await stat(file)).size;
  async function* chunks(): AsyncIterable<Buffer> {
    const rs = createReadStream(file, { highWaterMark: 1 << 20, signal: ctx.signal });
    try {
      for await (const b of rs) yield b as Buffer;
    } finally {
      rs.destroy();
      await dispose();
    }
  }
  return { size, chunks: chunks(), dispose: async () => { await dispose(); } };
}
