// A real OpenID Provider for tests: panva's oidc-provider (v8, certified) in-process on a loopback port,
// with the device flow, refresh tokens (rotated for the public client), revocation, introspection,
// RP-initiated logout, a password grant, JWT access tokens for the registry audience, a login page
// backed by an account store, and a SCIM /Users endpoint writing into that store.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import Provider from 'oidc-provider';
import { AccountStore } from './accounts.js';
import { interactionHandler } from './interactions.js';
import { registerPasswordGrant, type ResourceServerInfo } from './passwordGrant.js';
import { scimHandler } from './scim.js';

export const CLIENT_ID = 'vmr';
export const REGISTRY_AUDIENCE = 'urn:vm-registry';
export const TOKEN_SERVICE_CLIENT = { id: 'registry-token-service', secret: 'token-service-secret' };
const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const;
const SCIM_PATH = '/scim/v2';

export interface TestIdpOptions {
  /** Lifetime of access tokens in seconds (short ones exercise refresh). */
  accessTokenTTL?: number;
  /** Listen on this port (e.g. to restart on the same issuer); 0: a free one. */
  port?: number;
}

export interface TestIdp {
  issuer: string;
  port: number;
  accounts: AccountStore;
  clientId: string;
  audience: string;
  scimUrl: string;
  scimToken: string;
  /** grant_type of every successful token request, in order. */
  grants: string[];
  provider: Provider;
  stop(): Promise<void>;
}

export async function startTestIdp(opts: TestIdpOptions = {}): Promise<TestIdp> {
  const accounts = new AccountStore();
  const scimToken = randomBytes(16).toString('hex');
  const rsInfo: ResourceServerInfo = {
    scope: 'registry:pull registry:push',
    audience: REGISTRY_AUDIENCE,
    accessTokenTTL: opts.accessTokenTTL ?? 600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  };
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const es = await jose.generateKeyPair('ES256', { extractable: true });
  const rs = await jose.generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        response_types: [],
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'password'],
        redirect_uris: [],
        post_logout_redirect_uris: [`${issuer}/logged-out`],
      },
      {
        client_id: TOKEN_SERVICE_CLIENT.id,
        client_secret: TOKEN_SERVICE_CLIENT.secret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: {
      keys: [
        { ...(await jose.exportJWK(rs.privateKey)), alg: 'RS256', kid: 'rs1', use: 'sig' },
        { ...(await jose.exportJWK(es.privateKey)), alg: 'ES256', kid: 'es1', use: 'sig' },
      ] as never,
    },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    scopes: [...OIDC_SCOPES],
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
    findAccount: async (_ctx, id) => accounts.oidcAccount(id),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: rsInfo.accessTokenTTL, IdToken: 3600, RefreshToken: 86400, DeviceCode: 600, Grant: 86400,
      Session: 3600, Interaction: 600,
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // First-party CLI: consent is implied, as an enterprise IdP configures it for its own tools.
    loadExistingGrant: async (ctx) => {
      const { Grant } = ctx.oidc.provider;
      const grant = new Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId });
      grant.addOIDCScope(OIDC_SCOPES.join(' '));
      grant.addResourceScope(REGISTRY_AUDIENCE, rsInfo.scope);
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => REGISTRY_AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource === REGISTRY_AUDIENCE) return rsInfo;
          throw new Error(`unknown resource ${resource}`);
        },
      },
    },
  });
  registerPasswordGrant(provider, accounts, OIDC_SCOPES, (r) => (r === REGISTRY_AUDIENCE ? rsInfo : undefined));

  const grants: string[] = [];
  provider.on('grant.success', (ctx) => {
    grants.push(String((ctx.oidc.params as Record<string, unknown>).grant_type ?? ''));
  });
  // Surfaces provider-side failures in test logs instead of only as 500s.
  provider.on('server_error', (_ctx, err) => console.error('test OIDC provider server_error:', err));

  const oidcApp = provider.callback();
  const interactions = interactionHandler(provider, accounts);
  const scim = scimHandler(accounts, scimToken, SCIM_PATH, () => issuer);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const handle = url.startsWith(SCIM_PATH) ? scim : url.startsWith('/interaction/') ? interactions : undefined;
    if (!handle) return void oidcApp(req, res);
    handle(req, res).catch((err: Error) => {
      console.error('test IdP handler failed:', err);
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err.message));
    });
  });

  return {
    issuer,
    port,
    accounts,
    clientId: CLIENT_ID,
    audience: REGISTRY_AUDIENCE,
    scimUrl: `${issuer}${SCIM_PATH}`,
    scimToken,
    grants,
    provider,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
