// Discovered provider configurations, cached per issuer + client id, and the per-call abort plumbing:
// openid-client takes no AbortSignal per request, so its fetch is wrapped to also honour the signal of
// the RPC that is running (carried in AsyncLocalStorage).
import { AsyncLocalStorage } from 'node:async_hooks';
import * as oidc from 'openid-client';
import { FailedPreconditionError, InvalidArgumentError } from '../../plugin-api/index.js';
import { chooseAuthMethod, clientAuthFor } from './clientSecrets.js';
import { toDomainError } from './oidcErrors.js';

const callSignal = new AsyncLocalStorage<AbortSignal | undefined>();

/** Runs `fn` so that provider requests it makes are aborted with `signal`. */
export function withSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return callSignal.run(signal, fn);
}

const signalledFetch: oidc.CustomFetch = (url, options) => {
  const extra = callSignal.getStore();
  const signal = extra && options.signal ? AbortSignal.any([extra, options.signal]) : extra ?? options.signal;
  return fetch(url, { ...options, signal } as RequestInit);
};

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
const CACHE_MS = 10 * 60_000;

export interface IssuerClientOptions {
  allowInsecureIssuers: boolean;
  timeoutSeconds: number;
  /** The confidential client's secret for this issuer + client id; undefined for a public client. */
  secretFor?: (issuer: string, clientId: string) => Promise<string | undefined>;
}

/** Validates an issuer URL and returns it in the form used as a key (no trailing slash). */
export function normalizeIssuer(raw: string): string {
  const s = raw.trim().replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new InvalidArgumentError(`auth server "${raw}" is not a URL; give the OIDC issuer, e.g. https://id.example`, { field: 'server' });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new InvalidArgumentError(`auth server "${raw}" must be an http(s) URL`, { field: 'server' });
  }
  return s;
}

export class IssuerClients {
  private readonly cache = new Map<string, { at: number; config: Promise<oidc.Configuration> }>();

  constructor(private readonly opts: IssuerClientOptions) {}

  async get(issuer: string, clientId: string): Promise<oidc.Configuration> {
    const key = `${issuer}\n${clientId}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.config;
    const config = this.discover(issuer, clientId);
    this.cache.set(key, { at: Date.now(), config });
    // A failed discovery must not be remembered: the next call tries again.
    config.catch(() => {
      if (this.cache.get(key)?.config === config) this.cache.delete(key);
    });
    return config;
  }

  private async discover(issuer: string, clientId: string): Promise<oidc.Configuration> {
    const url = new URL(issuer);
    const insecure = url.protocol === 'http:';
    if (insecure && !LOOPBACK.has(url.hostname) && !this.opts.allowInsecureIssuers) {
      throw new FailedPreconditionError(`auth server ${issuer} uses plain http; use https, or set ` +
        'allowInsecureIssuers in the auth-oidc plugin config');
    }
    const execute = insecure ? [oidc.allowInsecureRequests] : [];
    let config: oidc.Configuration;
    try {
      config = await oidc.discovery(url, clientId, { token_endpoint_auth_method: 'none' }, oidc.None(), {
        execute,
        timeout: this.opts.timeoutSeconds,
        [oidc.customFetch]: signalledFetch,
      });
    } catch (err) {
      throw toDomainError(err, `discovery of ${issuer}`, issuer, { refusal: 'configuration' });
    }
    const secret = await this.opts.secretFor?.(issuer, clientId);
    if (secret) {
      // The method can only be chosen once the discovery document is known, hence a second Configuration
      // over the same metadata. The secret stays inside the ClientAuth closure: not in client metadata,
      // not in anything that is logged or returned.
      const meta = config.serverMetadata();
      const method = chooseAuthMethod(meta.token_endpoint_auth_methods_supported, issuer);
      config = new oidc.Configuration(meta, clientId, { token_endpoint_auth_method: method }, clientAuthFor(method, secret));
      for (const ex of execute) ex(config);
      config.timeout = this.opts.timeoutSeconds;
    }
    config[oidc.customFetch] = signalledFetch;
    return config;
  }
}
