// RegistryClient over the OCI distribution API: pull into the image store, push from it, health.
import { performance } from 'node:perf_hooks';
import {
  type AuthProvider, type BaseDiskBuilder, type BlobSink, type CallContext, type ComponentHealth, hasCode,
  type ImageStore, isVmrError, type OciDescriptor, type PushOptions, type RegistryClient, type RegistryCredentials,
  type TransferResult,
} from '../../plugin-api/index.js';
import { fetchBlob } from './blobFetcher.js';
import { containerDiskName, isContainerImage, pullContainerDisk } from './containerDiskPull.js';
import { pushContainerDisk } from './containerDiskPush.js';
import { pushBlob, type UploadMemo } from './blobPusher.js';
import type { RegistryOciConfig } from './config.js';
import { dockerCredentials } from './dockerConfig.js';
import { forEachLimited } from './limiter.js';
import { pushManifest } from './manifestPusher.js';
import { blobsOf, isIndex, parseManifest, selectFromIndex } from './mediaTypes.js';
import { formatReference, manifestTarget, parseReference, parseRegistryUrl, type ImageReference } from './reference.js';
import { Repository } from './repository.js';
import { boundedOperation, timeoutsOf } from './timeouts.js';
import { Transport, readText } from './transport.js';

export interface PushResult extends TransferResult {
  /** Set when the registry refused artifactType and got a rewritten manifest: the local digest. */
  localDigest?: string;
}

export class OciRegistryClient implements RegistryClient {
  readonly transport: Transport;
  /** One download per blob and source in this process, however many pulls want it. */
  private readonly inflight = new Map<string, Promise<number>>();
  private readonly uploads: UploadMemo = new Map();

