// A docker-distribution token service for tests: GET /token (Basic or anonymous) and the OAuth2
// POST (password or refresh_token grant). It issues ES256 JWTs whose x5c certificate the registry's
// rootcertbundle trusts. Who may do what is decided by a pluggable callback.
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const pexec = promisify(execFile);

export interface Access { type: string; name: string; actions: string[] }

export interface CredentialCheckInput {
  grantType: 'basic' | 'anonymous' | 'password' | 'refresh_token';
  username?: string;
  /** The password, or the refresh token for grant `refresh_token`. */
  secret?: string;
}

/**
 * Decides who is asking and what they may do. `access` patterns: `name` may end in `*`. Return
 * undefined (or throw) to reject the credentials with 401.
 */
export type CredentialCheck = (input: CredentialCheckInput) => Promise<{ subject: string; access: Access[] } | undefined>;

export interface TokenServiceOptions {
  service: string;
  issuer: string;
  check: CredentialCheck;
  /** Lifetime of issued tokens in seconds. */
  ttlS?: number;
}

export interface TokenService {
  realm: string;
  certPath: string;
  /** Requests seen, for assertions. */
  requests: Array<{ method: string; grantType: string; scopes: string[]; subject?: string }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function signJwt(key: KeyObject, certDer: Buffer, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c: [certDer.toString('base64')] }));
  const body = b64url(JSON.stringify(claims));
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64url(sig)}`;
}

function grant(requested: string[], allowed: Access[]): Access[] {
  const out: Access[] = [];
  for (const s of requested) {
    const parts = s.split(':');
    if (parts.length < 3) continue;
    const actions = parts.pop()!.split(',');
    const type = parts.shift()!;
    const name = parts.join(':');
    const ok = new Set<string>();
    for (const a of allowed) {
      const match = a.type === type && (a.name === name || (a.name.endsWith('*') && name.startsWith(a.name.slice(0, -1))));
      if (match) for (const act of actions) if (a.actions.includes(act) || a.actions.includes('*')) ok.add(act);
    }
    if (ok.size) out.push({ type, name, actions: [...ok] });
  }
  return out;
}

/** Generates a P-256 key and self-signed cert in `dir` (openssl CLI: Node cannot issue X.509). */
export async function makeSigningCert(dir: string): Promise<{ key: KeyObject; certPath: string; certDer: Buffer }> {
  const keyPath = path.join(dir, 'token.key');
  const certPath = path.join(dir, 'token.crt');
  await pexec('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath]);
  await pexec('openssl', ['req', '-new', '-x509', '-key', keyPath, '-subj', '/CN=vmr-test-token', '-days', '2', '-out', certPath]);
  const { readFile } = await import('node:fs/promises');
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw;
  return { key, certPath, certDer };
}

export async function startTokenService(dir: string, opts: TokenServiceOptions): Promise<TokenService> {
  const { key, certPath, certDer } = await makeSigningCert(dir);
  const requests: TokenService['requests'] = [];
  const ttl = opts.ttlS ?? 300;

  const issue = (subject: string, access: Access[]) => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(key, certDer, {
      iss: opts.issuer, sub: subject, aud: opts.service, exp: now + ttl, nbf: now - 5, iat: now, jti: randomUUID(), access,
    });
  };

  const server = http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/token') return send(404, { error: 'not found' });
      let input: CredentialCheckInput;
      let scopes: string[];
      if (req.method === 'POST') {
        let raw = '';
        for await (const c of req) raw += c;
        const form = new URLSearchParams(raw);
        const gt = form.get('grant_type');
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        if (!form.get('client_id')) return send(400, { error: 'invalid_request', error_description: 'client_id required' });
        if (gt === 'password') input = { grantType: 'password', username: form.get('username') ?? '', secret: form.get('password') ?? '' };
        else if (gt === 'refresh_token') input = { grantType: 'refresh_token', username: form.get('username') ?? undefined, secret: form.get('refresh_token') ?? '' };
        else return send(400, { error: 'unsupported_grant_type' });
      } else {
        scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
        const h = req.headers.authorization ?? '';
        if (h.startsWith('Basic ')) {
          const plain = Buffer.from(h.slice(6), 'base64').toString('utf8');
          const cut = plain.indexOf(':');
          input = { grantType: 'basic', username: plain.slice(0, cut), secret: plain.slice(cut + 1) };
        } else input = { grantType: 'anonymous' };
      }
      const who = await opts.check(input).catch(() => undefined);
      requests.push({ method: req.method ?? 'GET', grantType: input.grantType, scopes, subject: who?.subject });
      if (!who) return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
      const access = grant(scopes, who.access);
      const token = issue(who.subject, access);
      const issuedAt = new Date().toISOString();
      if (req.method === 'POST') {
        return send(200, { access_token: token, scope: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' '), expires_in: ttl, issued_at: issuedAt,
          ...(input.grantType === 'refresh_token' ? { refresh_token: input.secret } : {}) });
      }
      send(200, { token, access_token: token, expires_in: ttl, issued_at: issuedAt });
    } catch (err) {
      send(500, { error: String(err) });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await writeFile(path.join(dir, 'token-service.txt'), `http://127.0.0.1:${port}/token\n`);
  return {
    realm: `http://127.0.0.1:${port}/token`, certPath, requests,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
