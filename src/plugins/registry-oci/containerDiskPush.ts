// `vmr push --format containerdisk` (issue 20): one of our images as a KubeVirt containerDisk — an OCI
// image whose single gzip tar layer holds disk/disk.qcow2 (uid/gid 107, mode 0440, as KubeVirt's docs
// build them), a config with architecture/os/rootfs, and our VMFile kept as a manifest annotation (a
// re-pull restores it). The layer is packed into a private temp file first: its digest must be known
// before the upload, and the push machinery (chunks, resume, retries) then works on it as on any blob.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DataLossError, FailedPreconditionError, InvalidArgumentError, tarHeader, tarPadding } from '../../plugin-api/index.js';
import type { CallContext, ImageStore, LocalImage, OciDescriptor, TransferResult } from '../../plugin-api/index.js';
import { pushBlob, type PushOptions, type UploadMemo } from './blobPusher.js';
import { ANN_VMFILE } from './containerDiskPull.js';
import { sha256 } from './digest.js';
import type { BlobSource } from './uploadBody.js';
import { pushManifest } from './manifestPusher.js';
import { OCI_IMAGE_CONFIG, OCI_MANIFEST } from './mediaTypes.js';
import { byteReporter } from './progress.js';
import { formatReference, type ImageReference } from './reference.js';
import type { Repository } from './repository.js';

export const CONTAINERDISK_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** The qemu user KubeVirt's virt-launcher runs as. */
const QEMU_UID = 107;
/** VMFile spec.os.architecture → OCI platform architecture. */
const GOARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', riscv64: 'riscv64', ppc64le: 'ppc64le', s390x: 's390x', i686: '386', armv7l: 'arm' };

const hashing = (h: ReturnType<typeof createHash>, count: { n: number }) => new Transform({
  transform(chunk: Buffer, _enc, cb) {
    h.update(chunk);
    count.n += chunk.length;
    cb(null, chunk);
  },
});

/** Writes the gzip tar layer to `file`; returns its descriptor and the uncompressed tar's digest (diff_id). */
async function packLayer(disk: { size: number; chunks: AsyncIterable<Buffer> }, file: string, ctx: CallContext): Promise<{ desc: OciDescriptor; diffId: string }> {
  const report = byteReporter(ctx, 'pack', 'disk/disk.qcow2', disk.size);
  async function* tar(): AsyncGenerator<Buffer> {
    yield tarHeader({ name: 'disk/', size: 0, mode: 0o555, uid: QEMU_UID, gid: QEMU_UID, type: '5' });
    yield tarHeader({ name: 'disk/disk.qcow2', size: disk.size, mode: 0o440, uid: QEMU_UID, gid: QEMU_UID, type: '0' });
    let n = 0;
    for await (const c of disk.chunks) {
      n += c.length;
      if (n > disk.size) break;
      report(n);
      yield c;
    }
    if (n !== disk.size) throw new DataLossError(`the exported disk had ${n} bytes, ${disk.size} were announced`);
    yield tarPadding(disk.size);
    yield Buffer.alloc(1024);
  }
  const tarHash = createHash('sha256');
  const gzHash = createHash('sha256');
  const tarCount = { n: 0 };
  const gzCount = { n: 0 };
  await pipeline(Readable.from(tar()), hashing(tarHash, tarCount), createGzip({ level: 6 }), hashing(gzHash, gzCount),
    createWriteStream(file, { mode: 0o600, flags: 'wx' }), { signal: ctx.signal });
  return {
    desc: { mediaType: CONTAINERDISK_LAYER, digest: `sha256:${gzHash.digest('hex')}`, size: gzCount.n },
    diffId: `sha256:${tarHash.digest('hex')}`,
  };
}

function imageConfig(image: LocalImage, diffId: string, created: string): Buffer {
  const vf = image.config.vmfile;
  return Buffer.from(JSON.stringify({
    created,
    architecture: GOARCH[vf.spec.os.architecture] ?? 'amd64',
    os: 'linux',
    config: { Labels: { ...vf.metadata.labels } },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, created_by: `vmr push --format containerdisk ${image.reference}` }],
  }));
}

export interface ContainerDiskPush {
  images: ImageStore;
  repo: Repository;
  dst: ImageReference;
  reference: string;
  push: PushOptions;
  uploads: UploadMemo;
}

export async function pushContainerDisk(p: ContainerDiskPush, ctx: CallContext): Promise<TransferResult> {
  if (p.dst.digest) throw new InvalidArgumentError(`a containerDisk gets a new digest; push it to a tag, not to "${formatReference(p.dst)}"`, { field: 'destination' });
  if (!p.images.exportStream) throw new FailedPreconditionError('this image store cannot export disks, so it cannot push containerDisks');
  const image = await p.images.get(p.reference);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-containerdisk-'));
  const disk = await p.images.exportStream(image.reference, 'DISK', { diskFormat: 'qcow2' }, ctx);
  try {
    const layerFile = path.join(tmp, 'layer.tar.gz');
    const { desc: layer, diffId } = await packLayer(disk, layerFile, ctx);
    await disk.dispose();
    const created = image.config.created || new Date().toISOString();
    const config = imageConfig(image, diffId, created);
    const configDesc: OciDescriptor = { mediaType: OCI_IMAGE_CONFIG, digest: sha256(config), size: config.length };
    const md = image.config.vmfile.metadata;
    const annotations: Record<string, string> = {
      [ANN_VMFILE]: JSON.stringify(image.config.vmfile),
      'org.opencontainers.image.created': created,
      'org.opencontainers.image.title': md.name,
      ...(md.description ? { 'org.opencontainers.image.description': md.description } : {}),
      ...(md.author ? { 'org.opencontainers.image.authors': md.author } : {}),
      ...(md.source ? { 'org.opencontainers.image.source': md.source } : {}),
    };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: [layer], annotations }));
    const blobs: BlobSource = {
      open: async (digest) => {
        if (digest !== layer.digest) return { read: async (into, pos) => config.copy(into, 0, pos), close: async () => undefined };
        const fh = await open(layerFile, 'r');
        return { read: async (into, pos) => (await fh.read(into, 0, into.length, pos)).bytesRead, close: () => fh.close() };
      },
    };
    let transferred = 0;
    for (const d of [layer, configDesc]) transferred += await pushBlob(p.repo, d, blobs, ctx, ctx.signal, p.push, p.uploads);
    const pushed = await pushManifest(p.repo, p.dst.tag ?? 'latest', manifest, ctx.log);
    return { reference: formatReference(p.dst), digest: pushed.digest, size: layer.size + config.length, transferred };
  } finally {
    await disk.dispose();
    await rm(tmp, { recursive: true, force: true });
  }
}