  constructor(private readonly images: ImageStore, private readonly config: RegistryOciConfig,
    private readonly auth?: AuthProvider) {
    this.transport = new Transport({
      retries: config.retries, minBackoffMs: config.minBackoffMs, maxBackoffMs: config.maxBackoffMs,
      caFile: config.caFile || undefined, connections: config.connections, ...timeoutsOf(config),
    });
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private async credentials(host: string, ctx: CallContext): Promise<RegistryCredentials | undefined> {
    const fromSession = await this.auth?.registryCredentials(host, ctx).catch((err: unknown) => {
      ctx.log.warn({ host, err: (err as Error).message }, 'auth provider gave no registry credentials');
      return undefined;
    });
    if (fromSession) return fromSession;
    return dockerCredentials(host, { paths: this.config.dockerConfigPath.length ? this.config.dockerConfigPath : undefined, signal: ctx.signal });
  }

  private async repository(ref: ImageReference, ctx: CallContext, push: boolean): Promise<Repository> {
    const s = await this.transport.session(ref.host, ref.scheme, ctx.context.insecureRegistry, {
      signal: ctx.signal, log: ctx.log, credentials: () => this.credentials(ref.host, ctx),
    });
    return new Repository(this.transport, s, ref.repository, push);
  }

  /** The name the image is stored under locally: the reference as the user wrote it, with a default tag. */
  private localName(reference: string, ref: ImageReference): string {
    const r = reference.trim();
    return ref.digest || /:[^/]+$/.test(r) ? r : `${r}:latest`;
  }

  /** A pull or push under the operation bound, every failure a domain error naming the registry. */
  private bounded<T>(verb: string, reference: string, ctx: CallContext, run: (ctx: CallContext) => Promise<T>): Promise<T> {
    const host = safeParse(reference, ctx.context.registryUrl)?.host ?? 'registry';
    return boundedOperation(ctx, host, `${verb} of ${reference}`, this.transport.opts, run);
  }

  pull(reference: string, ctx: CallContext): Promise<TransferResult> {
    return this.bounded('pull', reference, ctx, (c) => this.pullBounded(reference, c));
  }

  push(reference: string, destination: string, ctx: CallContext, opts: PushOptions = {}): Promise<PushResult> {
    if (opts.format === 'containerdisk') {
      return this.bounded('push', destination || reference, ctx, async (c) => {
        const dst = parseReference(destination || reference, c.context.registryUrl);
        return pushContainerDisk({ images: this.images, repo: await this.repository(dst, c, true), dst, reference,
          push: { chunkSize: this.config.chunkSize }, uploads: this.uploads }, c);
      });
    }
    return this.bounded('push', destination || reference, ctx, (c) => this.pushBounded(reference, destination, c));
  }

  private async pullBounded(reference: string, ctx: CallContext): Promise<TransferResult> {
    const ref = parseReference(reference, ctx.context.registryUrl);
    const repo = await this.repository(ref, ctx, false);
    ctx.progress?.({ phase: 'resolve', item: formatReference(ref), current: 0, total: 0, unit: 'items' });
    let m = await repo.getManifest(manifestTarget(ref), ref.digest);
    if (isIndex(m.mediaType)) {
      const pick = selectFromIndex(m, reference);
      m = await repo.getManifest(pick.digest, pick.digest);
    }
    if (isContainerImage(m)) {
      return pullContainerDisk({ images: this.images, repo, manifest: m, ref, shown: formatReference(ref), localName: containerDiskName(this.localName(reference, ref)) }, ctx);
    }
    const blobs = dedupe(blobsOf(m));
    const size = blobs.reduce((n, b) => n + b.size, 0);
    let transferred = 0;
    const content = this.images.content;
    const fetchOne = async (desc: OciDescriptor, signal: AbortSignal, sink?: BlobSink) => {
      // Keyed by source too: another registry's failure (auth, outage) must not fail this pull;
      // the store's writer still makes a second source wait and find the blob present.
      const key = `${ref.host}/${ref.repository}@${desc.digest}`;
      for (;;) {
        let p = this.inflight.get(key);
        const own = !p;
        if (!p) {
          p = fetchBlob(repo, desc, content, ctx, signal, sink).finally(() => this.inflight.delete(key));
          this.inflight.set(key, p);
        } else sink?.abort(); // another pull downloads it; our window comes from the store
        try {
          const n = await p;
          if (own) transferred += n;
          return;
        } catch (err) {
          // Another pull's download of this blob was cancelled; that is not our cancellation.
          if (!own && hasCode(err, 'CANCELLED') && !signal.aborted) continue;
          throw err;
        }
      }
    };
    // The config first: with it the store can build the base disk while the windows arrive (issue 17).
    let builder: BaseDiskBuilder | undefined;
    const config = m.json.config;
    if (config && this.images.beginBaseDisk) {
      await fetchOne(config, ctx.signal);
      builder = await this.images.beginBaseDisk(m.bytes, ctx);
    }
    let finished = false;
    try {
      await forEachLimited(blobs.filter((b) => !builder || b !== config), this.config.concurrency, ctx.signal,
        (desc, signal) => fetchOne(desc, signal, builder?.stream(desc.digest)));
      ctx.progress?.({ phase: 'verify', item: m.digest, current: blobs.length, total: blobs.length, unit: 'items' });
      const local = await this.images.commitManifest(this.localName(reference, ref), m.bytes, ctx);
      ctx.progress?.({ phase: 'assemble', item: local.digest, current: 0, total: 0, unit: 'items' });
      finished = true;
      if (builder) await builder.finish();
      else await this.images.baseDisk(local.digest, ctx);
      return { reference: local.reference, digest: m.digest, size, transferred };
    } finally {
      if (builder && !finished) await builder.abort();
    }
  }

  private async pushBounded(reference: string, destination: string, ctx: CallContext): Promise<PushResult> {
    const image = await this.images.get(reference);
    const src = safeParse(reference, ctx.context.registryUrl);
    const dst = parseReference(destination || reference, ctx.context.registryUrl);
    const repo = await this.repository(dst, ctx, true);
    const parsed = parseManifest(image.manifestBytes);
    const blobs = dedupe(blobsOf(parsed));
    const size = blobs.reduce((n, b) => n + b.size, 0);
    const mountFrom = src && src.host === dst.host && src.repository !== dst.repository ? src.repository : undefined;
    let transferred = 0;
    await forEachLimited(blobs, this.config.concurrency, ctx.signal, async (desc, signal) => {
      const n = await pushBlob(repo, desc, this.images.content, ctx, signal, { chunkSize: this.config.chunkSize, mountFrom }, this.uploads);
      transferred += n;
    });
    const target = dst.tag ?? dst.digest ?? image.digest;
    const pushed = await pushManifest(repo, target, image.manifestBytes, ctx.log);
    return { reference: formatReference(dst), digest: pushed.digest, size, transferred, localDigest: pushed.originalDigest };
  }

  async health(ctx: CallContext): Promise<ComponentHealth> {
    const name = 'registry';
    const url = ctx.context.registryUrl;
    if (!url) return { name, status: 'NOT_CONFIGURED', message: 'the current context has no registry URL', latencyMs: 0 };
    const started = performance.now();
    const latencyMs = () => Math.round(performance.now() - started);
    try {
      const { host, scheme } = parseRegistryUrl(url);
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(5000)]);
      const s = await this.transport.session(host, scheme, ctx.context.insecureRegistry, {
        signal, log: ctx.log, credentials: async () => undefined,
      });
      const res = await this.transport.send({ ...s }, {
        method: 'GET', url: '/v2/', scopes: [], ok: [200, 401], what: `registry ${host}`, retry: false,
      });
      await readText(res.body);
      return {
        name, status: 'SERVING', latencyMs: latencyMs(), details: { url: s.base, auth: res.status === 401 ? String(res.header('www-authenticate') ?? '').split(' ')[0]! : 'none' },
        message: `${s.base}/v2/ answered ${res.status}`,
      };
    } catch (err) {
      return { name, status: 'NOT_SERVING', latencyMs: latencyMs(), message: isVmrError(err) ? err.message : String(err) };
    }
  }
}

function dedupe(list: OciDescriptor[]): OciDescriptor[] {
  const seen = new Set<string>();
  return list.filter((d) => (seen.has(d.digest) ? false : (seen.add(d.digest), true)));
}

function safeParse(ref: string, def: string): ImageReference | undefined {
  try {
    return parseReference(ref, def);
  } catch {
    return undefined;
  }
}
