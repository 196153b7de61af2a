// HTTP to registries on undici: pooled keep-alive connections, custom CA, auth challenges answered
// once per request, retries with backoff on 5xx/408/429 and dropped connections, redirects followed
// here (not by undici) so that every response's origin is known: credentials and challenges stay
// on the registry's origin (origin.ts), bounds come from timeouts.ts.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import {
  CancelledError, FailedPreconditionError, isVmrError, type Logger, PermissionDeniedError, type RegistryCredentials,
  sleep, UnauthenticatedError, UnavailableError,
} from '../../plugin-api/index.js';
import { Authenticator, type AuthSession } from './authenticator.js';
import { MAX_REDIRECTS, REDIRECT_STATUSES, originOf, sameOrigin } from './origin.js';
import { errorFromResponse } from './registryErrors.js';
import { rawGet } from './rawGet.js';
import { isLoopbackHost } from './reference.js';
import { agentTimeouts, describeNetworkError, isTimeout, tagBodyError, type TimeoutOptions } from './timeouts.js';

export interface TransportOptions extends TimeoutOptions {
  retries: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** PEM bundle trusted in addition to the system roots. */
  caFile?: string;
  /** Connections per registry origin. */
  connections: number;
}

export interface Session extends AuthSession {
  log: Logger;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Absolute URL or a path under the session's base. */
  url: string;
  headers?: Record<string, string>;
  /** A factory is called again for each attempt, so streamed bodies can be retried. */
  body?: Buffer | (() => Readable | AsyncIterable<Buffer> | Buffer);
  scopes: string[];
  /** Statuses handed back to the caller; any other becomes a domain error. */
  ok: number[];
  /** Names the target in error messages. */
  what: string;
  /** false: the caller resumes on its own (chunk uploads); only auth is retried here. */
  retry?: boolean;
  /** A GET of a large body (a blob): read over a bare connection (rawGet.ts), its body a RawBody. */
  bulk?: boolean;
}

