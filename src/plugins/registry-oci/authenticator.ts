// Answers registry challenges: Basic with the user's credentials, Bearer by fetching a token at the realm
// (GET with optional Basic, or the OAuth2 POST for identity tokens), cached per scope set.
import { createHash } from 'node:crypto';
import {
  isVmrError, type RegistryCredentials, UnauthenticatedError, UnavailableError,
} from '../../plugin-api/index.js';
import { formatScopes, parseChallenges, parseScopes, type Challenge } from './challenge.js';
import { quoteRegistry } from './registryErrors.js';
import { TokenCache, type TokenGrant } from './tokenCache.js';

export interface AuthSession {
  host: string;
  /** The registry's origin `http(s)://host[:port]`: the only place its credentials and challenges belong. */
  base: string;
  /** Realms over plain HTTP are only used for registries that may be reached insecurely. */
  insecure: boolean;
  signal: AbortSignal;
  credentials(): Promise<RegistryCredentials | undefined>;
}

/** What the authenticator needs from HTTP: one request, no auth logic. */
export type TokenHttp = (
  url: string,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; insecure: boolean; signal: AbortSignal },
) => Promise<{ status: number; text: string }>;

export const OAUTH_CLIENT_ID = 'vmregistry';

export class Authenticator {
  /**
   * Last challenge per registry origin: later requests send credentials up front. The transport records
   * only 401s that came from that origin, so the realm a token request goes to is the registry's word.
   */
  private readonly challenges = new Map<string, Challenge>();
  readonly tokens = new TokenCache();

  constructor(private readonly http: TokenHttp) {}

  /** Authorization header for a request, or undefined while the registry has not challenged us. */
  async header(s: AuthSession, scopes: string[]): Promise<string | undefined> {
    const ch = this.challenges.get(s.base);
    if (!ch) return undefined;
    const creds = await s.credentials();
    if (ch.scheme === 'basic') {
      if (creds?.kind === 'basic') return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      if (creds?.kind === 'bearer') return `Bearer ${creds.token}`;
      return undefined;
    }
    if (ch.scheme !== 'bearer') return undefined;
    if (creds?.kind === 'bearer') return `Bearer ${creds.token}`;
    const realm = ch.params.realm;
    if (!realm) return undefined;
    const scopeList = formatScopes(parseScopes(scopes));
    const key = this.key(s, ch, scopeList, creds);
    const token = await this.tokens.get(key, () => this.fetchToken(s, ch, scopeList, creds));
    return `Bearer ${token}`;
  }

  /**
   * Records a 401's challenge. Returns the scopes to ask for next (the call site's merged with the
   * challenged ones), or undefined when the challenge gives nothing new to try.
   */
  async onUnauthorized(s: AuthSession, wwwAuthenticate: string | string[] | undefined, scopes: string[], sent: string | undefined): Promise<string[] | undefined> {
    const all = parseChallenges(wwwAuthenticate);
    const ch = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
    if (!ch) return undefined;
    const prev = this.challenges.get(s.base);
    this.challenges.set(s.base, ch);
    const merged = formatScopes(parseScopes([...scopes, ...(ch.params.scope ? [ch.params.scope] : [])]));
    if (ch.scheme === 'bearer') {
      // Parallel requests all meet the first challenge: only a token that was actually sent and
      // rejected is dropped, so they share one fetch; a fresh token may still help (expiry).
      if (sent?.startsWith('Bearer ')) {
        const creds = await s.credentials();
        this.tokens.invalidate(this.key(s, ch, formatScopes(parseScopes(scopes)), creds), sent.slice(7));
        this.tokens.invalidate(this.key(s, ch, merged, creds), sent.slice(7));
      }
      return merged;
    }
    if (!sent || prev?.scheme !== ch.scheme) return merged;
    return undefined;
  }

  /** Whether credentials were in play (decides UNAUTHENTICATED vs PERMISSION_DENIED after a final 401). */
  schemeOf(s: Pick<AuthSession, 'base'>): string | undefined {
    return this.challenges.get(s.base)?.scheme;
  }

  /** Drops remembered challenges (of one registry origin, or all) and every cached token. */
  forget(base?: string): void {
    if (base) this.challenges.delete(base);
    else this.challenges.clear();
    this.tokens.clear();
  }

  private key(s: AuthSession, ch: Challenge, scopes: string[], creds: RegistryCredentials | undefined): string {
    const who = creds ? createHash('sha256').update(JSON.stringify(creds)).digest('hex').slice(0, 16) : 'anonymous';
    return [s.base, ch.params.realm, ch.params.service ?? '', scopes.join(' '), who].join('|');
  }

  private async fetchToken(s: AuthSession, ch: Challenge, scopes: string[], creds: RegistryCredentials | undefined): Promise<TokenGrant> {
    let realm: URL;
    try {
      realm = new URL(ch.params.realm!);
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('not http(s)');
    } catch (err) {
      throw new UnavailableError(`registry ${s.host} named an unusable token realm "${quoteRegistry(ch.params.realm!, 120)}"`, { cause: err });
    }
    const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(realm.hostname);
    if (realm.protocol !== 'https:' && !s.insecure && !loopback) {
      throw new UnauthenticatedError(`token realm ${realm.origin} of ${s.host} is not HTTPS; refusing to send credentials (mark the context's registry insecure to allow it)`);
    }
    const service = ch.params.service ?? '';
    let res: { status: number; text: string };
    try {
      if (creds?.kind === 'identityToken') {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.token, client_id: OAUTH_CLIENT_ID, access_type: 'offline' });
        if (service) form.set('service', service);
        if (scopes.length) form.set('scope', scopes.join(' '));
        res = await this.http(realm.href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), insecure: s.insecure, signal: s.signal });
      } else {
        if (service) realm.searchParams.set('service', service);
        for (const sc of scopes) realm.searchParams.append('scope', sc);
        const headers: Record<string, string> = {};
        if (creds?.kind === 'basic') {
          realm.searchParams.set('account', creds.username);
          headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
        }
        res = await this.http(realm.href, { method: 'GET', headers, insecure: s.insecure, signal: s.signal });
      }
    } catch (err) {
      if (isVmrError(err)) throw err;
      throw new UnavailableError(`token service ${realm.origin} for ${s.host} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    if (res.status === 401 || res.status === 403) {
      throw new UnauthenticatedError(`the token service of ${s.host} rejected ${creds ? 'the credentials' : 'anonymous access'}; log in again`);
    }
    if (res.status >= 500) throw new UnavailableError(`token service of ${s.host} failed with HTTP ${res.status}`);
    if (res.status !== 200) throw new UnauthenticatedError(`token service of ${s.host} answered HTTP ${res.status}: ${quoteRegistry(res.text)}`);
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch (err) {
      throw new UnavailableError(`token service ${realm.origin} of ${s.host} returned invalid JSON`, { cause: err });
    }
    const b = (typeof body === 'object' && body !== null ? body : {}) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof b.token === 'string' && b.token ? b.token : b.access_token;
    if (typeof token !== 'string' || !token) throw new UnavailableError(`token service ${realm.origin} of ${s.host} answered 200 without a token`);
    // Our header would carry it: anything outside the token68/visible-ASCII set is a broken answer.
    if (!/^[\x21-\x7e]+$/.test(token)) throw new UnavailableError(`token service ${realm.origin} of ${s.host} returned a malformed token`);
    const ttl = typeof b.expires_in === 'number' && Number.isFinite(b.expires_in) && b.expires_in > 0 ? Math.min(b.expires_in, 86_400) : 60;
    return { token, expiresInS: ttl };
  }
}
