// Registrar over SCIM 2.0: POST {base}/Users with the core User schema and a provisioning bearer token.
import {
  AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, UnavailableError,
} from '../../plugin-api/index.js';
import { toDomainError } from './oidcErrors.js';
import type { NewUser, RegisteredUser, Registrar } from './registrar.js';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SCIM_JSON = 'application/scim+json';

interface ScimError {
  detail?: string;
  scimType?: string;
  status?: string | number;
}

export class ScimRegistrar implements Registrar {
  readonly target: string;

  constructor(
    private readonly baseUrl: string,
    private readonly token: () => Promise<string>,
    private readonly timeoutMs = 10_000,
  ) {
    this.target = baseUrl.replace(/\/+$/, '');
  }

  async register(user: NewUser, signal: AbortSignal): Promise<RegisteredUser> {
    const body: Record<string, unknown> = {
      schemas: [USER_SCHEMA],
      userName: user.username,
      password: user.password,
      active: true,
    };
    if (user.email) body.emails = [{ value: user.email, primary: true, type: 'work' }];
    if (user.displayName) {
      body.displayName = user.displayName;
      body.name = { formatted: user.displayName };
    }
    let res: Response;
    try {
      res = await fetch(`${this.target}/Users`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await this.token()}`,
          'content-type': SCIM_JSON,
          accept: `${SCIM_JSON}, application/json`,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      throw toDomainError(err, `registering "${user.username}"`, this.target);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown> & ScimError;
    if (res.status === 201 || res.status === 200) {
      const id = typeof json.id === 'string' ? json.id : '';
      if (!id) throw new UnavailableError(`SCIM server ${this.target} created "${user.username}" but returned no id`);
      return { userId: id, username: typeof json.userName === 'string' ? json.userName : user.username };
    }
    const reason = json.detail || res.statusText || `HTTP ${res.status}`;
    if (res.status === 409 || json.scimType === 'uniqueness') {
      throw new AlreadyExistsError(`username "${user.username}" is already taken at ${this.target}; choose another`,
        { field: 'username' });
    }
    if (res.status === 400) {
      throw new InvalidArgumentError(`the identity provider refused the registration: ${reason}`,
        { field: /password/i.test(reason) ? 'password' : undefined });
    }
    if (res.status === 401 || res.status === 403) {
      throw new FailedPreconditionError(`the SCIM server ${this.target} refused the provisioning token (${reason}); ` +
        'check scim.token in the auth-oidc plugin config');
    }
    if (res.status === 404) {
      throw new FailedPreconditionError(`no SCIM Users endpoint at ${this.target}/Users; check scim.url in the auth-oidc plugin config`);
    }
    throw new UnavailableError(`SCIM server ${this.target} answered ${res.status} (${reason}); try again later`);
  }
}