export interface HttpResponse {
  status: number;
  /** Where the response came from (after redirects). */
  url: string;
  header(name: string): string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

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

/** At most `limit` characters of a body; the rest is not read (a registry may send an endless one). */
export async function readText(body: Readable, limit = 64 * 1024): Promise<string> {
  let out = '';
  try {
    for await (const c of body) {
      out += (c as Buffer).toString('utf8');
      if (out.length >= limit) break;
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

const hostOf = (url: string) => { try { return new URL(url).host; } catch { return url.slice(0, 100); } };

/** What exchange() needs of a response, from undici or rawGet. */
interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { dump(): Promise<unknown> };
}

/** One request after its redirects: the final response, where it came from, what Authorization went there. */
interface Exchange { res: Answer; url: string; auth?: string }

export class Transport {
  readonly auth: Authenticator;
  private readonly secure: Agent;
  private readonly insecure: Agent;
  private readonly schemes = new Map<string, Promise<'http' | 'https'>>();
  private readonly ca?: string[];

  constructor(readonly opts: TransportOptions) {
    const ca = opts.caFile ? [...rootCertificates, readFileSync(opts.caFile, 'utf8')] : undefined;
    this.ca = ca;
    const { connect, ...bounds } = agentTimeouts(opts);
    const common = { connections: opts.connections, keepAliveTimeout: 30_000, ...bounds };
    this.secure = new Agent({ ...common, connect: ca ? { ...connect, ca } : connect });
    this.insecure = new Agent({ ...common, connect: { ...connect, rejectUnauthorized: false } });
    this.auth = new Authenticator(async (url, init) => {
      // A realm's GET may redirect (Authorization only within its origin); a POST carries the refresh
      // token in its body and is never sent on.
      let hop = url;
      for (let hops = 0; ; hops++) {
        const headers = { ...init.headers };
        if (!sameOrigin(hop, url)) delete headers.authorization;
        let res: Dispatcher.ResponseData;
        try {
          res = await request(hop, {
            method: init.method, headers, body: init.body, signal: init.signal,
            dispatcher: init.insecure ? this.insecure : this.secure,
          });
        } catch (err) {
          if (init.signal.aborted || isTlsVerifyError(err)) throw err;
          throw new UnavailableError(describeNetworkError(err, hostOf(hop), this.opts, 'token service'), { cause: err });
        }
        const loc = header(res.headers, 'location');
        if (init.method === 'GET' && REDIRECT_STATUSES.has(res.statusCode) && loc && hops < MAX_REDIRECTS) {
          await res.body.dump().catch(() => undefined);
          hop = new URL(loc, hop).href;
          continue;
        }
        return { status: res.statusCode, text: await readText(res.body) };
      }
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
      host, base: originOf(`${scheme}://${host}`) || `${scheme}://${host}`, insecure: insecureContext, signal: o.signal, log: o.log,
      credentials: () => (memo ??= o.credentials()),
    };
  }

  private async probeScheme(host: string, signal: AbortSignal): Promise<'http' | 'https'> {
    try {
      const res = await request(`https://${host}/v2/`, {
        method: 'GET', dispatcher: this.insecure,
        signal: AbortSignal.any([signal, AbortSignal.timeout(Math.min(5000, this.opts.connectTimeoutMs + this.opts.headersTimeoutMs))]),
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

  /**
   * Certificates are verified unless the context marks the registry insecure (loopback only relaxes the
   * scheme); that covers the registry's host, not other hosts it sends us to.
   */
  private dispatcher(s: Session, url: string): Dispatcher {
    return this.verifies(s, url) ? this.secure : this.insecure;
  }

  private verifies(s: Session, url: string): boolean {
    return !(s.insecure && hostnameOf(url) === hostnameOf(s.base));
  }

  /** Sends one attempt and follows GET/HEAD redirects; `at.url` tracks the hop for error messages. */
  private async exchange(s: Session, req: HttpRequest, url: string, scopes: string[], at: { url: string }): Promise<Exchange> {
    let hop = url;
    for (let hops = 0; ; hops++) {
      at.url = hop;
      const auth = sameOrigin(hop, s.base) ? await this.auth.header(s, scopes) : undefined;
      const headers: Record<string, string> = { ...req.headers };
      if (auth) headers.authorization = auth;
      // undici takes async iterables (written chunk by chunk, see uploadBody.ts); its types omit them.
      const body = (typeof req.body === 'function' ? req.body() : req.body) as Readable | Buffer | undefined;
      const res: Answer = req.bulk && req.method === 'GET' && !body
        ? await rawGet(hop, { headers, signal: s.signal, ca: this.ca, rejectUnauthorized: this.verifies(s, hop), ...this.opts })
        : await request(hop, { method: req.method, headers, body, signal: s.signal, dispatcher: this.dispatcher(s, hop) });
      const loc = header(res.headers, 'location');
      const follow = (req.method === 'GET' || req.method === 'HEAD') && REDIRECT_STATUSES.has(res.statusCode) && !req.ok.includes(res.statusCode);
      if (!follow || !loc) {
        res.body.on('error', (err) => tagBodyError(err, req.what));
        return { res, url: hop, auth };
      }
      await res.body.dump().catch(() => undefined);
      let next = '';
      try { next = new URL(loc, hop).href; } catch { /* reported below */ }
      if (!originOf(next)) throw new UnavailableError(`${req.what}: ${hostOf(hop)} redirected (HTTP ${res.statusCode}) to an unusable location "${loc.slice(0, 200)}"`);
      if (hops >= MAX_REDIRECTS) throw new UnavailableError(`${req.what}: more than ${MAX_REDIRECTS} redirects (last from ${hostOf(hop)} to ${originOf(next)})`);
      hop = next;
    }
  }

  async send(s: Session, req: HttpRequest): Promise<HttpResponse> {
    const url = /^https?:\/\//i.test(req.url) ? req.url : s.base + req.url;
    if (!originOf(url)) throw new UnavailableError(`${req.what}: the registry gave an unusable URL "${url.slice(0, 200)}"`);
    let scopes = req.scopes;
    let reauthed = false;
    let timeouts = 0;
    const maxRetries = req.retry === false ? 0 : this.opts.retries;
    for (let attempt = 0; ; attempt++) {
      if (s.signal.aborted) toCancelled(s.signal, undefined);
      const at = { url };
      let ex: Exchange;
      try {
        ex = await this.exchange(s, req, url, scopes, at);
      } catch (err) {
        if (s.signal.aborted) toCancelled(s.signal, err);
        if (isVmrError(err) && err.code !== 'UNAVAILABLE') throw err;
        if (isTlsVerifyError(err)) {
          throw new FailedPreconditionError(`${req.what}: the TLS certificate of ${hostOf(at.url)} is not trusted (${(err as Error).message}); ` +
            'add its CA to the registry-oci caFile, or mark the context\'s registry insecure', { cause: err });
        }
        // A registry that lets a connection or request hang will most likely do it again: one more try.
        const again = isTimeout(err) ? timeouts++ < 1 : true;
        if (attempt < maxRetries && again && isTransient(err)) {
          s.log.debug({ url: at.url, attempt, err: (err as Error).message }, 'registry request failed, retrying');
          await sleep(backoffMs(attempt, this.opts), s.signal);
          continue;
        }
        if (isVmrError(err)) throw err;
        const tries = attempt + 1 > 1 ? ` (${attempt + 1} attempts)` : '';
        throw new UnavailableError(`${req.what}: ${describeNetworkError(err, hostOf(at.url), this.opts)}${tries}`, { cause: err });
      }
      const { res } = ex;
      const status = res.statusCode;
      const get = (n: string) => header(res.headers, n);
      if (status === 401 && !req.ok.includes(401)) {
        const text = await readText(res.body);
        if (!sameOrigin(ex.url, s.base)) {
          // Not the registry's challenge: answering it would hand the registry's credentials to that host.
          throw new PermissionDeniedError(`${req.what}: ${originOf(ex.url)}, where registry ${s.host} sent the request, asks for ` +
            `authentication (HTTP 401); credentials for ${s.host} are only sent to ${s.base}`);
        }
        const next = reauthed ? undefined : await this.auth.onUnauthorized(s, res.headers['www-authenticate'], scopes, ex.auth);
        if (next) {
          reauthed = true;
          scopes = next;
          attempt--;
          continue;
        }
        const creds = await s.credentials();
        if (this.auth.schemeOf(s) === 'bearer' && creds) {
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
          void res.body.dump().catch(() => undefined);
          await sleep(Math.min(wait ?? backoffMs(attempt, this.opts), 60_000), s.signal);
          continue;
        }
        throw errorFromResponse(status, await readText(res.body), req.what, { retryAfterMs: wait, expected: req.ok });
      }
      if (!req.ok.includes(status)) {
        throw errorFromResponse(status, await readText(res.body), req.what, { expected: req.ok, location: get('location') });
      }
      return { status, url: ex.url, headers: res.headers, header: get, body: res.body };
    }
  }
}

function hostnameOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
