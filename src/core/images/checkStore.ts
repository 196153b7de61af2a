// `vmr system check`: re-verifies what the store holds — every blob against its digest, every
// manifest's blobs present, every base disk's windows against their uncompressed digests — and
// lists what nothing references. Read-only; safe while the daemon serves.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CallContext } from '../ports/common.js';
import type { OciManifest, VmImageConfig } from '../ports/images.js';
import { throwIfAborted } from '../errors.js';
import { diskWindows } from './coverage.js';
import type { OciContentStore } from './OciContentStore.js';
import type { StorePaths } from './paths.js';

export interface StoreCheck {
  checkedBlobs: number;
  corruptBlobs: string[];
  /** `<manifest digest> → <blob digest>` for blobs a manifest needs that are not there. */
  missingBlobs: string[];
  checkedDisks: number;
  /** `<manifest digest>: <what is wrong>`. */
  corruptDisks: string[];
  /** Base disks whose manifest is gone. */
  orphanDisks: string[];
  /** Partial downloads kept for resume. */
  partialIngests: number;
  /** Each of them: what, how much, how old (GarbageCollect drops empty ones at once, the rest after a day). */
  partialIngestList: PartialIngest[];
}

export interface PartialIngest {
  /** The digest being downloaded, or the entry's name when it is not one. */
  digest: string;
  size: number;
  ageSeconds: number;
}

async function hashRange(file: string, start: number, size: number, signal: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  if (size > 0) {
    for await (const chunk of createReadStream(file, { start, end: start + size - 1, highWaterMark: 4 << 20, signal })) h.update(chunk as Buffer);
  }
  return `sha256:${h.digest('hex')}`;
}

export async function checkStore(opts: {
  content: OciContentStore;
  paths: StorePaths;
  manifestDigests: string[];
  verifyDisks: boolean;
}, ctx: CallContext): Promise<StoreCheck> {
  const { content, paths } = opts;
  const res: StoreCheck = { checkedBlobs: 0, corruptBlobs: [], missingBlobs: [], checkedDisks: 0, corruptDisks: [], orphanDisks: [], partialIngests: 0, partialIngestList: [] };
  const blobDir = path.join(paths.layout, 'blobs', 'sha256');
  const names = (await readdir(blobDir).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{64}$/.test(n));
  for (const [i, hex] of names.entries()) {
    throwIfAborted(ctx.signal);
    const actual = await hashRange(path.join(blobDir, hex), 0, (await stat(path.join(blobDir, hex))).size, ctx.signal);
    res.checkedBlobs += 1;
    if (actual !== `sha256:${hex}`) res.corruptBlobs.push(`sha256:${hex}`);
    ctx.progress?.({ phase: 'verify-blobs', current: i + 1, total: names.length, unit: 'items' });
  }
  const manifests = new Set(opts.manifestDigests);
  for (const md of manifests) {
    if (!(await content.has(md))) { res.missingBlobs.push(`${md} → ${md}`); continue; }
    let manifest: OciManifest;
    let config: VmImageConfig | undefined;
    try {
      manifest = JSON.parse((await content.readAll(md)).toString('utf8')) as OciManifest;
    } catch {
      res.corruptBlobs.push(md);
      continue;
    }
    for (const d of [manifest.config, ...(manifest.layers ?? [])]) {
      if (!(await content.has(d.digest))) res.missingBlobs.push(`${md} → ${d.digest}`);
    }
    try {
      config = JSON.parse((await content.readAll(manifest.config.digest)).toString('utf8')) as VmImageConfig;
    } catch { /* reported as missing or corrupt above */ }
    const disk = paths.disk(md);
    const st = await stat(disk).catch(() => undefined);
    if (!st || !config) continue; // base disks are made on demand; none yet is fine
    res.checkedDisks += 1;
    try {
      const { windows, virtualSize } = diskWindows(manifest, config);
      if (st.size !== virtualSize) { res.corruptDisks.push(`${md}: size ${st.size}, expected ${virtualSize}`); continue; }
      if (!opts.verifyDisks) continue;
      for (const w of windows) {
        throwIfAborted(ctx.signal);
        if ((await hashRange(disk, w.offset, w.size, ctx.signal)) !== w.udigest) {
          res.corruptDisks.push(`${md}: window at offset ${w.offset} does not match ${w.udigest}`);
          break;
        }
      }
    } catch (err) {
      res.corruptDisks.push(`${md}: ${(err as Error).message}`);
    }
  }
  for (const f of await readdir(paths.disks).catch(() => [] as string[])) {
    const m = /^([0-9a-f]{64})\.raw$/.exec(f);
    if (m && !manifests.has(`sha256:${m[1]}`)) res.orphanDisks.push(`sha256:${m[1]}`);
  }
  const now = Date.now();
  for (const f of await readdir(paths.ingest).catch(() => [] as string[])) {
    const st = await stat(path.join(paths.ingest, f)).catch(() => undefined);
    if (!st) continue;
    res.partialIngestList.push({
      digest: /^[0-9a-f]{64}$/.test(f) ? `sha256:${f}` : f,
      size: st.isFile() ? st.size : 0,
      ageSeconds: Math.max(0, Math.floor((now - st.mtimeMs) / 1000)),
    });
  }
  res.partialIngests = res.partialIngestList.length;
  return res;
}
