// qemu-img (Debian qemu-utils) measures disks, but never decides what a file is: diskHeader.ts does,
// from an allow-list, and qemu-img is then told the format and the `file` protocol through
// --image-opts, so no header can make it open another file.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError, fromSystemError } from '../errors.js';
import { checkQemuInfo, inspectDiskHeader, type AllowedDiskFormat } from './diskHeader.js';

export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  actualSize?: number;
  backingFilename?: string;
}

function run(args: string[], signal?: AbortSignal, extraFd?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-img', args, { signal, stdio: ['ignore', 'pipe', 'pipe', ...(extraFd === undefined ? [] : [extraFd])] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    child.stdout!.on('data', (b: Buffer) => { if ((outBytes += b.length) <= 4 << 20) out.push(b); });
    child.stderr!.on('data', (b: Buffer) => { if (err.length < 64) err.push(b); });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return reject(new FailedPreconditionError('qemu-img is not installed; install the Debian package qemu-utils'));
      reject(fromSystemError(e, 'qemu-img'));
    });
    child.on('close', (code) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      if (signal?.aborted) return reject(fromSystemError(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }), 'qemu-img'));
      const msg = Buffer.concat(err).toString('utf8').trim() || `exit code ${code}`;
      if (/No space left/i.test(msg)) return reject(fromSystemError(Object.assign(new Error(msg), { code: 'ENOSPC' }), 'qemu-img'));
      reject(new InvalidArgumentError(`qemu-img ${args[0]} failed: ${msg.slice(0, 512)}`));
    });
  });
}

/** `--image-opts` for a local file read as exactly `format` (commas in option values are doubled). */
export function imageOpts(file: string, format: AllowedDiskFormat): string {
  return `driver=${format},file.driver=file,file.filename=${file.replace(/,/g, ',,')}`;
}

/**
 * The file's real format and size. The header is checked first (diskHeader.ts); a file that names any
 * other file, or is not raw or qcow2, is INVALID_ARGUMENT naming the header field.
 */
export async function qemuImgInfo(file: string, signal?: AbortSignal): Promise<QemuImgInfo> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  let out: string;
  let format: AllowedDiskFormat;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new InvalidArgumentError('the disk is not a regular file', { field: 'spec.disk.path' });
    format = (await inspectDiskHeader(fh, st.size)).format;
    // qemu-img reads the descriptor we checked (as its fd 3), not the path: a file swapped in meanwhile is not seen.
    out = await run(['info', '--output=json', '-U', '--image-opts', imageOpts('/dev/fd/3', format)], signal, fh.fd);
  } finally {
    await fh.close();
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(out) as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError('qemu-img info printed no JSON for the disk', { field: 'spec.disk.path' });
  }
  checkQemuInfo(j, format);
  return { format, virtualSize: Number(j['virtual-size']), actualSize: j['actual-size'] as number | undefined };
}

/**
 * Converts to a sparse raw or qcow2 file (qemu-img skips zero runs). The source is read as exactly
 * `srcFormat` through the file protocol only; a qcow2 source is opened with `backing: null`, so even a
 * header rewritten after it was checked cannot make qemu-img read another file through a backing chain.
 * `dst` may be an opened file's descriptor, which qemu-img writes as /dev/fd/3.
 */
export async function qemuImgConvert(src: string, srcFormat: string, dst: string | number, dstFormat: 'raw' | 'qcow2', signal?: AbortSignal): Promise<void> {
  if (srcFormat !== 'raw' && srcFormat !== 'qcow2') throw new InvalidArgumentError(`cannot convert from ${srcFormat}; only raw and qcow2 are read`, { field: 'spec.disk.format' });
  const target = typeof dst === 'number' ? '/dev/fd/3' : dst;
  const fd = typeof dst === 'number' ? dst : undefined;
  if (srcFormat === 'qcow2') {
    const spec = `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: src } })}`;
    await run(['convert', '-q', '-O', dstFormat, spec, target], signal, fd);
    return;
  }
  await run(['convert', '-q', '--image-opts', imageOpts(src, srcFormat), '-O', dstFormat, target], signal, fd);
}
