// The resource owner password grant for the test provider. oidc-provider has none built in (the grant is
// deprecated by the OAuth 2.0 security BCP), but lets a deployment register one; real providers that offer
// it (Keycloak's "direct access grants") behave like this: check the password, issue AT + RT + ID token.
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { AccountStore } from './accounts.js';

export interface ResourceServerInfo {
  scope: string;
  audience: string;
  accessTokenTTL: number;
  accessTokenFormat: 'jwt';
  jwt: { sign: { alg: 'ES256' } };
}

type Ctx = Parameters<Parameters<Provider['registerGrantType']>[1]>[0];

export function registerPasswordGrant(
  provider: Provider, accounts: AccountStore, oidcScopes: readonly string[],
  resourceInfo: (resource: string) => ResourceServerInfo | undefined,
): void {
  const handler = async (ctx: Ctx, next: () => Promise<void>) => {
    const params = ctx.oidc.params as Record<string, string | undefined>;
    const acc = accounts.verify(params.username ?? '', params.password ?? '');
    if (!acc) throw new errors.InvalidGrant('invalid username or password');
    const client = ctx.oidc.client!;
    const { AccessToken, RefreshToken, IdToken, Grant } = ctx.oidc.provider;
    // Present at runtime in v8, missing from @types/oidc-provider.
    const { ResourceServer } = ctx.oidc.provider as unknown as { ResourceServer: new (r: string, i: ResourceServerInfo) => never };
    const requested = (params.scope ?? 'openid').split(' ').filter((s) => oidcScopes.includes(s));
    const scope = requested.join(' ');
    const resource = params.resource;
    const rsInfo = resource ? resourceInfo(resource) : undefined;
    if (resource && !rsInfo) throw new errors.InvalidTarget();

    const grant = new Grant({ clientId: client.clientId, accountId: acc.username });
    grant.addOIDCScope(scope);
    if (resource && rsInfo) grant.addResourceScope(resource, rsInfo.scope);
    const grantId = await grant.save();

    const at = new AccessToken({ accountId: acc.username, client, grantId, gty: 'password', scope });
    if (resource && rsInfo) {
      at.resourceServer = new ResourceServer(resource, rsInfo);
      at.scope = rsInfo.scope;
    }
    const accessToken = await at.save();

    let refreshToken: string | undefined;
    if (requested.includes('offline_access') && client.grantTypeAllowed('refresh_token')) {
      const rt = new RefreshToken({
        accountId: acc.username, client, grantId, gty: 'password', scope, resource, rotations: 0,
      } as ConstructorParameters<typeof RefreshToken>[0]);
      refreshToken = await rt.save();
    }

    let idToken: string | undefined;
    if (requested.includes('openid')) {
      const account = accounts.oidcAccount(acc.username)!;
      const token = new IdToken({ ...(await account.claims()) }, { ctx });
      (token as unknown as { scope: string }).scope = scope;
      token.set('at_hash', accessToken);
      idToken = await token.issue({ use: 'idtoken' });
    }

    ctx.body = {
      access_token: accessToken,
      expires_in: at.expiration,
      id_token: idToken,
      refresh_token: refreshToken,
      scope: at.scope,
      token_type: at.tokenType,
    };
    await next();
  };
  provider.registerGrantType('password', handler, ['username', 'password', 'scope', 'resource']);
}
