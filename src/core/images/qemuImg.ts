// qemu-img (Debian qemu-utils) is the authority on what a disk file really is.
import { execFile } from 'node:child_process';
import { FailedPreconditionError, InvalidArgumentError, fromSystemError } from '../errors.js';

export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  actualSize?: number;
  backingFilename?: string;
}

function run(args: string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('qemu-img', args, { maxBuffer: 4 << 20, signal }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new FailedPreconditionError('qemu-img is not installed; install the Debian package qemu-utils'));
      }
      if ((err as NodeJS.ErrnoException).code === 'ABORT_ERR') return reject(fromSystemError(err, 'qemu-img'));
      const msg = String(stderr || err.message).trim();
      if (/No space left/i.test(msg)) return reject(fromSystemError(Object.assign(new Error(msg), { code: 'ENOSPC' }), 'qemu-img'));
      reject(new InvalidArgumentError(`qemu-img ${args[0]} failed: ${msg}`));
    });
  });
}

/** Probes a file's real format (never trusting the name or the VMFile). */
export async function qemuImgInfo(file: string, signal?: AbortSignal): Promise<QemuImgInfo> {
  const out = await run(['info', '--output=json', '-U', file], signal);
  const j = JSON.parse(out) as { format: string; 'virtual-size': number; 'actual-size'?: number; 'backing-filename'?: string };
  return { format: j.format, virtualSize: j['virtual-size'], actualSize: j['actual-size'], backingFilename: j['backing-filename'] };
}

/**
 * Converts to a sparse raw or qcow2 file (qemu-img skips zero runs, so the output is sparse). `noBacking`: a
 * qcow2 source is opened with `backing: null`, so a backing file named inside it is never read (a file the
 * daemon reads in place may have changed since it was checked).
 */
export async function qemuImgConvert(src: string, srcFormat: string, dst: string, dstFormat: 'raw' | 'qcow2', signal?: AbortSignal, opts: { noBacking?: boolean } = {}): Promise<void> {
  if (opts.noBacking && srcFormat === 'qcow2') {
    const spec = `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: src } })}`;
    await run(['convert', '-q', '-O', dstFormat, spec, dst], signal);
    return;
  }
  await run(['convert', '-q', '-f', srcFormat, '-O', dstFormat, src, dst], signal);
}
