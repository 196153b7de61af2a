// The disk of a KubeVirt containerDisk: the layers' tar streams are applied in order as a container
// runtime would (a later layer's file replaces an earlier one, `.wh.<name>` deletes and
// `.wh..wh..opq` empties a directory of the layers below), but only files under /disk/ are kept,
// each written straight to a sparse file in the work dir while its layer downloads. At the end exactly
// one regular file must be left under /disk/. Nothing outside the work dir is ever written.
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, throwIfAborted } from '../../errors.js';
import { SparseBlocks } from '../spool.js';
import { readTar } from './tarReader.js';

export interface DiskLayer {
  /** Names the layer in errors, e.g. `layer 2 (sha256:…)`. */
  what: string;
  /** The layer's uncompressed tar, opened when its turn comes. */
  open(): AsyncIterable<Buffer>;
  /** Called when the tar was read to its end (the caller checks the blob was read whole). */
  end?(): void;
}

export interface ExtractedDisk {
  /** The sparse file in the work dir. */
  file: string;
  /** Its path in the image, e.g. `disk/debian.qcow2`. */
  imagePath: string;
  size: number;
}

const DISK_DIR = 'disk';
const DISKLIKE = /\.(qcow2|img|raw|iso)$/i;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

const bad = (m: string) => new InvalidArgumentError(m, { field: 'reference' });

/** A member name relative to the image root; `..` anywhere is refused (it would leave the root). */
function clean(name: string, what: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad(`${what}: member "${name.slice(0, 128)}" leaves the image root (path traversal)`);
  return parts.join('/');
}

const under = (p: string, dir: string) => dir === '' || p === dir || p.startsWith(dir + '/');

async function writeSparse(body: AsyncIterable<Buffer>, file: string, size: number, signal: AbortSignal, onBytes?: (n: number) => void): Promise<void> {
  const fh = await open(file, 'wx', 0o600);
  try {
    const out = new SparseBlocks(fh);
    for await (const chunk of body) {
      throwIfAborted(signal);
      await out.write(chunk);
      onBytes?.(chunk.length);
    }
    await out.flush();
    await fh.truncate(size); // trailing zeros stay a hole
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function extractDisk(layers: DiskLayer[], workDir: string, signal: AbortSignal, onBytes?: (n: number) => void): Promise<ExtractedDisk> {
  const disks = new Map<string, { file: string; size: number }>();
  const outside = new Set<string>();
  let n = 0;
  const drop = async (match: (p: string) => boolean) => {
    for (const [p, d] of [...disks]) {
      if (!match(p)) continue;
      disks.delete(p);
      await rm(d.file, { force: true });
    }
  };
  try {
    for (const layer of layers) {
      const added = new Set<string>();
      for await (const m of readTar(layer.open(), layer.what)) {
        throwIfAborted(signal);
        const p = clean(m.name, layer.what);
        const base = path.posix.basename(p);
        const dir = path.posix.dirname(p) === '.' ? '' : path.posix.dirname(p);
        const inDisk = p.startsWith(DISK_DIR + '/');
        if (m.type === '3' || m.type === '4' || m.type === '6') {
          throw bad(`${layer.what}: member "${p.slice(0, 128)}" is a ${m.type === '6' ? 'FIFO' : 'device file'}; a containerDisk holds a disk file only`);
        }
        if (base === OPAQUE) {
          await drop((q) => under(q, dir) && q !== dir && !added.has(q));
          continue;
        }
        if (base.startsWith(WHITEOUT)) {
          const target = (dir ? dir + '/' : '') + base.slice(WHITEOUT.length);
          await drop((q) => under(q, target) && !added.has(q));
          outside.delete(target);
          continue;
        }
        if ((m.type === '1' || m.type === '2') && (inDisk || p === DISK_DIR)) {
          throw bad(`${layer.what}: "/${p.slice(0, 128)}" is a ${m.type === '1' ? 'hard link' : 'symbolic link'}; the disk under /disk/ must be a regular file`);
        }
        if (inDisk && !['0', '7', '5'].includes(m.type)) {
          throw bad(`${layer.what}: "/${p.slice(0, 128)}" is a tar member of type ${JSON.stringify(m.type)} (e.g. GNU sparse); the disk under /disk/ must be a plain regular file`);
        }
        // Whatever lands on a path replaces what lower layers had there (a directory only replaces a file).
        await drop((q) => (m.type === '5' ? q === p : under(q, p)) && !added.has(q));
        if (m.type !== '0' && m.type !== '7') continue;
        if (!inDisk) {
          if (DISKLIKE.test(base)) outside.add(p);
          continue;
        }
        const file = path.join(workDir, `disk-${n++}`);
        disks.set(p, { file, size: m.size });
        added.add(p);
        await writeSparse(m.body, file, m.size, signal, onBytes);
      }
      layer.end?.();
    }
  } catch (err) {
    await drop(() => true);
    throw err;
  }
  const found = [...disks.keys()];
  if (found.length === 1) {
    const [imagePath, d] = [found[0]!, disks.get(found[0]!)!];
    if (d.size === 0) {
      await drop(() => true);
      throw bad(`the disk /${imagePath.slice(0, 128)} is empty`);
    }
    return { file: d.file, imagePath, size: d.size };
  }
  await drop(() => true);
  if (found.length > 1) {
    throw bad(`the image holds ${found.length} files under /disk/ (${found.slice(0, 5).map((f) => '/' + f).join(', ')}); a containerDisk holds exactly one disk`);
  }
  const elsewhere = [...outside].slice(0, 3).map((f) => '/' + f);
  throw bad(`the image holds no disk under /disk/${elsewhere.length ? ` (a disk outside it: ${elsewhere.join(', ')}; KubeVirt reads /disk/ only)` : ''}; is it a KubeVirt containerDisk?`);
}
