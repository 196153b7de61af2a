// Manifest media types and the generic walk over a manifest's children.
import { DataLossError, NotFoundError, type OciDescriptor } from '../../plugin-api/index.js';
import { checkManifestShape } from './manifestCheck.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** distribution 2.8 answers 404 for an OCI manifest unless Accept names the OCI type, so list them all. */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(', ');

export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json';

export const isIndex = (mt: string) => mt === OCI_INDEX || mt === DOCKER_LIST;

export interface ParsedManifest {
  mediaType: string;
  json: Record<string, unknown> & {
    mediaType?: string;
    artifactType?: string;
    config?: OciDescriptor;
    layers?: OciDescriptor[];
    manifests?: Array<OciDescriptor & { platform?: { os?: string; architecture?: string } }>;
  };
}

/** Parses manifest bytes; the media type comes from the body, else the response's Content-Type. */
export function parseManifest(bytes: Buffer, contentType = '', what = 'manifest'): ParsedManifest {
  let json: ParsedManifest['json'];
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new DataLossError(`${what}: the registry served a manifest that is not JSON`, { cause: err });
  }
  checkManifestShape(json, what);
  const ct = contentType.split(';')[0]!.trim();
  const mediaType = json.mediaType ?? (json.manifests ? OCI_INDEX : ct && ct !== 'application/json' ? ct : OCI_MANIFEST);
  return { mediaType, json };
}

/** Config and layers of an image manifest (the blobs to move). */
export function blobsOf(m: ParsedManifest): OciDescriptor[] {
  const out: OciDescriptor[] = [];
  if (m.json.config) out.push(m.json.config);
  for (const l of m.json.layers ?? []) out.push(l);
  return out;
}

/** The OCI platform architecture of this host (Node's process.arch → GOARCH names). */
export function hostArchitecture(arch: string = process.arch): string {
  return ({ x64: 'amd64', ia32: '386', ppc64: 'ppc64le' } as Record<string, string>)[arch] ?? arch;
}

/**
 * From an index: the linux manifest for this host's architecture; an index of one manifest without a
 * platform is taken as is. NOT_FOUND naming the platforms the index has otherwise.
 */
export function selectFromIndex(m: ParsedManifest, ref: string, arch = hostArchitecture()): OciDescriptor {
  const list = m.json.manifests ?? [];
  if (list.length === 1 && !list[0]!.platform) return list[0]!;
  const hit = list.find((d) => d.platform?.os === 'linux' && d.platform.architecture === arch);
  if (hit) return hit;
  const have = [...new Set(list.map((d) => d.platform ? `${d.platform.os ?? '?'}/${d.platform.architecture ?? '?'}` : '(no platform)'))];
  throw new NotFoundError(`"${ref}" has no image for this host's platform linux/${arch}; it has ${have.slice(0, 12).join(', ') || 'no manifests'}; pull one by digest`);
}
