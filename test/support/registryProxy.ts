// A recording HTTP proxy in front of a test registry. Counts requests (with their Range headers) and
// can misbehave on purpose: corrupt a blob's bytes, refuse manifests carrying artifactType.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest { method: string; path: string; range?: string; contentRange?: string; status?: number; authorization?: string }

export interface ProxyOptions {
  /** Flip one byte in GET responses for this blob digest. */
  corruptBlob?: string;
  /** Answer 400 MANIFEST_INVALID to manifest PUTs whose body has artifactType (an old registry). */
  rejectArtifactType?: boolean;
  /** Called as each request arrives (before it is forwarded). */
  onRequest?: (r: SeenRequest) => void;
  /** Rewrites each Location the client gets (after it has been pointed at the proxy). */
  rewriteLocation?: (location: string) => string;
  /** Authorization to forward with requests that came without one (an upload endpoint's own authority). */
  authorize?: (r: SeenRequest) => Promise<string | undefined>;
}

export interface RegistryProxy {
  host: string;
  seen: SeenRequest[];
  options: ProxyOptions;
  count(pred: (r: SeenRequest) => boolean): number;
  stop(): Promise<void>;
}

export async function startRegistryProxy(target: string, options: ProxyOptions = {}): Promise<RegistryProxy> {
  const seen: SeenRequest[] = [];
  const [thost, tport] = target.split(':');
  const server = http.createServer(async (req, res) => {
    const rec: SeenRequest = {
      method: req.method ?? 'GET', path: req.url ?? '/',
      range: req.headers.range, contentRange: req.headers['content-range'] as string | undefined,
      authorization: req.headers.authorization,
    };
    seen.push(rec);
    options.onRequest?.(rec);
    let body: Buffer | undefined;
    if (options.rejectArtifactType && req.method === 'PUT' && /\/manifests\//.test(rec.path)) {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      body = Buffer.concat(parts);
      if (JSON.parse(body.toString('utf8')).artifactType !== undefined) {
        rec.status = 400;
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: 'unknown field artifactType' }] }));
        return;
      }
    }
    const injected = !req.headers.authorization && options.authorize ? await options.authorize(rec) : undefined;
    const fwd = { ...req.headers, host: target, ...(injected ? { authorization: injected } : {}) };
    const up = http.request({ host: thost, port: Number(tport), method: req.method, path: req.url, headers: fwd }, (ur) => {
      rec.status = ur.statusCode;
      const headers = { ...ur.headers };
      // Keep Location pointing at the proxy so uploads keep going through it.
      if (typeof headers.location === 'string') headers.location = headers.location.replace(`//${target}`, `//${host}`);
      if (typeof headers.location === 'string' && options.rewriteLocation) headers.location = options.rewriteLocation(headers.location);
      res.writeHead(ur.statusCode ?? 502, headers);
      const corrupt = options.corruptBlob && req.method === 'GET' && rec.path.endsWith(`/blobs/${options.corruptBlob}`);
      let first = true;
      ur.on('data', (c: Buffer) => {
        if (corrupt && first && c.length) {
          c = Buffer.from(c);
          c[0] = c[0]! ^ 0xff;
          first = false;
        }
        if (!res.write(c)) { ur.pause(); res.once('drain', () => ur.resume()); }
      });
      ur.on('end', () => res.end());
      ur.on('error', () => res.destroy());
    });
    up.on('error', () => { rec.status = 502; res.destroy(); });
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    if (body) up.end(body);
    else req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host, seen, options,
    count: (pred) => seen.filter(pred).length,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
