// What the registry client presents at a registry's token realm, from an OIDC session.
//
// Registries that accept OIDC logins do so at their token realm (docker distribution's token auth), not
// at /v2/ itself. Two forms are understood there, and they are what Docker, podman and oras send:
//  - identity token: the client POSTs `grant_type=refresh_token&refresh_token=<token>` (plus service,
//    scope, client_id) to the realm — the Docker CLI and containers/image do this when a credential has
//    an "identitytoken". The realm validates the OIDC refresh token (introspection at the provider) and
//    issues a registry token. It is long-lived on our side: the registry client need not come back when
//    the access token rotates.
//  - basic: `Authorization: Basic <username>:<OIDC access token>` on the realm's GET (what Zot's
//    bearer.oidc and our test token service accept; ghcr/gcloud use the same shape with their tokens).
//    The realm verifies the JWT against the provider's JWKS.
// Caveat for the identity token: a realm that *redeems* the refresh token at the provider (instead of
// introspecting it) consumes it when the provider rotates refresh tokens and breaks this session.
// Deployments with such a realm should list no refresh-capable scope, which makes this return `basic`.
import type { RegistryCredentials } from '../../plugin-api/index.js';
import type { Session } from './session.js';

export function credentialsFor(s: Session): RegistryCredentials {
  return s.refreshToken
    ? { kind: 'identityToken', username: s.username, token: s.refreshToken }
    : { kind: 'basic', username: s.username, password: s.accessToken };
}

/** host[:port] of a registry URL or reference host, lower-cased, default ports made explicit. */
export function hostKey(raw: string): string {
  const s = raw.trim().toLowerCase();
  if (!s) return '';
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//.test(s) ? s : `https://${s}`);
    return u.port ? `${u.hostname}:${u.port}` : u.hostname;
  } catch {
    return s;
  }
}

export function hostAllowed(host: string, contextRegistry: string, extra: readonly string[]): boolean {
  const want = hostKey(host);
  if (!want) return false;
  return [contextRegistry, ...extra].some((h) => h && hostKey(h) === want);
}
