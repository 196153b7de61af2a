// Reading what the store holds: manifests and configs parsed once per digest (blobs are immutable),
// turned into the LocalImage/ImageInfo values the port returns.
import { stat } from 'node:fs/promises';
import type { ImageInfo, LocalImage, OciManifest, VmImageConfig } from '../ports/images.js';
import { DataLossError, InvalidArgumentError } from '../errors.js';
import { isDigest } from './digest.js';
import { OCI_MANIFEST } from './mediaTypes.js';
import type { OciContentStore } from './OciContentStore.js';
import { parseReference } from './reference.js';

export interface LoadedImage {
  manifest: OciManifest;
  manifestBytes: Buffer;
  config: VmImageConfig;
  size: number;
}

export class ImageRecords {
  private readonly loaded = new Map<string, LoadedImage>();

  constructor(private readonly content: OciContentStore) {}

  async load(digest: string): Promise<LoadedImage> {
    const hit = this.loaded.get(digest);
    if (hit) return hit;
    const manifestBytes = await this.content.readAll(digest);
    const manifest = parseManifest(manifestBytes);
    const configBytes = await this.content.readAll(manifest.config.digest);
    let config: VmImageConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as VmImageConfig;
    } catch {
      throw new DataLossError(`config blob ${manifest.config.digest} of ${digest} is not JSON`);
    }
    const size = manifestBytes.length + manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0);
    const l = { manifest, manifestBytes, config, size };
    this.loaded.set(digest, l);
    return l;
  }

  /** The image `digest` as stored under `reference`. */
  async local(reference: string, digest: string): Promise<LocalImage> {
    const l = await this.load(digest);
    return { reference, digest, manifest: l.manifest, manifestBytes: l.manifestBytes, config: l.config, info: imageInfo(reference, digest, l) };
  }

  async info(reference: string, digest: string): Promise<ImageInfo> {
    return imageInfo(reference, digest, await this.load(digest));
  }
}

function imageInfo(reference: string, digest: string, l: LoadedImage): ImageInfo {
  let repository = reference;
  let tag = '';
  try {
    const p = parseReference(reference);
    repository = p.repository;
    tag = p.tag ?? '';
  } catch { /* a foreign ref.name (written by another tool): show it as is */ }
  const vf = l.config.vmfile;
  const disk = l.config.disks?.[0];
  return {
    reference, repository, tag, digest,
    size: l.size,
    diskSize: disk?.virtualSize ?? 0,
    created: l.config.created ?? '',
    name: vf?.metadata?.name ?? '',
    description: vf?.metadata?.description ?? '',
    author: vf?.metadata?.author ?? '',
    labels: vf?.metadata?.labels ?? {},
    diskFormat: vf?.spec?.disk?.format ?? disk?.format ?? '',
    architecture: vf?.spec?.os?.architecture ?? '',
    sourceFormat: l.config.origin?.format ?? 'vmregistry',
  };
}

export function parseManifest(bytes: Buffer): OciManifest {
  let m: OciManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as OciManifest;
  } catch {
    throw new InvalidArgumentError('manifest is not JSON', { field: 'manifest' });
  }
  if (m?.schemaVersion !== 2 || (m.mediaType !== undefined && m.mediaType !== OCI_MANIFEST) || !m.config || !Array.isArray(m.layers)) {
    throw new InvalidArgumentError(`not an OCI image manifest (schemaVersion 2, mediaType ${OCI_MANIFEST}, config, layers)`, { field: 'manifest' });
  }
  for (const d of [m.config, ...m.layers]) {
    if (!isDigest(d?.digest) || !Number.isSafeInteger(d.size) || d.size < 0) throw new InvalidArgumentError(`manifest descriptor ${JSON.stringify(d)?.slice(0, 120)} is invalid`, { field: 'manifest' });
  }
  return m;
}

/** A reference that can name an index entry: tags only (a digest is already an id). */
export function taggable(reference: string, field = 'reference'): string {
  const p = parseReference(reference, field);
  if (p.digest) throw new InvalidArgumentError(`"${reference}" names a digest; give a tag to store the image under (e.g. ${p.repository}:latest)`, { field });
  return p.reference;
}

export function tryParse(reference: string) {
  try {
    return parseReference(reference);
  } catch {
    return undefined;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
