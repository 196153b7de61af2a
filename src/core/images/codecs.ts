// Window codecs. zstd runs as the system binary (Debian `zstd`) in a child process: Node 20's zlib
// has no zstd, and the npm zstd bindings need native build scripts (see bench/README.md).
// gzip uses Node's zlib. Each window is an independent frame, so windows (de)compress in parallel.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';

export interface Codec {
  /** The suffix of the layer media type (`…disk.v1.raw+<name>`). */
  readonly name: string;
  /** `threads`: workers inside one frame (zstd -T; the output is the same for any count ≥ 1). */
  compress(level?: number, threads?: number): Duplex;
  decompress(): Duplex;
}

export const DEFAULT_CODEC = 'zstd';
export const DEFAULT_LEVEL = 2; // chosen by bench/codecs.ts: see bench/README.md

/** A child process as a Duplex; a non-zero exit (or a missing binary) errors the stream. */
export function childDuplex(cmd: string, args: string[], pkg: string): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { if (stderr.length < 4096) stderr += s; });
  const d = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (err) => {
    d.destroy((err as NodeJS.ErrnoException).code === 'ENOENT'
      ? new FailedPreconditionError(`${cmd} is not installed; install the Debian package ${pkg}`)
      : err);
  });
  child.on('close', (code, sig) => {
    if (code !== 0 && !d.destroyed) d.destroy(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? sig}: ${stderr.trim()}`));
  });
  // An early stop downstream (zero window, cancel) must not leave the child running.
  d.on('close', () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  // EPIPE on stdin after a kill is expected; the 'close' handler above reports real failures.
  child.stdin.on('error', () => {});
  return d;
}

const zstd: Codec = {
  name: 'zstd',
  compress: (level = 3, threads = 1) => childDuplex('zstd', [`-${level}`, `-T${Math.max(1, Math.floor(threads))}`, '-q', '-c', '--no-progress'], 'zstd'),
  decompress: () => childDuplex('zstd', ['-d', '-q', '-c', '--no-progress'], 'zstd'),
};

const gzip: Codec = {
  name: 'gzip',
  compress: (level = 1) => createGzip({ level, chunkSize: 1 << 20 }),
  decompress: () => createGunzip({ chunkSize: 1 << 20 }),
};

const CODECS: Record<string, Codec> = { zstd, gzip };

export function codecByName(name: string): Codec {
  const c = CODECS[name];
  if (!c) throw new InvalidArgumentError(`unknown disk codec "${name}"; supported: ${Object.keys(CODECS).join(', ')}`);
  return c;
}
