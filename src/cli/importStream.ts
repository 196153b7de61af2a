// `vmr import VMFILE`: the disk goes to the daemon over ImportImageStream in 1 MiB chunks, waiting for
// 'drain' whenever gRPC's buffer is full, so memory stays flat for a multi-GB disk.
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import type { Cli } from './runtime.js';
import { CancelledError, UsageError } from './errors.js';
import type { LocalVmFile } from './files.js';
import type { ImportImageResponse, Req, Res } from './messages.js';
import { progressFor } from './operations.js';
import { crypto } from './builtins.js';

export const CHUNK_SIZE = 1024 * 1024;

export interface StreamImportOptions {
  reference?: string;
  /** Hash the disk in a first pass and send the sha256 in the header (the daemon then rejects a mismatch). */
  verify?: boolean;
  quiet?: boolean;
}

async function diskSize(file: string): Promise<number> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw new UsageError(`disk "${file}" is not a regular file`);
    return st.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read the disk "${file}" named by spec.disk.path: ${(err as NodeJS.ErrnoException).code}`);
  }
}

export async function streamImport(cli: Cli, local: LocalVmFile, opts: StreamImportOptions): Promise<ImportImageResponse> {
  const total = await diskSize(local.diskPath);
  const daemon = cli.daemon();
  const renderer = progressFor(cli, Boolean(opts.quiet));
  const item = path.basename(local.diskPath);
  try {
    let sha256 = '';
    if (opts.verify) {
      const hash = crypto().createHash('sha256');
      let done = 0;
      for await (const chunk of createReadStream(local.diskPath, { highWaterMark: CHUNK_SIZE })) {
        if (daemon.cancelled) throw new CancelledError();
        hash.update(chunk as Buffer);
        done += (chunk as Buffer).length;
        renderer?.update({ phase: 'checksum', item, current: String(done), total: String(total), unit: 'bytes', message: '' });
      }
      sha256 = hash.digest('hex');
    }
    const res = await uploadFile(cli, 'ImportImageStream',
      { header: { vmfile: local.vmfile, reference: opts.reference ?? '', totalSize: String(total), sha256 } }, local.diskPath, {
        zeros: true,
        sent: (n) => renderer?.update({ phase: 'upload', item, current: String(n), total: String(total), unit: 'bytes', message: '' }),
        ended: () => renderer?.update({ phase: 'import', item: '', current: '0', total: '0', unit: 'bytes', message: 'storing on the daemon' }),
      });
    renderer?.done();
    return res;
  } catch (err) {
    renderer?.abort();
    throw err;
  }
}

/** A chunk of zeros, to compare a read with (calloc'd: its pages cost nothing until read). */
let zeroChunk: Buffer | undefined;
const isZeros = (b: Buffer) => b.equals((zeroChunk ??= Buffer.alloc(CHUNK_SIZE)).subarray(0, b.length));

/**
 * Sends `first` (the header message), then `file` in CHUNK_SIZE chunks over a client-streaming call, waiting for
 * 'drain' whenever the buffer is full; if the daemon answers early (a refused header), stops writing and returns
 * or throws its answer. With `zeros` (ImportImageStream), all-zero chunks are not sent: a `zeros` message counts them
 * (a disk's free space is most of it, and this is the bytes the socket, the daemon and the HTTP/2 framing never move).
 */
export async function uploadFile<M extends 'ImportImageStream' | 'LoadImage'>(cli: Cli, method: M, first: Req<M>, file: string,
  on: { zeros?: boolean; sent?: (bytes: number) => void; ended?: () => void } = {}): Promise<Res<M>> {
  const daemon = cli.daemon();
  const { call, result } = daemon.clientStream<M>(method);
  let settled = false;
  const failed = result.then(() => { settled = true; }, (err) => { settled = true; throw err; });
  failed.catch(() => undefined);
  call.write(first);
  let sent = 0;
  let zeros = 0;
  const sendZeros = () => {
    if (zeros > 0) call.write({ zeros: String(zeros) } as Req<M>);
    zeros = 0;
  };
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_SIZE })) {
    if (daemon.cancelled) throw new CancelledError();
    if (settled) break;
    sent += (chunk as Buffer).length;
    on.sent?.(sent);
    if (on.zeros && isZeros(chunk as Buffer)) {
      zeros += (chunk as Buffer).length;
      continue;
    }
    sendZeros();
    // Both upload RPCs' requests are a oneof of a header and a `chunk`.
    const ok = call.write({ chunk: chunk as Buffer } as Req<M>);
    if (!ok) await Promise.race([once(call, 'drain'), failed]);
  }
  if (settled) return result;
  sendZeros();
  call.end();
  on.ended?.();
  return result;
}
