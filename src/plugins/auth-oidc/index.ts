// auth-oidc: the AuthProvider port over OpenID Connect (openid-client + jose). Sessions live in the state
// store (namespace "auth"), their tokens sealed with a key kept in this plugin's data dir.
import { authPort, definePlugin, statePort } from '../../plugin-api/index.js';
import { configSchema, type AuthOidcConfig } from './config.js';
import { OidcAuthProvider } from './OidcAuthProvider.js';
import { SessionStore } from './session.js';
import { SessionCrypto } from './sessionCrypto.js';

export type { AuthOidcConfig } from './config.js';
export type { Registrar, NewUser, RegisteredUser } from './registrar.js';

export const authOidcPlugin = definePlugin<AuthOidcConfig>({
  id: 'auth-oidc',
  description: 'OIDC login (device flow, optional password grant), logout, SCIM registration, registry credentials',
  apiVersion: '^1.0.0',
  provides: [authPort],
  requires: [statePort],
  configSchema,
  async init({ config, deps, log, dataDir }) {
    const kv = deps.get(statePort).namespace('auth');
    const crypto = await SessionCrypto.open(dataDir, log);
    const provider = new OidcAuthProvider(config, new SessionStore(kv, crypto, log), kv, log);
    return { implementations: { [authPort.id]: provider } };
  },
});

export default authOidcPlugin;
