// Mark and sweep. Roots: index.json entries, digests of images VMs use, and leases of in-flight work
// (imports, exports, base-disk assembly). Runs with index.json writes held off and blob publishes
// excluded during the sweep, so nothing an import relies on can disappear under it.
import { open, readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CallContext, Logger } from '../ports/common.js';
import type { OciManifest } from '../ports/images.js';
import { FailedPreconditionError, throwIfAborted } from '../errors.js';
import { isDigest } from './digest.js';
import { OCI_INDEX } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import type { OciIndex } from './OciIndex.js';
import type { StorePaths } from './paths.js';

export interface GcResult {
  removedBlobs: string[];
  removedManifests: string[];
  /** Allocated bytes released (sparse disks count what they really used). */
  freedBytes: number;
  /** Base disks removed (manifest digests). */
  removedDisks?: string[];
}

export interface GcOptions {
  content: OciContentStore;
  index: OciIndex;
  paths: StorePaths;
  dryRun: boolean;
  inUse: Set<string>;
  graceMs: number;
  ingestMaxAgeMs: number;
  log: Logger;
  ctx: CallContext;
}

const allocated = (st: { blocks: number; size: number }) => (typeof st.blocks === 'number' ? st.blocks * 512 : st.size);

// Manifests are small, but nothing stops a registry from serving a big one (many layers, annotations);
// one we could not read would leave its layers unmarked and GC would delete them. So anything that
// may be JSON is read in full up to MANIFEST_READ_MAX, and beyond that GC refuses rather than guesses.
const SNIFF_BYTES = 64;
export const MANIFEST_READ_MAX = 64 << 20;

async function children(content: OciContentStore, digest: string): Promise<{ kind: 'manifest' | 'index' | 'other' | 'unreadable'; refs: string[]; size?: number }> {
  let size: number;
  try {
    size = await content.size(digest);
  } catch {
    return { kind: 'other', refs: [] };
  }
  if (size > 4 << 20) {
    // Layers (zstd, raw) never start with "{"; only JSON is worth reading.
    if (!(await startsLikeJson(content.blobPath(digest)))) return { kind: 'other', refs: [] };
    if (size > MANIFEST_READ_MAX) return { kind: 'unreadable', refs: [], size };
  }
  try {
    const j = JSON.parse(await readFile(content.blobPath(digest), 'utf8')) as OciManifest & { manifests?: Array<{ digest: string }>; subject?: { digest: string } };
    const refs: string[] = [];
    if (j.mediaType === OCI_INDEX || Array.isArray(j.manifests)) {
      for (const m of j.manifests ?? []) if (isDigest(m?.digest)) refs.push(m.digest);
      return { kind: 'index', refs };
    }
    if (j.schemaVersion === 2 && j.config && Array.isArray(j.layers)) {
      if (isDigest(j.config.digest)) refs.push(j.config.digest);
      for (const l of j.layers) if (isDigest(l?.digest)) refs.push(l.digest);
      return { kind: 'manifest', refs };
    }
  } catch { /* not JSON: a layer */ }
  return { kind: 'other', refs: [] };
}

async function startsLikeJson(file: string): Promise<boolean> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    return /^\s*\{/.test(buf.subarray(0, bytesRead).toString('latin1'));
  } finally {
    await fh.close();
  }
}

/** Everything reachable from `roots` (manifests → config, layers; indexes → manifests). */
async function mark(content: OciContentStore, roots: Iterable<string>, signal?: AbortSignal): Promise<Set<string>> {
  const marked = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    throwIfAborted(signal);
    const d = stack.pop()!;
    if (marked.has(d)) continue;
    marked.add(d);
    const { kind, refs, size } = await children(content, d);
    if (kind === 'unreadable') {
      throw new FailedPreconditionError(
        `garbage collection stopped: ${d} may be a manifest but is ${size} bytes (more than ${MANIFEST_READ_MAX} GC reads), ` +
          `so what it references is unknown and nothing was deleted; delete the image that holds it, then collect again`,
      );
    }
    stack.push(...refs);
  }
  return marked;
}

export function referencedDigests(content: OciContentStore, doc: { manifests: Array<{ digest: string }> }): Promise<Set<string>> {
  return mark(content, doc.manifests.map((m) => m.digest));
}

export async function collectGarbage(o: GcOptions): Promise<GcResult> {
  const { content } = o;
  const doc = await o.index.read();
  const roots = new Set<string>([...doc.manifests.map((m) => m.digest), ...o.inUse, ...content.leases.all()]);
  const marked = await mark(content, roots, o.ctx.signal);
  const result: GcResult = { removedBlobs: [], removedManifests: [], freedBytes: 0, removedDisks: [] };
  const now = Date.now();
  await content.gcLock.write(async () => {
    for (const d of await content.listBlobs()) {
      if (marked.has(d) || content.leases.has(d)) continue;
      let st;
      try {
        st = await stat(content.blobPath(d));
      } catch {
        continue;
      }
      const committed = content.unclaimed.get(d);
      if (committed !== undefined && now - committed < o.graceMs) continue; // a pull's blob; its manifest comes last
      const { kind } = await children(content, d);
      if (!o.dryRun) {
        if ((await content.removeUnleased(d)) === 0 && st.size > 0) continue;
        content.unclaimed.delete(d);
      }
      result.removedBlobs.push(d);
      if (kind === 'manifest' || kind === 'index') result.removedManifests.push(d);
      result.freedBytes += allocated(st);
    }
  });
  // Base disks of manifests nobody references.
  for (const f of await readdir(o.paths.disks)) {
    const m = /^([a-f0-9]{64})\.raw$/.exec(f);
    if (!m) continue;
    const d = 'sha256:' + m[1];
    if (marked.has(d) || content.leases.has(d)) continue;
    const p = path.join(o.paths.disks, f);
    const st = await stat(p).catch(() => undefined);
    if (!st) continue;
    if (!o.dryRun) await rm(p, { force: true });
    result.removedDisks!.push(d);
    result.freedBytes += allocated(st);
  }
  // Interrupted ingests nobody resumed; an empty one (a pull that failed before its first byte) has
  // nothing to resume and goes at once, whatever its age.
  for (const f of await readdir(content.ingestDir)) {
    if (content.isIngesting(f)) continue;
    const p = path.join(content.ingestDir, f);
    const st = await stat(p).catch(() => undefined);
    if (!st) continue;
    const empty = st.isFile() ? st.size === 0 : st.isDirectory() && (await readdir(p).catch(() => ['?'])).length === 0;
    if (!empty && now - st.mtimeMs < o.ingestMaxAgeMs) continue;
    if (!o.dryRun) await rm(p, { recursive: true, force: true });
    result.freedBytes += allocated(st);
  }
  o.log.info({ dryRun: o.dryRun, blobs: result.removedBlobs.length, disks: result.removedDisks!.length, freedBytes: result.freedBytes }, 'garbage collected');
  return result;
}
