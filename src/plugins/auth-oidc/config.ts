// The auth-oidc plugin's configuration: its schema (checked by the host at startup) and its type.
import type { ConfigSchema } from '../../plugin-api/index.js';

export interface ScimTarget {
  /** SCIM 2.0 base URL; `POST {url}/Users` creates a user. */
  url: string;
  /** Bearer token of a provisioning account (or read from tokenFile). */
  token: string;
  tokenFile: string;
}

// A type alias (not an interface) so it is assignable to the loader's Record<string, unknown> config.
/** A confidential client's secret, bound to the issuer it was registered at. */
export interface ClientSecretEntry {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** File holding the secret (wins over clientSecret); must not be readable by other users. */
  clientSecretFile: string;
}

export type AuthOidcConfig = {
  /** Client id when the context sets none (ContextInfo.authClientId wins). */
  clientId: string;
  /** Secret of `clientId`, sent only to the issuers in `clientSecretIssuers` (contexts can name any issuer). */
  clientSecret: string;
  clientSecretFile: string;
  clientSecretIssuers: string[];
  /** Secrets of other client ids (e.g. a context's own authClientId), each bound to its issuer. */
  clients: ClientSecretEntry[];
  scopes: string;
  /** RFC 8707 resource indicator sent with token requests (e.g. the registry's audience); empty: none. */
  resource: string;
  /** The resource owner password grant is discouraged (RFC 9700); only offered when enabled here. */
  allowPasswordGrant: boolean;
  /** http:// issuers are refused unless they are on loopback or this is set. */
  allowInsecureIssuers: boolean;
  /** Refresh an access token this many seconds before it expires. */
  refreshSkewSeconds: number;
  /** Timeout of each request to the provider. */
  httpTimeoutSeconds: number;
  /** How long a Login completing the device flow waits for the user before answering pending=true. */
  deviceWaitSeconds: number;
  healthTimeoutMs: number;
  /** Extra registry hosts (host[:port]) that may receive the session's tokens besides the context's registry. */
  credentialHosts: string[];
  scim: ScimTarget;
  /** Per-context registrars, keyed by context name; they win over `scim`. */
  contexts: Record<string, { scim?: Partial<ScimTarget> }>;
};

const scimSchema: ConfigSchema = {
  type: 'object',
  description: 'SCIM 2.0 endpoint used by Register',
  properties: {
    url: { type: 'string', default: '', description: 'SCIM base URL, e.g. https://id.example/scim/v2' },
    token: { type: 'string', default: '', description: 'bearer token of the provisioning account' },
    tokenFile: { type: 'string', default: '', description: 'file holding the bearer token (wins over token)' },
  },
};

export const configSchema: ConfigSchema = {
  type: 'object',
  properties: {
    clientId: { type: 'string', default: 'vmr', description: 'OIDC client id when the context has none' },
    clientSecret: { type: 'string', default: '', description: 'secret of clientId (confidential client); never logged' },
    clientSecretFile: { type: 'string', default: '', description: 'file holding the secret of clientId (wins over clientSecret)' },
    clientSecretIssuers: {
      type: 'array', items: { type: 'string' }, default: [],
      description: 'issuers that may receive clientSecret; required when a secret is set',
    },
    clients: {
      type: 'array',
      default: [],
      description: 'secrets of further client ids, each sent only to its issuer',
      items: {
        type: 'object',
        required: ['issuer', 'clientId'],
        properties: {
          issuer: { type: 'string', default: '' },
          clientId: { type: 'string', default: '' },
          clientSecret: { type: 'string', default: '' },
          clientSecretFile: { type: 'string', default: '' },
        },
      },
    },
    scopes: { type: 'string', default: 'openid profile email offline_access' },
    resource: { type: 'string', default: '' },
    allowPasswordGrant: { type: 'boolean', default: false },
    allowInsecureIssuers: { type: 'boolean', default: false },
    refreshSkewSeconds: { type: 'integer', minimum: 0, default: 60 },
    httpTimeoutSeconds: { type: 'integer', minimum: 1, default: 10 },
    deviceWaitSeconds: { type: 'integer', minimum: 0, default: 20 },
    healthTimeoutMs: { type: 'integer', minimum: 1, default: 2000 },
    credentialHosts: { type: 'array', items: { type: 'string' }, default: [] },
    scim: scimSchema,
    contexts: {
      type: 'object',
      default: {},
      additionalProperties: { type: 'object', properties: { scim: scimSchema } },
    },
  },
};
