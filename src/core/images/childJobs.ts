// Window (de)compression as child processes that read and write the files themselves (issue 17):
// `dd | zstd` compresses a window of a disk straight into its blob file, and `zstd -d` decompresses a
// stored blob straight into the base disk at its offset, sparse. On 2 cores every byte the event loop
// does not copy, hash or push through a pipe in 64 KiB pieces is CPU zstd gets instead. Imports use
// `dd | zstd` only when the in-process binding was not built (nativeZstd.ts, windows.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DataLossError, FailedPreconditionError } from '../errors.js';

/** A running (de)compression. */
export interface CodecRun {
  /** Bytes read (compression) or written (decompression). Rejects on any failure. */
  done: Promise<number>;
  /** Stops it (cancel, a failed transfer); `done` rejects. */
  kill(): void;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** A child with its stdin/stdout as given (a file descriptor, another child's stdout, or ignored); stderr is kept. */
function run(cmd: string, args: string[], stdio: [number | 'ignore', number | 'pipe', 'pipe'] | [Readable, number, 'pipe'], pkg: string): { child: ChildProcess; exit: Promise<Exit> } {
  const child = spawn(cmd, args, { stdio, env: { ...process.env, LC_ALL: 'C' } });
  let stderr = '';
  // The end matters (zstd's byte count comes last): keep the last 4 KiB.
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4096); });
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on('error', (err) => reject((err as NodeJS.ErrnoException).code === 'ENOENT'
      ? new FailedPreconditionError(`${cmd} is not installed; install the Debian package ${pkg}`)
      : err));
    child.on('close', (code, signal) => resolve({ code, signal, stderr: stderr.trim() }));
  });
  exit.catch(() => undefined);
  // EPIPE on stdin after the child stopped is reported through its exit, not here.
  child.stdin?.on('error', () => {});
  return { child, exit };
}

const failed = (e: Exit) => e.code !== 0;
const describe = (cmd: string, e: Exit) => `${cmd} exited with ${e.code ?? e.signal}${e.stderr ? `: ${e.stderr}` : ''}`;

/** A child's failure as an error; a full disk keeps its errno so it maps to RESOURCE_EXHAUSTED. */
function exitError(cmd: string, e: Exit): Error {
  const err = new Error(describe(cmd, e));
  if (/No space left on device/i.test(e.stderr)) Object.assign(err, { code: 'ENOSPC' });
  else if (/Disk quota exceeded/i.test(e.stderr)) Object.assign(err, { code: 'EDQUOT' });
  return err;
}

/**
 * `dd | zstd -<level> -T<threads>`: `size` bytes of `source` from `offset` compressed into the open file
 * `outFd`. dd reads the file itself (its own open of it) and hands zstd the bytes over a pipe between
 * the two children: the daemon moves none of them. Resolves with the bytes dd read.
 */
export async function zstdCompressRange(source: string, offset: number, size: number, outFd: number, level: number, threads: number): Promise<CodecRun> {
  const src = await open(source, 'r');
  const d = run('dd', ['bs=1M', 'iflag=skip_bytes,count_bytes,fullblock', `skip=${offset}`, `count=${size}`], [src.fd, 'pipe', 'pipe'], 'coreutils');
  // One thread is --single-thread, not -T1 (zstd's multi-threaded mode with one worker, which writes other bytes): the
  // binding compresses single-threaded then too, and a window must come out the same either way — its blob's digest,
  // hence the image's, must not depend on whether the daemon was built with the binding.
  const mode = threads > 1 ? `-T${Math.floor(threads)}` : '--single-thread';
  const z = run('zstd', [`-${level}`, mode, '-q', '-c', '--no-progress'], [d.child.stdout!, outFd, 'pipe'], 'zstd');
  // zstd has its own copy of the pipe; ours would keep dd writing if zstd stopped.
  d.child.stdout!.destroy();
  const kill = () => {
    d.child.kill('SIGKILL');
    z.child.kill('SIGKILL');
  };
  const done = Promise.all([d.exit, z.exit]).finally(() => src.close()).then(([de, ze]) => {
    if (failed(ze)) throw exitError('zstd', ze);
    if (failed(de)) throw exitError('dd', de);
    const m = /^(\d+) bytes/m.exec(de.stderr);
    if (!m) throw new Error(`dd reported no byte count: ${de.stderr}`);
    return Number(m[1]);
  }, (err: unknown) => {
    kill();
    throw err;
  });
  done.catch(() => undefined);
  return { done, kill };
}

/**
 * `zstd -d` of the stored blob `blob` (a path, or a handle at the blob's start that this run closes) straight into
 * `file` at `offset`. zstd reads the blob file itself (its stdin) and its stdout is our own open file description of
 * `file`, which a `dd count=0 seek=` child first moves to the offset (Node has no lseek); with `sparse` zstd seeks
 * over zero blocks instead of writing them. zstd runs under RLIMIT_FSIZE = the window's end (prlimit): the kernel
 * stops it at the first byte past its window, so nothing spills into the next window and a blob that decompresses to
 * far more than its annotation says (a bomb) cannot fill the disk. zstd checks each frame's checksum and reports how
 * many bytes it wrote: exactly `size`, else DATA_LOSS.
 */
export async function zstdDecompressInto(blob: string | FileHandle, file: string, offset: number, size: number, sparse: boolean, what: string): Promise<CodecRun> {
  const src = typeof blob === 'string' ? await open(blob, 'r') : blob;
  let out: Awaited<ReturnType<typeof open>> | undefined;
  try {
    out = await open(file, 'r+');
    const seek = run('dd', ['count=0', 'oflag=seek_bytes', `seek=${offset}`, 'conv=notrunc', 'status=none'], ['ignore', out.fd, 'pipe'], 'coreutils');
    const e = await seek.exit;
    if (failed(e)) throw exitError('dd', e);
  } catch (err) {
    await src.close();
    await out?.close();
    throw err;
  }
  const dst = out;
  const z = run('prlimit', [`--fsize=${offset + size}`, 'zstd', '-d', '-v', '--no-progress', '-c', sparse ? '--sparse' : '--no-sparse'], [src.fd, dst.fd, 'pipe'], 'util-linux');
  const done = z.exit.finally(() => Promise.all([src.close(), dst.close()])).then((ze) => {
    if (/failed to execute zstd/.test(ze.stderr)) throw new FailedPreconditionError('zstd is not installed; install the Debian package zstd');
    const m = /:\s*(\d+) bytes\s*$/m.exec(ze.stderr);
    const bytes = m ? Number(m[1]) : undefined;
    if (ze.signal === 'SIGXFSZ' || (bytes !== undefined && bytes > size)) throw new DataLossError(`${what} decompresses to more than ${size} bytes`);
    if (failed(ze)) throw new DataLossError(`${what} does not decompress: ${describe('zstd', ze)}`);
    if (bytes !== size) throw new DataLossError(`${what} decompresses to ${bytes ?? 'an unknown number of'} bytes, expected ${size}`);
    return bytes;
  });
  done.catch(() => undefined);
  return { done, kill: () => z.child.kill('SIGKILL') };
}
