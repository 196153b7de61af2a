// The bridge from OIDC to registry auth, as a registry's token realm would run it: a credential check
// (same shape as the `CredentialCheck` of test/support/tokenService.ts) that accepts
//  - Basic / password grant with an OIDC access token as the password: the JWT (typ at+jwt, RFC 9068) is
//    verified locally against the provider's JWKS, issuer and registry audience;
//  - grant_type=refresh_token with an OIDC refresh token (Docker's "identity token"): validated by
//    introspection at the provider with the token service's own client credentials — introspecting does
//    not consume the token, whereas redeeming it would rotate it out from under the daemon.
// Repository access follows the access token's scopes (registry:pull / registry:push).
import * as jose from 'jose';
import { TOKEN_SERVICE_CLIENT, type TestIdp } from './provider.js';

export interface Access { type: string; name: string; actions: string[] }

export interface CredentialCheckInput {
  grantType: 'basic' | 'anonymous' | 'password' | 'refresh_token';
  username?: string;
  secret?: string;
}

export type CredentialCheck = (input: CredentialCheckInput) => Promise<{ subject: string; access: Access[] } | undefined>;

/** Why the last check rejected (for assertions), keyed by nothing: tests read it right after a call. */
export interface CheckLog { rejected: string[] }

export function oidcCredentialCheck(idp: Pick<TestIdp, 'issuer' | 'audience' | 'clientId'>, log: CheckLog = { rejected: [] }): CredentialCheck {
  let meta: Promise<{ jwks: ReturnType<typeof jose.createRemoteJWKSet>; introspection: string }> | undefined;
  const discover = () => (meta ??= (async () => {
    const res = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    const m = (await res.json()) as { jwks_uri: string; introspection_endpoint: string };
    return { jwks: jose.createRemoteJWKSet(new URL(m.jwks_uri)), introspection: m.introspection_endpoint };
  })());

  const reject = (why: string) => {
    log.rejected.push(why);
    return undefined;
  };

  return async (input) => {
    const { jwks, introspection } = await discover();
    if ((input.grantType === 'basic' || input.grantType === 'password') && input.secret) {
      try {
        const { payload } = await jose.jwtVerify(input.secret, jwks, {
          issuer: idp.issuer, audience: idp.audience, typ: 'at+jwt', algorithms: ['ES256', 'RS256'],
        });
        return { subject: String(payload.sub), access: accessFor(String(payload.scope ?? '')) };
      } catch (err) {
        return reject(`access token: ${(err as Error).message}`);
      }
    }
    if (input.grantType === 'refresh_token' && input.secret) {
      const res = await fetch(introspection, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${TOKEN_SERVICE_CLIENT.id}:${TOKEN_SERVICE_CLIENT.secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: input.secret, token_type_hint: 'refresh_token' }).toString(),
      });
      const info = (await res.json()) as { active?: boolean; sub?: string; client_id?: string; token_type?: string };
      if (!info.active) return reject('refresh token: not active');
      if (info.client_id !== idp.clientId) return reject(`refresh token: issued to ${info.client_id}`);
      return { subject: String(info.sub), access: accessFor('registry:pull registry:push') };
    }
    return reject(`${input.grantType}: no credentials`);
  };
}

function accessFor(scope: string): Access[] {
  const scopes = new Set(scope.split(' '));
  const actions = [
    ...(scopes.has('registry:pull') ? ['pull'] : []),
    ...(scopes.has('registry:push') ? ['push'] : []),
  ];
  return actions.length ? [{ type: 'repository', name: '*', actions }] : [];
}
