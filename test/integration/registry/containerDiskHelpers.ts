// Building KubeVirt containerDisks locally for tests (issue 20): tar layers from temp trees, an OCI layout
// (optionally an index of several platforms), copied into a test registry by skopeo.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

export const pexec = promisify(execFile);
export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const skopeo = (...args: string[]) => pexec('skopeo', ['--insecure-policy', ...args], { maxBuffer: 64 << 20 });

export type Tree = Record<string, Buffer | string>;

/** A tar (GNU tar, numeric owner 107) of `files`: path → content, a host file ('file:/abs'), or 'symlink:target'. */
export async function tarOf(tmp: string, files: Tree): Promise<Buffer> {
  const root = await mkdtemp(path.join(tmp, 'tree-'));
  for (const [p, c] of Object.entries(files)) {
    const abs = path.join(root, p);
    await mkdir(path.dirname(abs), { recursive: true });
    if (typeof c === 'string' && c.startsWith('symlink:')) await symlink(c.slice(8), abs);
    else if (typeof c === 'string' && c.startsWith('file:')) await writeFile(abs, await readFile(c.slice(5)));
    else await writeFile(abs, c);
  }
  const out = `${root}.tar`;
  await pexec('tar', ['-cf', out, '-C', root, '--sort=name', '--owner=107', '--group=107', '--numeric-owner', '.']);
  return readFile(out);
}

export type Compression = 'none' | 'gzip' | 'zstd';

async function compress(tmp: string, tar: Buffer, c: Compression): Promise<{ bytes: Buffer; mediaType: string }> {
  if (c === 'gzip') return { bytes: gzipSync(tar), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
  if (c === 'zstd') {
    const f = path.join(await mkdtemp(path.join(tmp, 'zst-')), 'l.tar');
    await writeFile(f, tar);
    await pexec('zstd', ['-q', '-f', f, '-o', `${f}.zst`]);
    return { bytes: await readFile(`${f}.zst`), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' };
  }
  return { bytes: tar, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
}

export interface Platform { architecture: string; os: string }

/**
 * Writes an OCI layout with one image per platform (each with these layers), under `tag`; with more than
 * one platform (or `index: true`) the tag names an index. Returns the layout dir.
 */
export async function containerDiskLayout(tmp: string, layers: Array<{ tar: Buffer; compression: Compression }>, opts: {
  tag: string; platforms?: Platform[]; index?: boolean; labels?: Record<string, string>;
} = { tag: 'latest' }): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, 'layout-'));
  await mkdir(path.join(dir, 'blobs/sha256'), { recursive: true });
  const put = async (b: Buffer) => { const d = sha(b); await writeFile(path.join(dir, 'blobs/sha256', d.slice(7)), b); return d; };
  const packed = [];
  for (const l of layers) {
    const c = await compress(tmp, l.tar, l.compression);
    packed.push({ mediaType: c.mediaType, digest: await put(c.bytes), size: c.bytes.length, diffId: sha(l.tar) });
  }
  const platforms = opts.platforms ?? [{ architecture: 'amd64', os: 'linux' }];
  const manifests = [];
  for (const p of platforms) {
    const config = Buffer.from(JSON.stringify({
      architecture: p.architecture, os: p.os, config: { Labels: opts.labels ?? {} },
      rootfs: { type: 'layers', diff_ids: packed.map((l) => l.diffId) },
    }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
      layers: packed.map(({ diffId: _, ...d }) => d),
    }));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: await put(manifest), size: manifest.length, platform: p });
  }
  let top: { mediaType: string; digest: string; size: number };
  if (manifests.length > 1 || opts.index) {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: await put(index), size: index.length };
  } else {
    const { platform: _, ...m } = manifests[0]!;
    top = m;
  }
  await writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': opts.tag } }] }));
  return dir;
}

/**
 * Copies a layout into the registry (an index with all its images) as it is — skopeo would otherwise gzip
 * plain tar layers; `docker` converts to Docker schema 2 (gzip layers only).
 */
export async function copyToRegistry(layout: string, tag: string, dest: string, opts: { docker?: boolean } = {}): Promise<void> {
  await skopeo('copy', '--all', '--dest-tls-verify=false', ...(opts.docker ? ['--format', 'v2s2'] : ['--preserve-digests']), `oci:${layout}:${tag}`, `docker://${dest}`);
}

/** A qcow2 of `raw` (qemu-img), and its bytes. */
export async function qcow2Of(tmp: string, raw: Buffer, extra: string[] = []): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, 'qcow-'));
  await writeFile(path.join(dir, 'in.raw'), raw);
  await pexec('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ...extra, path.join(dir, 'in.raw'), path.join(dir, 'out.qcow2')]);
  return path.join(dir, 'out.qcow2');
}
