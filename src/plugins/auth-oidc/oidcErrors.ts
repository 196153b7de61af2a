// Turns what openid-client and fetch throw into domain errors with messages a user can act on.
// Token strings never reach these messages: provider error descriptions are about the request, not secrets.
import * as oidc from 'openid-client';
import {
  CancelledError, FailedPreconditionError, InvalidArgumentError, isVmrError, UnauthenticatedError,
  UnavailableError, type VmrError,
} from '../../core/errors.js';

export const RELOGIN = 'log in again with `vmr login`';

/** The OAuth `error` code of a provider's error response, if that is what `err` is. */
export function oauthErrorCode(err: unknown): string | undefined {
  return err instanceof oidc.ResponseBodyError ? err.error : undefined;
}

/** `what` says what was being done, e.g. `login at http://id.example`. */
export function toDomainError(err: unknown, what: string, issuer: string): VmrError {
  if (isVmrError(err)) return err;
  if (err instanceof oidc.ResponseBodyError) {
    const reason = err.error_description ? `${err.error}: ${err.error_description}` : err.error;
    switch (err.error) {
      case 'invalid_grant':
        return new UnauthenticatedError(`${what} failed: the provider rejected the credentials (${reason})`, { cause: err });
      case 'access_denied':
        return new UnauthenticatedError(`${what} failed: the sign-in was denied at ${issuer}`, { cause: err });
      case 'expired_token':
        return new UnauthenticatedError(`${what} failed: the device code expired; start again with \`vmr login --device\``, { cause: err });
      case 'invalid_client':
      case 'unauthorized_client':
        return new FailedPreconditionError(`${what} failed: ${issuer} does not accept this client (${reason}); ` +
          'check the context\'s auth client id', { cause: err });
      case 'unsupported_grant_type':
        return new FailedPreconditionError(`${what} failed: ${issuer} does not allow this kind of login (${reason})`, { cause: err });
      case 'invalid_scope':
      case 'invalid_target':
        return new FailedPreconditionError(`${what} failed: ${reason}; check the auth-oidc plugin's scopes/resource`, { cause: err });
      case 'invalid_request':
        return new InvalidArgumentError(`${what} failed: ${reason}`, { cause: err });
      default:
        if (err.status >= 500) return new UnavailableError(`${what} failed: ${issuer} answered ${err.status} (${reason})`, { cause: err });
        return new UnauthenticatedError(`${what} failed: ${reason}`, { cause: err });
    }
  }
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown };
  if ((e?.name === 'AbortError' || e?.code === 'OAUTH_ABORT') && !isTimeout(err)) {
    return new CancelledError(`${what}: cancelled`, { cause: err });
  }
  if (e?.name === 'TimeoutError' || e?.code === 'OAUTH_TIMEOUT' || isTimeout(err)) {
    return new UnavailableError(`${what} failed: ${issuer} did not answer in time; try again later`, { cause: err });
  }
  // fetch() failures are TypeErrors whose cause carries the socket error (ECONNREFUSED …).
  if (err instanceof TypeError || e?.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || e?.code === 'OAUTH_RESPONSE_IS_NOT_JSON') {
    const cause = (e.cause as { code?: string; message?: string } | undefined);
    const detail = cause?.code ?? cause?.message ?? e.message ?? 'unknown error';
    return new UnavailableError(`${what} failed: auth server ${issuer} is unreachable or misbehaving (${detail}); ` +
      'check that it is up and that the context\'s auth server URL is right', { cause: err });
  }
  if (err instanceof oidc.ClientError) {
    return new UnavailableError(`${what} failed: unexpected answer from ${issuer} (${e.message})`, { cause: err });
  }
  return new UnavailableError(`${what} failed: ${e?.message ?? String(err)}`, { cause: err });
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string } };
  return e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError';
}
