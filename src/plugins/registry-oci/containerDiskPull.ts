// Pulling a KubeVirt containerDisk (issue 20): a container image whose filesystem holds one disk under
// /disk/. Its layers are never stored as blobs: each is streamed from the registry (size and digest
// checked as the bytes pass), decompressed and untarred on the fly, and the disk file written straight
// into the store's import work dir (extractDisk); the store then checks the disk's header and keeps it as
// one of our images. A wrong digest or size surfaces as DATA_LOSS before anything is committed.
import { createHash } from 'node:crypto';
import {
  DataLossError, FailedPreconditionError, InvalidArgumentError, decompressLayer, extractDisk, layerCompression,
} from '../../plugin-api/index.js';
import type { CallContext, ImageOrigin, ImageStore, OciDescriptor, TransferResult, VMFile } from '../../plugin-api/index.js';
import { DOCKER_IMAGE_CONFIG, OCI_IMAGE_CONFIG, type ParsedManifest } from './mediaTypes.js';
import { byteReporter } from './progress.js';
import type { ImageReference } from './reference.js';
import type { FetchedManifest, Repository } from './repository.js';

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Where our push keeps the VMFile (containerDiskPush.ts); a re-pull restores it. */
export const ANN_VMFILE = 'io.vmregistry.vmfile';
const OCI_LABEL = /^org\.opencontainers\.image\.[a-z.]+$/;
/** OCI platform architecture → VMFile spec.os.architecture. */
const ARCH: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64', riscv64: 'riscv64', ppc64le: 'ppc64le', s390x: 's390x', '386': 'i686', arm: 'armv7l' };

/** A container image (not one of our VM artifacts): its config is an OCI or Docker image config. */
export function isContainerImage(m: ParsedManifest): boolean {
  const t = m.json.config?.mediaType;
  return t === OCI_IMAGE_CONFIG || t === DOCKER_IMAGE_CONFIG;
}

interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config?: { Labels?: Record<string, string> | null };
}

/** A blob's bytes as they arrive, checked for size on the way and for digest at the end. */
function verifiedBlob(repo: Repository, desc: OciDescriptor, what: string, report: (n: number) => void) {
  let complete = false;
  let moved = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    const res = await repo.getBlob(desc.digest, 0, true);
    const h = createHash('sha256');
    try {
      for await (const c of res.body) {
        const b = c as Buffer;
        moved += b.length;
        if (moved > desc.size) throw new DataLossError(`${what} is longer than the ${desc.size} bytes its descriptor says; nothing was stored`);
        h.update(b);
        report(moved);
        yield b;
      }
    } finally {
      res.body.destroy();
    }
    if (moved !== desc.size) throw new DataLossError(`${what} has ${moved} bytes, its descriptor says ${desc.size}; nothing was stored`);
    const got = `sha256:${h.digest('hex')}`;
    if (got !== desc.digest) throw new DataLossError(`${what} hashes to ${got}, not to its digest ${desc.digest}; nothing was stored`);
    complete = true;
  }
  return {
    chunks,
    moved: () => moved,
    assertComplete() {
      if (!complete) throw new DataLossError(`${what} has data after the end of its tar (${moved} of ${desc.size} bytes read); nothing was stored`);
    },
  };
}

async function fetchConfig(repo: Repository, desc: OciDescriptor, what: string): Promise<ImageConfig> {
  if (desc.size > MAX_CONFIG_BYTES) throw new InvalidArgumentError(`${what} is ${desc.size} bytes, more than an image config can be (${MAX_CONFIG_BYTES})`, { field: 'reference' });
  const parts: Buffer[] = [];
  for await (const c of verifiedBlob(repo, desc, what, () => {}).chunks()) parts.push(c);
  try {
    const j = JSON.parse(Buffer.concat(parts).toString('utf8')) as ImageConfig;
    if (typeof j !== 'object' || j === null) throw new Error('not an object');
    return j;
  } catch {
    throw new InvalidArgumentError(`${what} is not a JSON image config`, { field: 'reference' });
  }
}

/** metadata.name from a repository: its last component, as a VMFile name allows. */
export function nameFromRepository(repository: string): string {
  const last = repository.split('/').pop() ?? 'image';
  const n = last.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 64).replace(/[^a-z0-9]+$/, '');
  return n || 'image';
}

