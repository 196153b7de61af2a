// A minimal docker-distribution token realm (GET with Basic, OAuth2 POST with password/refresh_token) that
// issues ES256 registry JWTs after a pluggable credential check. Used directly by the auth tests when no
// registry is started; test/support/tokenService.ts (registry branch) is the full one that docker-registry trusts.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { readBody, sendJson } from './http.js';
import type { Access, CredentialCheck, CredentialCheckInput } from './registryAuth.js';

export const REALM_SERVICE = 'vmr-test-registry';
export const REALM_ISSUER = 'vmr-test-token-issuer';

export interface TokenRealm {
  realm: string;
  /** Verifies a registry token this realm issued; throws when forged or expired. */
  verify(token: string): Promise<jose.JWTPayload & { access?: Access[] }>;
  stop(): Promise<void>;
}

export interface TokenAnswer { status: number; token?: string; body: Record<string, unknown> }

/** What a registry client does at the realm with each kind of RegistryCredentials. */
export async function requestToken(
  realm: string, creds: { kind: 'basic'; username: string; password: string } | { kind: 'identityToken'; username: string; token: string },
  scope: string,
): Promise<TokenAnswer> {
  const res = creds.kind === 'basic'
    ? await fetch(`${realm}?service=${REALM_SERVICE}&scope=${encodeURIComponent(scope)}`, {
      headers: { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` },
    })
    : await fetch(realm, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token', refresh_token: creds.token, service: REALM_SERVICE, scope, client_id: 'vmregistry',
      }).toString(),
    });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, token: (body.token ?? body.access_token) as string | undefined, body };
}

export async function startTokenRealm(check: CredentialCheck, ttlS = 300): Promise<TokenRealm> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/token') return sendJson(res, 404, { error: 'not found' });
      let input: CredentialCheckInput;
      let scopes: string[];
      if (req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const gt = form.get('grant_type');
        if (gt === 'refresh_token') input = { grantType: 'refresh_token', secret: form.get('refresh_token') ?? '' };
        else if (gt === 'password') input = { grantType: 'password', username: form.get('username') ?? '', secret: form.get('password') ?? '' };
        else return sendJson(res, 400, { error: 'unsupported_grant_type' });
      } else {
        scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
        const h = req.headers.authorization ?? '';
        if (!h.startsWith('Basic ')) input = { grantType: 'anonymous' };
        else {
          const plain = Buffer.from(h.slice(6), 'base64').toString('utf8');
          const cut = plain.indexOf(':');
          input = { grantType: 'basic', username: plain.slice(0, cut), secret: plain.slice(cut + 1) };
        }
      }
      const who = await check(input).catch(() => undefined);
      if (!who) return sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
      const access = grant(scopes, who.access);
      const token = await new jose.SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .setIssuer(REALM_ISSUER).setAudience(REALM_SERVICE).setSubject(who.subject)
        .setIssuedAt().setNotBefore('0s').setExpirationTime(`${ttlS}s`).setJti(randomUUID())
        .sign(privateKey);
      sendJson(res, 200, { token, access_token: token, expires_in: ttlS, issued_at: new Date().toISOString() });
    })().catch((err: Error) => sendJson(res, 500, { error: err.message }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    verify: async (token) => (await jose.jwtVerify(token, publicKey, { issuer: REALM_ISSUER, audience: REALM_SERVICE })).payload,
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** The intersection of requested scopes and allowed access (distribution's token spec rule). */
function grant(requested: string[], allowed: Access[]): Access[] {
  const out: Access[] = [];
  for (const s of requested) {
    const parts = s.split(':');
    if (parts.length < 3) continue;
    const actions = parts.pop()!.split(',');
    const type = parts.shift()!;
    const name = parts.join(':');
    const ok = actions.filter((act) => allowed.some((a) => a.type === type &&
      (a.name === name || (a.name.endsWith('*') && name.startsWith(a.name.slice(0, -1)))) && a.actions.includes(act)));
    if (ok.length) out.push({ type, name, actions: ok });
  }
  return out;
}
