// Picks the registrar for a context: its own SCIM target from `contexts.<name>.scim`, else the plugin-wide
// `scim`; the provisioning token is read per call so a rotated token file needs no restart.
import { readFile } from 'node:fs/promises';
import { FailedPreconditionError } from '../../plugin-api/index.js';
import type { AuthOidcConfig, ScimTarget } from './config.js';
import type { Registrar } from './registrar.js';
import { ScimRegistrar } from './ScimRegistrar.js';

export function registrarFor(config: AuthOidcConfig, contextName: string): Registrar {
  const perContext = config.contexts[contextName]?.scim;
  const target: ScimTarget = perContext?.url
    ? { url: perContext.url, token: perContext.token ?? '', tokenFile: perContext.tokenFile ?? '' }
    : config.scim;
  if (!target.url) {
    throw new FailedPreconditionError(`registration is not configured for context "${contextName}": set ` +
      'scim.url (or contexts.<name>.scim.url) in the auth-oidc plugin config, or register at the identity provider');
  }
  const token = async () => {
    if (!target.tokenFile) return target.token;
    try {
      return (await readFile(target.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new FailedPreconditionError(`cannot read the SCIM token file ${target.tokenFile}: ${(err as Error).message}`);
    }
  };
  return new ScimRegistrar(target.url, token, config.httpTimeoutSeconds * 1000);
}
