// Confidential clients: which secret (if any) goes with an issuer + client id, and how the token endpoint
// wants it. A secret is bound to the issuer it was registered at: any socket user can point a context at
// any issuer, and the daemon must not hand that issuer a secret meant for another.
import { stat, readFile } from 'node:fs/promises';
import * as oidc from 'openid-client';
import { FailedPreconditionError, InvalidArgumentError } from '../../plugin-api/index.js';
import type { AuthOidcConfig } from './config.js';

interface Entry {
  issuer: string;
  clientId: string;
  secret: string;
  file: string;
}

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export class ClientSecrets {
  private readonly entries: Entry[];

  /** Throws when a secret is configured without the issuers it belongs to. */
  constructor(config: AuthOidcConfig, normalizeIssuer: (issuer: string) => string) {
    const normalize = (issuer: string, field: string) => {
      try {
        return normalizeIssuer(issuer);
      } catch {
        throw new InvalidArgumentError(`auth-oidc: ${field} "${issuer.slice(0, 128)}" is not an http(s) issuer URL`, { field });
      }
    };
    const entries: Entry[] = [];
    if (config.clientSecret || config.clientSecretFile) {
      if (config.clientSecretIssuers.length === 0) {
        throw new InvalidArgumentError('auth-oidc: clientSecret is set but clientSecretIssuers is empty; list the ' +
          'issuers the secret was registered at (it is never sent anywhere else)', { field: 'clientSecretIssuers' });
      }
      for (const [i, issuer] of config.clientSecretIssuers.entries()) {
        entries.push({ issuer: normalize(issuer, `clientSecretIssuers[${i}]`), clientId: config.clientId, secret: config.clientSecret, file: config.clientSecretFile });
      }
    }
    config.clients.forEach((c, i) => {
      if (!c.clientSecret && !c.clientSecretFile) {
        throw new InvalidArgumentError(`auth-oidc: clients[${i}] has neither clientSecret nor clientSecretFile`,
          { field: `clients[${i}].clientSecret` });
      }
      entries.push({ issuer: normalize(c.issuer, `clients[${i}].issuer`), clientId: c.clientId, secret: c.clientSecret, file: c.clientSecretFile });
    });
    this.entries = entries;
  }

  /** The secret of `clientId` at `issuer`, or undefined for a public client. Files are read per call (rotation). */
  async secretFor(issuer: string, clientId: string): Promise<string | undefined> {
    const e = this.entries.find((x) => x.issuer === issuer && x.clientId === clientId);
    if (!e) return undefined;
    if (!e.file) return e.secret;
    return readSecretFile(e.file);
  }
}

async function readSecretFile(file: string): Promise<string> {
  try {
    const st = await stat(file);
    if (st.mode & 0o004) {
      throw new FailedPreconditionError(`client secret file ${file} is readable by every user; ` +
        '`chmod o-r` it (and keep it owned by the daemon\'s user)');
    }
    const secret = (await readFile(file, 'utf8')).trim();
    if (!secret) throw new FailedPreconditionError(`client secret file ${file} is empty`);
    return secret;
  } catch (err) {
    if (err instanceof FailedPreconditionError) throw err;
    throw new FailedPreconditionError(`cannot read the client secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * Picks how to present the secret from the discovery document's `token_endpoint_auth_methods_supported`:
 * Basic when offered (or when the list is absent: RFC 8414's default), else the form body.
 */
export function chooseAuthMethod(supported: unknown, issuer: string): ClientAuthMethod {
  if (!Array.isArray(supported)) return 'client_secret_basic';
  if (supported.includes('client_secret_basic')) return 'client_secret_basic';
  if (supported.includes('client_secret_post')) return 'client_secret_post';
  throw new FailedPreconditionError(`${issuer} accepts neither client_secret_basic nor client_secret_post at its token ` +
    `endpoint (it lists ${supported.map(String).join(', ') || 'nothing'}); use a public client or another issuer`);
}

export function clientAuthFor(method: ClientAuthMethod, secret: string): oidc.ClientAuth {
  return method === 'client_secret_basic' ? secretBasic(secret) : oidc.ClientSecretPost(secret);
}

/**
 * client_secret_basic with RFC 6749 §2.3.1's form-urlencoding as the WHATWG serializer does it.
 * openid-client's own escapes every non-alphanumeric character (`-` → `%2D`), which providers that do not
 * decode the header (glewlwyd) then compare literally and refuse; this one leaves `-._*` alone.
 */
function secretBasic(secret: string): oidc.ClientAuth {
  return (_as, client, _body, headers) => {
    const enc = (v: string) => new URLSearchParams({ v }).toString().slice(2);
    headers.set('authorization', `Basic ${Buffer.from(`${enc(client.client_id)}:${enc(secret)}`).toString('base64')}`);
  };
}