function vmfileFor(ref: ImageReference, shown: string, config: ImageConfig, labels: Record<string, string>, annotations: Record<string, string>): VMFile {
  const ours = annotations[ANN_VMFILE];
  if (ours) {
    try {
      const v = JSON.parse(ours) as VMFile;
      if (v && typeof v === 'object' && v.spec && v.metadata) return v;
    } catch { /* not ours after all: made from what is known below */ }
  }
  return {
    apiVersion: 'vmregistry.io/v1alpha1',
    kind: 'VMFile',
    metadata: {
      name: nameFromRepository(ref.repository),
      description: (labels['org.opencontainers.image.description'] ?? `KubeVirt containerDisk ${shown}`).slice(0, 1024),
      author: (labels['org.opencontainers.image.authors'] ?? '').slice(0, 1024),
      source: (labels['org.opencontainers.image.source'] ?? shown).slice(0, 1024),
      labels,
    },
    spec: {
      disk: { path: '', format: '' },
      resources: { memoryMb: 1024, vcpuCount: 1, diskSizeGb: 0 },
      os: { architecture: ARCH[config.architecture ?? ''] ?? 'x86_64', firmware: 'bios' },
    },
  };
}

/**
 * The local name of a converted containerDisk: our image has its own digest, so a pull by digest is
 * stored under the tag `sha256-<hex>` of the repository instead.
 */
export function containerDiskName(localName: string): string {
  const at = localName.indexOf('@');
  if (at < 0) return localName;
  return `${localName.slice(0, at).replace(/:[^/]*$/, '')}:sha256-${localName.slice(at + 1).replace(/^sha256:/, '')}`;
}

export interface ContainerDiskPull {
  images: ImageStore;
  repo: Repository;
  manifest: FetchedManifest;
  ref: ImageReference;
  /** The reference as shown to the user, and the local name to store it under. */
  shown: string;
  localName: string;
}

export async function pullContainerDisk(p: ContainerDiskPull, ctx: CallContext): Promise<TransferResult> {
  const { images, repo, manifest: m, ref } = p;
  if (!images.importDisk) throw new FailedPreconditionError('this image store cannot import KubeVirt containerDisks');
  const where = `${ref.host}/${ref.repository}`;
  const size0 = (m.json.layers ?? []).reduce((n, l) => n + l.size, m.json.config!.size);
  // Converted before from this very manifest: nothing to fetch (a new conversion would only change `created`).
  const have = await images.resolve(p.localName).catch(() => undefined);
  if (have?.config.origin?.format === 'containerdisk' && have.config.origin.digest === m.digest) {
    return { reference: have.reference, digest: have.digest, size: size0, transferred: 0 };
  }
  const config = await fetchConfig(repo, m.json.config!, `config ${m.json.config!.digest} of ${where}`);
  const layers = m.json.layers ?? [];
  if (layers.length === 0) throw new InvalidArgumentError(`${p.shown} is a container image without layers; a containerDisk has its disk in one`, { field: 'reference' });
  const plan = layers.map((l, i) => {
    const what = `layer ${i + 1} (${l.digest}) of ${where}`;
    const compression = layerCompression(l.mediaType);
    if (!compression) throw new InvalidArgumentError(`${what} has media type "${String(l.mediaType).slice(0, 100)}", not a tar layer`, { field: 'reference' });
    return { l, what, compression };
  });
  const labels: Record<string, string> = {};
  const annotations = (m.json.annotations ?? {}) as Record<string, string>;
  for (const [k, v] of [...Object.entries(config.config?.Labels ?? {}), ...Object.entries(annotations)]) {
    if (OCI_LABEL.test(k) && typeof v === 'string') labels[k] = v.slice(0, 1024);
  }
  const size = size0;
  let transferred = m.json.config!.size;
  const local = await images.importDisk(p.localName, async (work) => {
    const blobs = plan.map(({ l, what }) => verifiedBlob(repo, l, what, byteReporter(ctx, 'download', l.digest, l.size)));
    const disk = await extractDisk(plan.map(({ what, compression }, i) => ({
      what,
      open: () => decompressLayer(blobs[i]!.chunks(), compression, what, ctx.signal),
      end: () => blobs[i]!.assertComplete(),
    })), work, ctx.signal);
    transferred += blobs.reduce((n, b) => n + b.moved(), 0);
    const origin: ImageOrigin = { format: 'containerdisk', reference: p.shown, digest: m.digest, path: disk.imagePath, annotations: labels };
    return { file: disk.file, vmfile: vmfileFor(ref, p.shown, config, labels, annotations), origin };
  }, ctx);
  return { reference: local.reference, digest: local.digest, size, transferred };
}
