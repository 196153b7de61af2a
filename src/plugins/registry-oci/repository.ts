// One repository on one registry: the distribution API calls, nothing about copying.
import type { Readable } from 'node:stream';
import { DataLossError, UnavailableError } from '../../plugin-api/index.js';
import { repoScope } from './challenge.js';
import { sha256, verifyBytes } from './digest.js';
import { MANIFEST_ACCEPT, parseManifest, type ParsedManifest } from './mediaTypes.js';
import { originOf } from './origin.js';
import { quoteRegistry } from './registryErrors.js';
import { readText, type HttpResponse, type Session, type Transport } from './transport.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface FetchedManifest extends ParsedManifest {
  bytes: Buffer;
  digest: string;
}

export interface UploadSession {
  location: string;
  /** OCI-Chunk-Min-Length, 0 when the registry sent none. */
  minChunk: number;
}

async function readAll(body: Readable, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) {
      body.destroy();
      throw new DataLossError(`${what}: larger than ${limit} bytes`);
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

export class Repository {
  constructor(readonly t: Transport, readonly s: Session, readonly name: string, private readonly push = false) {}

  /** The same repository whose requests stop on `signal` (one blob's transfer inside a pull or push). */
  withSignal(signal: AbortSignal): Repository {
    return new Repository(this.t, { ...this.s, signal }, this.name, this.push);
  }

  private get scopes(): string[] {
    return [this.push ? repoScope(this.name, 'pull', 'push') : repoScope(this.name, 'pull')];
  }

  private where(x: string) {
    return `${x} in ${this.s.host}/${this.name}`;
  }

  /** GET a manifest by tag or digest; verifies the body against the digest asked for or announced. */
  async getManifest(target: string, expected?: string): Promise<FetchedManifest> {
    const what = this.where(`manifest "${target}"`);
    const res = await this.t.send(this.s, {
      method: 'GET', url: `/v2/${this.name}/manifests/${target}`, headers: { accept: MANIFEST_ACCEPT },
      scopes: this.scopes, ok: [200], what,
    });
    const bytes = await readAll(res.body, MAX_MANIFEST_BYTES, what);
    const announced = res.header('docker-content-digest');
    const digest = expected ?? (target.startsWith('sha256:') ? target : announced);
    if (digest) verifyBytes(bytes, digest, what);
    const parsed = parseManifest(bytes, res.header('content-type'), what);
    return { ...parsed, bytes, digest: digest ?? sha256(bytes) };
  }

  async putManifest(target: string, bytes: Buffer, mediaType: string): Promise<string | undefined> {
    const res = await this.t.send(this.s, {
      method: 'PUT', url: `/v2/${this.name}/manifests/${target}`,
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) }, body: bytes,
      scopes: this.scopes, ok: [200, 201, 202], what: this.where(`manifest "${target}"`),
    });
    res.body.resume();
    return res.header('docker-content-digest');
  }

  async blobExists(digest: string): Promise<boolean> {
    const res = await this.t.send(this.s, {
      method: 'HEAD', url: `/v2/${this.name}/blobs/${digest}`, scopes: this.scopes, ok: [200, 404],
      what: this.where(`blob ${digest}`),
    });
    res.body.resume();
    return res.status === 200;
  }

  /** GET a blob from `offset`; 206 when the Range was honoured, 200 (from 0) when not. */
  async getBlob(digest: string, offset: number, retry = true): Promise<HttpResponse> {
    return this.t.send(this.s, {
      method: 'GET', url: `/v2/${this.name}/blobs/${digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: this.scopes, ok: [200, 206], what: this.where(`blob ${digest}`), retry, bulk: true,
    });
  }

  /** Starts an upload; with `mountFrom` asks for a cross-repository mount first (201 = mounted). */
  async startUpload(mount?: { digest: string; from: string }): Promise<UploadSession | 'mounted'> {
    const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const scopes = mount ? [...this.scopes, repoScope(mount.from, 'pull')] : this.scopes;
    const res = await this.t.send(this.s, {
      method: 'POST', url: `/v2/${this.name}/blobs/uploads/${q}`, headers: { 'content-length': '0' },
      scopes, ok: [201, 202], what: this.where(mount ? `mount of ${mount.digest} from ${mount.from}` : 'blob upload'),
    });
    res.body.resume();
    if (res.status === 201) return 'mounted';
    return { location: this.resolve(res.header('location')), minChunk: Number(res.header('oci-chunk-min-length') ?? 0) || 0 };
  }

  /** Absolute URL of an upload Location (which may be relative and carries distribution's `_state`). */
  resolve(location: string | undefined): string {
    if (!location) throw new UnavailableError(this.where('upload: the registry sent no Location'));
    let url = '';
    try {
      url = new URL(location, this.s.base + '/').href;
    } catch { /* reported below */ }
    if (!originOf(url)) throw new UnavailableError(this.where(`upload: the registry sent an unusable Location "${quoteRegistry(location, 120)}"`));
    return url;
  }

  /** Where an interrupted upload stands: bytes the registry holds, and the upload's current URL. */
  async uploadStatus(location: string): Promise<{ offset: number; location: string } | undefined> {
    const res = await this.t.send(this.s, {
      method: 'GET', url: location, scopes: this.scopes, ok: [204, 200, 404], what: this.where('upload status'),
    });
    await readText(res.body);
    if (res.status === 404) return undefined;
    const range = /^(?:bytes=)?0-(\d+)$/.exec(res.header('range') ?? '');
    return { offset: range ? Number(range[1]) + 1 : 0, location: res.header('location') ? this.resolve(res.header('location')) : location };
  }

  scopesFor(): string[] {
    return this.scopes;
  }
}

export const withQuery = (url: string, q: string) => `${url}${url.includes('?') ? '&' : '?'}${q}`;
