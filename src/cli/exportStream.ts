// `vmr export` / `vmr save`: the daemon streams the bytes (ExportImageStream) and the CLI writes them
// with the user's own permissions — never the daemon's. Files appear atomically (a temp file beside the
// destination, fsync, rename); a failed or cancelled export leaves nothing at the destination.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Cli } from './runtime.js';
import { childProcess, crypto } from './builtins.js';
import { ServerError, UsageError } from './errors.js';
import type { ExportImageResponse, ExportImageStreamEvent } from './messages.js';
import { progressFor } from './operations.js';

export interface ExportSink {
  write(b: Buffer): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const tempBeside = (dest: string) => path.join(path.dirname(dest), `.${path.basename(dest).slice(0, 64)}.${crypto().randomBytes(6).toString('hex')}.tmp`);

/** What is at `dest` now; with `force`, a file (or an earlier layout dir) may be replaced. */
async function checkDest(dest: string, force: boolean, kind: 'file' | 'dir'): Promise<{ exists: boolean }> {
  let st;
  try {
    st = await fs.lstat(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      const parent = await fs.stat(path.dirname(dest)).catch(() => undefined);
      if (!parent?.isDirectory()) throw new UsageError(`the directory ${path.dirname(dest)} does not exist; create it first`);
      return { exists: false };
    }
    throw new UsageError(`cannot use "${dest}": ${(err as NodeJS.ErrnoException).code}`);
  }
  if (!force) throw new UsageError(`${dest} already exists; choose another path or pass --force`);
  if (kind === 'file' && !st.isFile()) throw new UsageError(`${dest} exists and is not a regular file; refusing to replace it`);
  if (kind === 'dir') {
    if (!st.isDirectory()) throw new UsageError(`${dest} exists and is not a directory; refusing to replace it`);
    const names = await fs.readdir(dest);
    if (names.length > 0 && !names.includes('oci-layout')) throw new UsageError(`${dest} is a directory that is not an OCI layout; refusing to replace it`);
  }
  return { exists: true };
}

/** A regular file, written to a temp file beside it and renamed into place (umask decides the mode). */
export async function fileSink(dest: string, force: boolean): Promise<ExportSink> {
  await checkDest(dest, force, 'file');
  const tmp = tempBeside(dest);
  const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
  let pos = 0;
  return {
    async write(b) {
      const { bytesWritten } = await fh.write(b, 0, b.length, pos);
      pos += bytesWritten;
    },
    async commit() {
      await fh.sync();
      await fh.close();
      await fs.rename(tmp, dest);
    },
    async abort() {
      await fh.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
    },
  };
}

async function writeTo(w: Writable, b: Buffer, child?: ChildProcess): Promise<void> {
  if (w.write(b)) return;
  const failed = child ? once(child, 'close').then(() => { throw new Error('tar stopped reading'); }) : new Promise<never>(() => undefined);
  await Promise.race([once(w, 'drain'), failed]);
}

/** An OCI layout directory: the archive is unpacked by tar into a temp dir beside `dest`, then renamed. */
export async function layoutSink(dest: string, force: boolean): Promise<ExportSink> {
  const { exists } = await checkDest(dest, force, 'dir');
  const tmp = tempBeside(dest);
  await fs.mkdir(tmp, { mode: 0o777 });
  const child = childProcess().spawn('tar', ['-xf', '-', '-C', tmp, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); });
  child.stdin!.on('error', () => undefined);
  return {
    write: (b) => writeTo(child.stdin!, b, child),
    async commit() {
      child.stdin!.end();
      const code = await exited;
      if (code !== 0) throw new Error(`tar could not unpack the export: ${Buffer.concat(err).toString().trim()}`);
      await fs.access(path.join(tmp, 'oci-layout'));
      if (exists) await fs.rm(dest, { recursive: true, force: true });
      await fs.rename(tmp, dest);
    },
    async abort() {
      child.kill();
      await exited.catch(() => undefined);
      await fs.rm(tmp, { recursive: true, force: true });
    },
  };
}

/** Standard output (vmr save without -o), with backpressure. */
export function stdoutSink(out: Writable): ExportSink {
  return { write: (b) => writeTo(out, b), commit: async () => undefined, abort: async () => undefined };
}

export async function receiveExport(cli: Cli, request: { reference: string; format: 'OCI_ARCHIVE' | 'DISK'; diskFormat?: string }, sink: ExportSink, opts: { quiet?: boolean; item?: string } = {}): Promise<ExportImageResponse> {
  const renderer = progressFor(cli, Boolean(opts.quiet));
  let info: ExportImageStreamEvent['info'];
  let done: ExportImageResponse | undefined;
  let received = 0;
  try {
    for await (const ev of cli.daemon().readStream('ExportImageStream', { ...request, diskFormat: request.diskFormat ?? '' })) {
      const kind = ev.event ?? (ev.data ? 'data' : ev.info ? 'info' : ev.done ? 'done' : ev.progress ? 'progress' : undefined);
      if (kind === 'info') info = ev.info;
      else if (kind === 'data' && ev.data) {
        await sink.write(ev.data);
        received += ev.data.length;
        renderer?.update({ phase: 'download', item: opts.item ?? request.reference, current: String(received), total: info?.size ?? '0', unit: 'bytes', message: '' });
      } else if (kind === 'progress' && ev.progress && !received) renderer?.update(ev.progress);
      else if (kind === 'done') done = ev.done ?? undefined;
    }
    if (!done) throw new ServerError('DATA_LOSS', 'the daemon ended ExportImageStream without its final message; nothing was written');
    if (Number(done.size) !== received) throw new ServerError('DATA_LOSS', `received ${received} bytes, the daemon sent ${done.size}; nothing was written`);
    await sink.commit();
  } catch (err) {
    renderer?.abort();
    await sink.abort();
    throw err;
  }
  renderer?.done();
  return { outputPath: '', digest: done.digest, size: String(received) };
}
