// A small in-memory OCI registry over node:http for tests of what our client sends where: every
// request is recorded with its Authorization header, uploads can be sent to another server (an
// upload Location on a second port), auth can be Basic or Bearer with a token service elsewhere, and
// `misbehave` answers any request its own way first. Blobs are held in memory: keep them small.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { freePort } from './freePort.js';

export interface SeenRequest { method: string; path: string; authorization?: string }

export interface FakeServer {
  /** `127.0.0.1:<port>` */
  host: string;
  url: string;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => unknown;

/** An HTTP server on a free loopback port that records each request and reads its body before `handler`. */
export async function startServer(handler: Handler): Promise<FakeServer> {
  const seen: SeenRequest[] = [];
  const server = http.createServer(async (req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    try {
      await handler(req, res, Buffer.concat(parts));
    } catch (err) {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    }
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  const host = `127.0.0.1:${port}`;
  return {
    host, url: `http://${host}`, seen,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export type FakeAuth =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  /** The registry accepts `Bearer <token>`; its challenge names `realm` (a token service anywhere). */
  | { kind: 'bearer'; realm: string; token: string };

export interface FakeRegistryOptions {
  auth?: FakeAuth;
  /** Origin that upload Locations point at (default: the registry itself). */
  uploadOrigin?: () => string;
  /** Answers a request before the registry does; return true when it did. */
  misbehave?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean | Promise<boolean>;
}

/** Content shared by a registry and its upload server. */
export class FakeRegistryState {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, { bytes: Buffer; type: string }>();
  readonly uploads = new Map<string, Buffer[]>();
  private next = 0;
  newUpload(): string {
    const id = `u${++this.next}`;
    this.uploads.set(id, []);
    return id;
  }
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The distribution API over `state`; `self` is the origin of the server it runs in. */
export function registryHandler(state: FakeRegistryState, opts: FakeRegistryOptions, self: () => string): Handler {
  const auth = opts.auth ?? { kind: 'none' };
  const authorized = (req: http.IncomingMessage, res: http.ServerResponse, name: string): boolean => {
    const got = req.headers.authorization;
    if (auth.kind === 'none') return true;
    if (auth.kind === 'basic') {
      if (got === `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`) return true;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' });
    } else {
      if (got === `Bearer ${auth.token}`) return true;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${auth.realm}",service="fake",scope="repository:${name}:pull,push"` });
    }
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    return false;
  };
  return async (req, res, body) => {
    if (opts.misbehave && await opts.misbehave(req, res, body)) return;
    const u = new URL(req.url ?? '/', 'http://x');
    const upload = /^\/upload\/(\w+)$/.exec(u.pathname);
    if (upload) {
      // Upload URLs carry their own authority (like a signed URL): no auth asked here.
      const parts = state.uploads.get(upload[1]!);
      if (!parts) { res.writeHead(404); return res.end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"unknown"}]}'); }
      parts.push(body);
      const held = Buffer.concat(parts);
      if (req.method === 'PATCH') {
        res.writeHead(202, { location: `${self()}/upload/${upload[1]}`, range: `0-${held.length - 1}` });
        return res.end();
      }
      if (req.method === 'PUT') {
        const digest = u.searchParams.get('digest') ?? '';
        if (sha256(held) !== digest) { res.writeHead(400); return res.end('{"errors":[{"code":"DIGEST_INVALID","message":"digest"}]}'); }
        state.blobs.set(digest, held);
        state.uploads.delete(upload[1]!);
        res.writeHead(201, { location: `${self()}/v2/blobs/${digest}`, 'docker-content-digest': digest });
        return res.end();
      }
      if (req.method === 'GET') { res.writeHead(204, { range: `0-${held.length - 1}` }); return res.end(); }
    }
    if (u.pathname === '/v2/' || u.pathname === '/v2') {
      if (!authorized(req, res, '')) return;
      res.writeHead(200);
      return res.end('{}');
    }
    const m = /^\/v2\/(.+)\/(blobs|manifests)\/(uploads\/|[^/]+)$/.exec(u.pathname);
    if (!m) { res.writeHead(404); return res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"no route"}]}'); }
    const [, name, kind, ref] = m as unknown as [string, string, string, string];
    if (!authorized(req, res, name)) return;
    if (kind === 'blobs' && ref === 'uploads/' && req.method === 'POST') {
      res.writeHead(202, { location: `${opts.uploadOrigin?.() ?? self()}/upload/${state.newUpload()}` });
      return res.end();
    }
    if (kind === 'blobs') {
      const b = state.blobs.get(ref);
      if (!b) { res.writeHead(404); return res.end(req.method === 'HEAD' ? undefined : '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}'); }
      res.writeHead(200, { 'content-length': String(b.length), 'docker-content-digest': ref });
      return res.end(req.method === 'HEAD' ? undefined : b);
    }
    const key = `${name}:${ref}`;
    if (req.method === 'PUT') {
      const entry = { bytes: body, type: String(req.headers['content-type'] ?? '') };
      state.manifests.set(key, entry);
      state.manifests.set(`${name}:${sha256(body)}`, entry);
      res.writeHead(201, { 'docker-content-digest': sha256(body) });
      return res.end();
    }
    const mf = state.manifests.get(key);
    if (!mf) { res.writeHead(404); return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'); }
    res.writeHead(200, { 'content-type': mf.type, 'docker-content-digest': sha256(mf.bytes), 'content-length': String(mf.bytes.length) });
    return res.end(req.method === 'HEAD' ? undefined : mf.bytes);
  };
}

export interface FakeRegistry extends FakeServer {
  state: FakeRegistryState;
  /** Set when uploads go to a second server. */
  uploads?: FakeServer;
}

/** A fake registry; with `separateUploads`, its upload Locations point at a second server on another port. */
export async function startFakeRegistry(opts: FakeRegistryOptions & { separateUploads?: boolean } = {}): Promise<FakeRegistry> {
  const state = new FakeRegistryState();
  let uploads: FakeServer | undefined;
  let self = '';
  if (opts.separateUploads) {
    let upSelf = '';
    uploads = await startServer(registryHandler(state, { misbehave: opts.misbehave }, () => upSelf));
    upSelf = uploads.url;
  }
  const upOrigin = opts.uploadOrigin ?? (uploads ? () => uploads!.url : undefined);
  const reg = await startServer(registryHandler(state, { ...opts, uploadOrigin: upOrigin }, () => self));
  self = reg.url;
  return {
    ...reg, state, uploads,
    stop: async () => { await reg.stop(); await uploads?.stop(); },
  };
}

/** A token service: `GET <url>` with the right Basic credentials answers `{"token": token}`. */
export function startTokenEndpoint(username: string, password: string, token: string): Promise<FakeServer> {
  return startServer((req, res) => {
    if (req.headers.authorization !== `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`) {
      res.writeHead(401);
      return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300 }));
  });
}
