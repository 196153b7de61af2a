// Base disks are published before they are on stable storage (issue 17). A base disk is derived data:
// every byte of it comes from blobs that were fsynced before their manifest was committed. Waiting for
// its own fsync would put a second full write of the disk (hundreds of MiB at a few hundred MiB/s) on
// every pull and import, so it is synced in the background instead, and a marker remembers, until then,
// in which boot the disk was written. A marker from another boot means the machine went down before the
// sync: the disk may be torn and is removed at the next start; the next run or pull rebuilds it from
// the blobs. (A process crash loses nothing: the page cache survives it, so the same boot keeps the disk.)
import { open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../ports/common.js';
import { fsyncDir } from './atomicFile.js';

const MARK = '.unsynced';
let boot: Promise<string | undefined> | undefined;
const pending = new Set<Promise<void>>();

/** This boot's id (Linux); undefined elsewhere, where disks are synced before they are published. */
function bootId(): Promise<string | undefined> {
  boot ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((s) => s.trim() || undefined, () => undefined);
  return boot;
}

const markerOf = (disk: string) => path.join(path.dirname(disk), `.${path.basename(disk)}${MARK}`);

/**
 * Renames the finished file `tmp` to `disk` (both in one directory) without waiting for its data to
 * reach the disk: a marker naming this boot goes first, the data is synced in the background, then
 * the marker goes.
 */
export async function publishDisk(tmp: string, disk: string, log?: Logger): Promise<void> {
  const id = await bootId();
  const dir = path.dirname(disk);
  if (id === undefined) {
    await syncFile(tmp);
  } else {
    const marker = markerOf(disk);
    await writeFile(marker, id + '\n', { mode: 0o600 });
    await syncFile(marker);
  }
  await rename(tmp, disk);
  await fsyncDir(dir);
  if (id !== undefined) later(disk, log);
}

async function syncFile(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function later(disk: string, log?: Logger): void {
  const p = (async () => {
    try {
      await syncFile(disk);
      await rm(markerOf(disk), { force: true });
    } catch (err) {
      // Removed meanwhile (gc), or the sync failed: the marker stays and the next start decides.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') await rm(markerOf(disk), { force: true }).catch(() => undefined);
      else log?.warn({ disk, err: (err as Error).message }, 'base disk not synced; it is checked at the next start');
    }
  })();
  pending.add(p);
  void p.finally(() => pending.delete(p));
}

/** Waits for the background syncs started so far (shutdown, tests). */
export async function settleDisks(): Promise<void> {
  while (pending.size > 0) await Promise.all([...pending]);
}

/**
 * At start: a disk whose marker names another boot may be torn and is removed (rebuilt on demand);
 * one from this boot (the daemon restarted) is synced again. Returns the disks removed.
 */
export async function sweepDisks(dir: string, log?: Logger): Promise<string[]> {
  const id = await bootId();
  const removed: string[] = [];
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!f.startsWith('.') || !f.endsWith(MARK)) continue;
    const disk = path.join(dir, f.slice(1, -MARK.length));
    const marker = path.join(dir, f);
    const from = (await readFile(marker, 'utf8').catch(() => '')).trim();
    if (id !== undefined && from === id) {
      later(disk, log);
      continue;
    }
    const had = await rm(disk).then(() => true, () => false);
    await rm(marker, { force: true });
    if (had) removed.push(disk);
  }
  if (removed.length > 0) {
    await fsyncDir(dir);
    log?.warn({ disks: removed }, 'base disks written before a restart of the machine were not synced; removed, they are rebuilt from their blobs when used');
  }
  return removed;
}
