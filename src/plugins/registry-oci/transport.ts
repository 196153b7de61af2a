// HTTP to registries on undici: pooled keep-alive connections, custom CA, auth challenges answered
// once per request, retries with backoff on 5xx/408/429 and dropped connections.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import {
  CancelledError, FailedPreconditionError, PermissionDeniedError, UnauthenticatedError, UnavailableError, isVmrError,
} from '../../core/errors.js';
import type { RegistryCredentials } from '../../core/ports/auth.js';
import type { Logger } from '../../core/ports/common.js';
import { Authenticator, type AuthSession } from './authenticator.js';
import { errorFromResponse } from './registryErrors.js';
import { isLoopbackHost } from './reference.js';

export interface TransportOptions {
  retries: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** PEM bundle trusted in addition to the system roots. */
  caFile?: string;
  /** Connections per registry origin. */
  connections: number;
}

export interface Session extends AuthSession {
  /** `http(s)://host[:port]` */
  base: string;
  log: Logger;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Absolute URL or a path under the session's base. */
  url: string;
  headers?: Record<string, string>;
  /** A factory is called again for each attempt, so streamed bodies can be retried. */
  body?: Buffer | (() => Readable);
  scopes: string[];
  /** Statuses handed back to the caller; any other becomes a domain error. */
  ok: number[];
  /** Names the target in error messages. */
  what: string;
  /** false: the caller resumes on its own (chunk uploads); only auth is retried here. */
  retry?: boolean;
}

export interface HttpResponse {
  status: number;
  url: string;
  header(name: string): string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError('operation cancelled', { cause: signal.reason }));
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(new CancelledError('operation cancelled', { cause: signal!.reason })); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function backoffMs(attempt: number, o: Pick<TransportOptions, 'minBackoffMs' | 'maxBackoffMs'>, err?: unknown): number {
  // A registry's Retry-After (429/503) wins over our own schedule.
  if (isVmrError(err) && err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, 60_000);
  const base = Math.min(o.maxBackoffMs, o.minBackoffMs * 2 ** attempt);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

function retryAfterMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const d = Date.parse(v);
  return Number.isNaN(d) ? undefined : Math.max(0, d - Date.now());
}

const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED',
]);

/** The registry's certificate is not trusted: a configuration problem, not an outage. */
export function isTlsVerifyError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return TLS_VERIFY_CODES.has(e?.code ?? '') || TLS_VERIFY_CODES.has(e?.cause?.code ?? '');
}

/** A dropped connection or a timeout: worth another attempt. */
export function isTransient(err: unknown): boolean {
  if (isVmrError(err)) return err.code === 'UNAVAILABLE';
  const e = err as { name?: string; code?: string } | undefined;
  if (e?.name === 'AbortError') return false;
  return !isTlsVerifyError(err);
}

export function toCancelled(signal: AbortSignal, err: unknown): never {
  throw new CancelledError('operation cancelled', { cause: signal.reason ?? err });
}

export async function readText(body: Readable, limit = 64 * 1024): Promise<string> {
  let out = '';
  try {
    for await (const c of body) {
      if (out.length < limit) out += (c as Buffer).toString('utf8');
    }
  } catch {
    // A body cut short still leaves us the status to report.
  }
  return out.slice(0, limit);
}

const header = (h: Record<string, string | string[] | undefined>, name: string) => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

export class Transport {
  readonly auth: Authenticator;
  private readonly secure: Agent;
  private readonly insecure: Agent;
  private readonly schemes = new Map<string, Promise<'http' | 'https'>>();

  constructor(readonly opts: TransportOptions) {
    const ca = opts.caFile ? [...rootCertificates, readFileSync(opts.caFile, 'utf8')] : undefined;
    const common = { connections: opts.connections, keepAliveTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 120_000 };
    this.secure = new Agent({ ...common, connect: ca ? { ca } : {} });
    this.insecure = new Agent({ ...common, connect: { rejectUnauthorized: false } });
    this.auth = new Authenticator(async (url, init) => {
      const res = await request(url, {
        method: init.method, headers: init.headers, body: init.body, signal: init.signal,
        dispatcher: init.insecure ? this.insecure : this.secure, maxRedirections: 3,
      });
      return { status: res.statusCode, text: await readText(res.body) };
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.secure.close(), this.insecure.close()]);
  }

