// LoadImage: an OCI archive (tar of an OCI layout) sent through the socket. The tar is spooled into the
// store's tmp dir, its headers are checked before anything is extracted — regular files and
// directories only, no links, devices or absolute/`..` names — so extraction cannot write or later read
// outside the work dir; then the layout is imported like any other.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, fromSystemError } from '../errors.js';
import type { CallContext } from '../ports/common.js';
import type { LocalImage } from '../ports/images.js';
import { byteProgress } from './progress.js';
import { spoolToSparseFile } from './spool.js';
import { TAR_BLOCK, octal } from './tar.js';

const BLOCK = TAR_BLOCK;

/** Walks the tar headers: only files, directories and the metadata entries that describe them. */
export async function checkTarMembers(file: string): Promise<void> {
  const fh = await open(file, 'r');
  const bad = (m: string) => new InvalidArgumentError(`the archive ${m}; LoadImage takes an OCI archive of regular files and directories`, { field: 'chunk' });
  try {
    const size = (await fh.stat()).size;
    const h = Buffer.alloc(BLOCK);
    let pos = 0;
    let members = 0;
    let longName: string | undefined;
    while (pos + BLOCK <= size) {
      await fh.read(h, 0, BLOCK, pos);
      if (h.every((x) => x === 0)) break;
      if (++members > 100_000) throw bad('has too many members');
      const type = String.fromCharCode(h[156]!);
      const len = octal(h, 124, 12);
      if (!Number.isSafeInteger(len) || len < 0) throw bad('has a corrupt header');
      const prefix = h.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
      const base = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      let name = longName ?? (prefix ? `${prefix}/${base}` : base);
      longName = undefined;
      const data = pos + BLOCK;
      pos = data + Math.ceil(len / BLOCK) * BLOCK;
      if (type === 'L') {
        // GNU long name: the next member's name is this data.
        const b = Buffer.alloc(Math.min(len, 4096));
        await fh.read(b, 0, b.length, data);
        longName = b.toString('utf8').replace(/\0.*$/s, '');
        continue;
      }
      if (type === 'x' || type === 'g') continue; // pax attributes (a pax path is checked by tar itself below)
      if (!['0', '\0', '5', '7'].includes(type)) throw bad(`member "${name.slice(0, 128)}" is a link, device or FIFO (type ${JSON.stringify(type)})`);
      name = name.replace(/^\.\//, '');
      if (name.startsWith('/') || name.split('/').includes('..')) throw bad(`member "${name.slice(0, 128)}" leaves the archive`);
    }
    if (members === 0) throw bad('is empty or not a tar archive');
  } finally {
    await fh.close();
  }
}

function untar(file: string, dir: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-xf', file, '-C', dir, '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir', '--'], { stdio: ['ignore', 'ignore', 'pipe'], signal });
    const err: Buffer[] = [];
    child.stderr!.on('data', (b: Buffer) => { if (err.length < 16) err.push(b); });
    child.on('error', (e) => reject(fromSystemError(e, 'tar')));
    child.on('close', (code) => code === 0 ? resolve()
      : reject(new InvalidArgumentError(`the archive cannot be unpacked: ${Buffer.concat(err).toString().trim().slice(0, 300)}`, { field: 'chunk' })));
  });
}

export interface LoadDeps {
  tmpDir: string;
  importLayout(dir: string, reference: string | undefined, ctx: CallContext): Promise<LocalImage>;
}

export async function loadArchive(deps: LoadDeps, chunks: AsyncIterable<Buffer>, opts: { reference?: string; totalSize: number }, ctx: CallContext): Promise<LocalImage> {
  if (!Number.isSafeInteger(opts.totalSize) || opts.totalSize <= 0) {
    throw new InvalidArgumentError('header.total_size must be the archive\'s size in bytes (> 0)', { field: 'header.total_size' });
  }
  const work = path.join(deps.tmpDir, `load-${randomUUID()}`);
  try {
    await mkdir(work, { mode: 0o700 });
    const tar = path.join(work, 'archive.tar');
    const recv = byteProgress(ctx, 'receive', opts.totalSize);
    await spoolToSparseFile(chunks, tar, { totalSize: opts.totalSize, signal: ctx.signal, onBytes: (n) => recv.add(n) });
    recv.done();
    await checkTarMembers(tar);
    const layout = path.join(work, 'layout');
    await mkdir(layout, { mode: 0o700 });
    await untar(tar, layout, ctx.signal);
    await rm(tar, { force: true });
    return await deps.importLayout(layout, opts.reference || undefined, ctx);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
