// Builds a Session from a token endpoint response (login or refresh).
import { decodeJwt } from 'jose';
import type * as oidc from 'openid-client';
import type { Session } from './session.js';

type TokenResponse = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

const DEFAULT_TTL_S = 3600;

export function sessionFromTokens(
  tokens: TokenResponse,
  base: { issuer: string; clientId: string; usernameHint?: string },
  previous?: Session,
): Session {
  const claims = tokens.claims();
  const username = str(claims?.preferred_username) ?? previous?.username ?? base.usernameHint ?? str(claims?.sub) ??
    subjectOf(tokens.access_token) ?? '';
  return {
    issuer: base.issuer,
    clientId: base.clientId,
    username,
    subject: str(claims?.sub) ?? previous?.subject ?? subjectOf(tokens.access_token),
    accessToken: tokens.access_token,
    // Providers that rotate send a new refresh token; those that don't keep the old one valid.
    refreshToken: tokens.refresh_token ?? previous?.refreshToken,
    idToken: tokens.id_token ?? previous?.idToken,
    tokenType: tokens.token_type ?? 'Bearer',
    expiresAt: Date.now() + ttlSeconds(tokens) * 1000,
    scope: tokens.scope ?? previous?.scope,
  };
}

function ttlSeconds(tokens: TokenResponse): number {
  const s = tokens.expiresIn();
  if (s !== undefined) return s;
  const exp = jwtClaim(tokens.access_token, 'exp');
  return typeof exp === 'number' ? Math.max(0, exp - Math.floor(Date.now() / 1000)) : DEFAULT_TTL_S;
}

function subjectOf(accessToken: string): string | undefined {
  return str(jwtClaim(accessToken, 'sub'));
}

/** Reads a claim of a JWT access token without verifying it (it came straight from the token endpoint). */
function jwtClaim(token: string, name: string): unknown {
  try {
    return decodeJwt(token)[name];
  } catch {
    return undefined; // opaque token
  }
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