  /**
   * The registry's base URL. HTTPS unless the context marks the registry insecure or it is on loopback
   * (docker's default); then HTTPS is tried first and plain HTTP used when TLS does not answer.
   */
  async session(host: string, explicit: 'http' | 'https' | undefined, insecureContext: boolean, o: {
    signal: AbortSignal; log: Logger; credentials: () => Promise<RegistryCredentials | undefined>;
  }): Promise<Session> {
    const insecure = insecureContext || isLoopbackHost(host);
    let scheme: 'http' | 'https';
    if (explicit === 'http' && !insecure) {
      throw new FailedPreconditionError(`registry ${host} is configured as plain HTTP but the context does not mark it insecure; set insecureRegistry on the context`);
    }
    if (explicit) scheme = explicit;
    else if (!insecure) scheme = 'https';
    else {
      let p = this.schemes.get(host);
      if (!p) {
        p = this.probeScheme(host, o.signal);
        this.schemes.set(host, p);
        p.catch(() => this.schemes.delete(host));
      }
      scheme = await p;
    }
    let memo: Promise<RegistryCredentials | undefined> | undefined;
    return {
      host, base: `${scheme}://${host}`, insecure: insecureContext, signal: o.signal, log: o.log,
      credentials: () => (memo ??= o.credentials()),
    };
  }

  private async probeScheme(host: string, signal: AbortSignal): Promise<'http' | 'https'> {
    try {
      const res = await request(`https://${host}/v2/`, {
        method: 'GET', dispatcher: this.insecure, signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]),
      });
      res.body.resume();
      return 'https';
    } catch (err) {
      if (signal.aborted) toCancelled(signal, err);
      const code = (err as { code?: string }).code;
      // Refused: nothing listens at all; let the real request report the registry as down.
      if (code === 'ECONNREFUSED') throw new UnavailableError(`registry ${host} is unreachable (connection refused); is it running?`, { cause: err });
      return 'http';
    }
  }

  /** Certificates are verified unless the context marks the registry insecure (loopback only relaxes the scheme). */
  private dispatcher(s: Session): Dispatcher {
    return s.insecure ? this.insecure : this.secure;
  }

  async send(s: Session, req: HttpRequest): Promise<HttpResponse> {
    const url = /^https?:\/\//.test(req.url) ? req.url : s.base + req.url;
    let scopes = req.scopes;
    let reauthed = false;
    const maxRetries = req.retry === false ? 0 : this.opts.retries;
    for (let attempt = 0; ; attempt++) {
      if (s.signal.aborted) toCancelled(s.signal, undefined);
      const auth = await this.auth.header(s, scopes);
      const headers: Record<string, string> = { ...req.headers };
      if (auth) headers.authorization = auth;
      let res: Dispatcher.ResponseData;
      try {
        const body = typeof req.body === 'function' ? req.body() : req.body;
        res = await request(url, {
          method: req.method, headers, body, signal: s.signal, dispatcher: this.dispatcher(s),
          maxRedirections: req.method === 'GET' || req.method === 'HEAD' ? 5 : 0,
        });
      } catch (err) {
        if (s.signal.aborted) toCancelled(s.signal, err);
        if (isVmrError(err) && err.code !== 'UNAVAILABLE') throw err;
        if (isTlsVerifyError(err)) {
          throw new FailedPreconditionError(`${req.what}: the TLS certificate of ${s.host} is not trusted (${(err as Error).message}); ` +
            'add its CA to the registry-oci caFile, or mark the context\'s registry insecure', { cause: err });
        }
        if (attempt < maxRetries && isTransient(err)) {
          s.log.debug({ url, attempt, err: (err as Error).message }, 'registry request failed, retrying');
          await sleep(backoffMs(attempt, this.opts), s.signal);
          continue;
        }
        throw new UnavailableError(`${req.what}: registry ${s.host} is unreachable: ${(err as Error).message}`, { cause: err });
      }
      const status = res.statusCode;
      const get = (n: string) => header(res.headers, n);
      if (status === 401 && !req.ok.includes(401)) {
        const text = await readText(res.body);
        const next = reauthed ? undefined : await this.auth.onUnauthorized(s, res.headers['www-authenticate'], scopes, auth);
        if (next) {
          reauthed = true;
          scopes = next;
          attempt--;
          continue;
        }
        const creds = await s.credentials();
        if (this.auth.schemeOf(s.host) === 'bearer' && creds) {
          throw new PermissionDeniedError(`${req.what}: the credentials for ${s.host} do not allow ${scopes.join(' ')}`);
        }
        if (!creds) {
          throw new UnauthenticatedError(`${req.what}: registry ${s.host} requires authentication; log in or add credentials for it to your docker config`);
        }
        throw errorFromResponse(401, text, req.what);
      }
      const transientStatus = status === 408 || status === 429 || status >= 500;
      if (transientStatus && !req.ok.includes(status)) {
        const wait = retryAfterMs(get('retry-after'));
        if (attempt < maxRetries) {
          res.body.resume();
          await sleep(Math.min(wait ?? backoffMs(attempt, this.opts), 60_000), s.signal);
          continue;
        }
        throw errorFromResponse(status, await readText(res.body), req.what, wait);
      }
      if (!req.ok.includes(status)) throw errorFromResponse(status, await readText(res.body), req.what);
      return { status, url, headers: res.headers, header: get, body: res.body };
    }
  }
}
