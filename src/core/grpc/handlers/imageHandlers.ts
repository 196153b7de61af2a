import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../../errors.js';
import type { CallContext, Progress } from '../../ports/common.js';
import type { ExportFormat, ImportHeader } from '../../ports/images.js';
import type { HostPaths } from '../../hostfs/HostPaths.js';
import type { ImageService } from '../../images/ImageService.js';
import type { PortSlot } from '../../plugins/PortBindings.js';
import type { RegistryClient } from '../../ports/registry.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import type { RequestOf } from '../messages.js';
import { byteProgress } from '../../images/progress.js';
import { zeroRun } from '../../images/zeros.js';
import { imageInfoToWire, issueToWire, required, vmfileFromWire, vmfileToWire } from './mappers.js';

const progressEvent = (p: Progress) => ({ progress: { ...p, item: p.item ?? '', message: p.message ?? '', current: String(p.current), total: String(p.total) } });

export function imageHandlers(rt: RpcRuntime, service: ImageService, registry: PortSlot<RegistryClient>, hostPaths?: HostPaths) {
  const images = () => service.store;

  const pull = async (req: RequestOf<'PullImage'>, ctx: CallContext) => {
    const r = await registry.get().pull(required(req.reference, 'reference'), ctx);
    return { reference: r.reference, digest: r.digest, size: String(r.size), transferred: String(r.transferred),
      message: r.transferred ? `pulled ${r.reference}` : `${r.reference} is up to date` };
  };
  const push = async (req: RequestOf<'PushImage'>, ctx: CallContext) => {
    const format = req.format || 'VMREGISTRY';
    // proto3 passes unknown enum numbers through; refuse them here.
    if (format !== 'VMREGISTRY' && format !== 'CONTAINERDISK') throw new InvalidArgumentError(`format ${String(req.format)} is not VMREGISTRY or CONTAINERDISK`, { field: 'format' });
    const r = await registry.get().push(required(req.reference, 'reference'), req.destination ?? '', ctx,
      format === 'CONTAINERDISK' ? { format: 'containerdisk' } : undefined);
    return { reference: r.reference, digest: r.digest, size: String(r.size), transferred: String(r.transferred), message: `pushed ${r.reference}` };
  };
  const exportFormat = (req: RequestOf<'ExportImage'>): { format: ExportFormat; diskFormat: 'raw' | 'qcow2' } => {
    const format = (req.format || 'OCI_LAYOUT_DIR') as ExportFormat;
    // proto3 passes unknown enum numbers through; refuse them here rather than deep in the store.
    if (!['OCI_LAYOUT_DIR', 'OCI_ARCHIVE', 'DISK'].includes(format)) {
      throw new InvalidArgumentError(`format ${String(req.format)} is not one of OCI_LAYOUT_DIR, OCI_ARCHIVE, DISK`, { field: 'format' });
    }
    const diskFormat = req.diskFormat || 'raw';
    if (diskFormat !== 'raw' && diskFormat !== 'qcow2') throw new InvalidArgumentError('disk_format must be raw or qcow2', { field: 'disk_format' });
    return { format, diskFormat };
  };
  const exportImage = async (req: RequestOf<'ExportImage'>, ctx: CallContext) => {
    // The path is checked (syntax, paths.export) by the store on the directory it opens.
    const out = required(req.outputPath, 'output_path');
    const { format, diskFormat } = exportFormat(req);
    const r = await images().export(required(req.reference, 'reference'), out, format, { overwrite: Boolean(req.overwrite), diskFormat }, ctx);
    return { outputPath: r.outputPath, digest: r.digest, size: String(r.size) };
  };
  const imported = (img: { reference: string; digest: string; info: { size: number } }) =>
    ({ reference: img.reference, digest: img.digest, size: String(img.info.size) });

  return {
    PullImage: rt.unary('PullImage', pull),
    PushImage: rt.unary('PushImage', push),
    PullImageWithProgress: rt.serverStream('PullImageWithProgress', async (req, ctx) => ({ pull: await pull(req, ctx) }), progressEvent),
    PushImageWithProgress: rt.serverStream('PushImageWithProgress', async (req, ctx) => ({ push: await push(req, ctx) }), progressEvent),
    ExportImage: rt.unary('ExportImage', exportImage),
    ExportImageWithProgress: rt.serverStream('ExportImageWithProgress', async (req, ctx) => ({ export: await exportImage(req, ctx) }), progressEvent),

    ExportImageStream: rt.serverStream('ExportImageStream', async (req, ctx, emit) => {
      const { format, diskFormat } = exportFormat(req);
      if (format === 'OCI_LAYOUT_DIR') {
        throw new InvalidArgumentError('a layout directory cannot be streamed; ask for OCI_ARCHIVE and unpack it (vmr export does)', { field: 'format' });
      }
      const store = images();
      if (!store.exportStream) throw new FailedPreconditionError('this image store cannot stream exports');
      const x = await store.exportStream(required(req.reference, 'reference'), format, { diskFormat }, ctx);
      const mediaType = format === 'OCI_ARCHIVE' ? 'application/x-tar' : diskFormat === 'qcow2' ? 'application/x-qemu-disk' : 'application/octet-stream';
      let sent = 0;
      try {
        await emit({ info: { reference: x.reference, digest: x.digest, size: String(x.size), mediaType } });
        const p = byteProgress(ctx, 'export', x.size, x.reference);
        for await (const chunk of x.chunks) {
          // 1 MiB messages at most, whatever the producer's chunking.
          for (let off = 0; off < chunk.length; off += 1 << 20) {
            const part = chunk.subarray(off, off + (1 << 20));
            await emit({ data: part });
            sent += part.length;
            p.add(part.length);
          }
        }
        p.done();
      } finally {
        await x.dispose();
      }
      return { done: { outputPath: '', digest: x.digest, size: String(sent) } };
    }, progressEvent),

    LoadImage: rt.clientStream('LoadImage', async (messages, ctx) => {
      const { header: h, body } = await headerThenBody(messages, 'LoadImage', 'reference, total_size');
      const store = images();
      if (!store.loadArchive) throw new FailedPreconditionError('this image store cannot load archives');
      return imported(await store.loadArchive(body, { reference: h.reference || undefined, totalSize: Number(h.totalSize) }, ctx));
    }),

    ImportImage: rt.unary('ImportImage', async (req, ctx) => {
      const data: Buffer = req.diskData ?? Buffer.alloc(0);
      if (!data.length) throw new InvalidArgumentError('disk_data is empty; send the disk bytes (or use ImportImageStream for large disks)', { field: 'disk_data' });
      const header: ImportHeader = { vmfile: vmfileFromWire(req.vmfile), reference: req.reference ?? '', totalSize: data.length };
      return imported(await images().importStream(header, (async function* () { yield data; })(), ctx));
    }),

    ImportImageStream: rt.clientStream('ImportImageStream', async (messages, ctx) => {
      const { header: h, body } = await headerThenBody(messages, 'ImportImageStream', 'vmfile, reference, total_size');
      const totalSize = Number(h.totalSize);
      if (!Number.isSafeInteger(totalSize) || totalSize <= 0) throw new InvalidArgumentError('header.total_size must be a positive byte count', { field: 'header.total_size' });
      if (h.sha256 && !/^[0-9a-f]{64}$/.test(h.sha256)) throw new InvalidArgumentError('header.sha256 must be 64 lowercase hex digits', { field: 'header.sha256' });
      const header: ImportHeader = { vmfile: vmfileFromWire(h.vmfile), reference: h.reference ?? '', totalSize, sha256: h.sha256 || undefined };
      return imported(await images().importStream(header, body, ctx));
    }),

    ImportImageFile: rt.serverStream('ImportImageFile', async (req, ctx) => {
      const p = required(req.vmfilePath, 'vmfile_path');
      const store = images();
      if (!store.importFile) throw new FailedPreconditionError('this image store cannot import from daemon-side paths');
      return { import: imported(await store.importFile(p, req.reference ?? '', ctx, { allowOutsidePaths: Boolean(req.allowOutsidePaths) })) };
    }, progressEvent),

    ListLocalImages: rt.unary('ListLocalImages', async () => ({ images: (await images().list()).map(imageInfoToWire) })),

    DeleteImage: rt.unary('DeleteImage', async (req, ctx) =>
      service.delete(required(req.reference, 'reference'), { force: Boolean(req.force) }, ctx)),

    GetImageManifest: rt.unary('GetImageManifest', async (req) => {
      const img = await images().get(required(req.reference, 'reference'));
      return { digest: img.digest, mediaType: img.manifest.mediaType, manifestJson: img.manifestBytes.toString('utf8'), configJson: JSON.stringify(img.config), sourceFormat: img.info.sourceFormat };
    }),

    ValidateVMFile: rt.unary('ValidateVMFile', async (req) => {
      const baseDir = req.baseDir || '';
      if (!baseDir) throw new InvalidArgumentError('base_dir is required: the absolute directory on the daemon host that spec.disk.path is relative to', { field: 'base_dir' });
      if (!path.isAbsolute(baseDir)) throw new InvalidArgumentError('base_dir must be an absolute path on the daemon host', { field: 'base_dir' });
      // Probing a disk is a read of the daemon's host: only under paths.import; elsewhere the text alone is checked.
      const checkDisk = hostPaths ? (await hostPaths.dirAllowed(baseDir, 'base_dir')) !== undefined : true;
      const r = await images().validateVMFile(req.content ?? '', baseDir, { allowOutsidePaths: Boolean(req.allowOutsidePaths), checkDisk });
      const warnings = checkDisk ? r.warnings : [...r.warnings, { path: 'spec.disk.path', message: 'the disk was not checked: base_dir is outside the daemon\'s paths.import (vmr import checks it on upload)' }];
      return { valid: r.errors.length === 0, errors: r.errors.map(issueToWire), warnings: warnings.map(issueToWire), vmfile: r.vmfile ? vmfileToWire(r.vmfile) : null };
    }),

    TagImage: rt.unary('TagImage', async (req) => {
      const img = await images().tag(required(req.source, 'source'), required(req.target, 'target'));
      return { reference: img.reference, digest: img.digest };
    }),

    SystemCheck: rt.unary('SystemCheck', async (req, ctx) => {
      const r = await service.systemCheck({ verifyDisks: Boolean(req.verifyDisks) }, ctx);
      return {
        ...r, checkedBlobs: String(r.checkedBlobs), checkedDisks: String(r.checkedDisks), partialIngests: String(r.partialIngests),
        partialIngestList: r.partialIngestList.map((p) => ({ digest: p.digest, size: String(p.size), ageSeconds: String(p.ageSeconds) })),
      };
    }),

    GarbageCollect: rt.unary('GarbageCollect', async (req, ctx) => {
      const r = await service.gc({ dryRun: Boolean(req.dryRun) }, ctx);
      return { removedBlobs: r.removedBlobs, removedManifests: r.removedManifests, freedBytes: String(r.freedBytes), removedDisks: r.removedDisks };
    }),
  };
}

/**
 * A client stream whose first message carries the header (exactly once) and the rest the bytes, in order: the
 * header, and the bytes after it. A run of `zeros` the client did not send (ImportImageStream) is expanded for the
 * store, whose spool leaves all-zero blocks a hole; the declared total_size bounds how much the stream may add up to.
 */
async function headerThenBody<H>(messages: AsyncIterable<{ header?: H | null; chunk?: Buffer; payload?: string; zeros?: string }>, rpc: string, fields: string):
  Promise<{ header: H; body: AsyncIterable<Buffer> }> {
  const it = messages[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done || !first.value.header) throw new InvalidArgumentError(`the first ${rpc} message must carry the header (${fields})`, { field: 'header' });
  async function* body(): AsyncIterable<Buffer> {
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      if (n.value.header) throw new InvalidArgumentError('a second header arrived in the middle of the stream', { field: 'header' });
      if (n.value.chunk?.length) yield n.value.chunk;
      else if (n.value.payload === 'zeros') yield* zeroRun(Number(n.value.zeros));
    }
  }
  return { header: first.value.header, body: body() };
}
