// Turns what openid-client and fetch throw into domain errors with messages a user can act on.
// Token strings never reach these messages: provider error descriptions are about the request, not secrets,
// and the client secret is only ever in a request header or body, never in what a provider answers.
import * as oidc from 'openid-client';
import {
  CancelledError, FailedPreconditionError, InvalidArgumentError, isVmrError, UnauthenticatedError,
  UnavailableError, type VmrError,
} from '../../plugin-api/index.js';

export const RELOGIN = 'log in again with `vmr login`';

/** Provider-supplied text is quoted, never trusted to be short. */
const MAX_REASON = 200;

/** The OAuth `error` code of a provider's error response, if that is what `err` is. */
export function oauthErrorCode(err: unknown): string | undefined {
  return err instanceof oidc.ResponseBodyError ? err.error : undefined;
}

/** An HTTP answer that was not a success: its status and the provider's reason when it gave one. */
export interface HttpRefusal {
  status: number;
  reason?: string;
}

/**
 * The HTTP status (and `error`/`error_description`) of a failed provider answer, however openid-client
 * wrapped it: a JSON error body, a WWW-Authenticate challenge, or a bare status with no (or a non-JSON) body.
 */
export function httpRefusal(err: unknown): HttpRefusal | undefined {
  if (err instanceof oidc.ResponseBodyError) {
    return { status: err.status, reason: reasonOf(err.error, err.error_description) };
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    const params = err.cause.find((c) => c.parameters.error)?.parameters;
    return { status: err.status, reason: params ? reasonOf(params.error, params.error_description) : undefined };
  }
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  if (err instanceof oidc.ClientError && cause instanceof Response) return { status: cause.status };
  return undefined;
}

export interface MappingOptions {
  /**
   * What a 4xx means. For token, device and revocation endpoints the provider refused the credentials or
   * the grant (UNAUTHENTICATED); for discovery it means the issuer URL is wrong (FAILED_PRECONDITION).
   */
  refusal?: 'credentials' | 'configuration';
}

/** `what` says what was being done, e.g. `login at http://id.example`. */
export function toDomainError(err: unknown, what: string, issuer: string, opts: MappingOptions = {}): VmrError {
  if (isVmrError(err)) return err;
  if (err instanceof oidc.ResponseBodyError) {
    const mapped = fromOAuthCode(err, what, issuer);
    if (mapped) return mapped;
  }
  const refusal = httpRefusal(err);
  if (refusal) return fromStatus(refusal, err, what, issuer, opts);
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

/** OAuth error codes that say more than their HTTP status does. */
function fromOAuthCode(err: oidc.ResponseBodyError, what: string, issuer: string): VmrError | undefined {
  const reason = reasonOf(err.error, err.error_description);
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
        'check the context\'s auth client id and the auth-oidc client secret', { cause: err });
    case 'unsupported_grant_type':
      return new FailedPreconditionError(`${what} failed: ${issuer} does not allow this kind of login (${reason})`, { cause: err });
    case 'invalid_scope':
    case 'invalid_target':
      return new FailedPreconditionError(`${what} failed: ${reason}; check the auth-oidc plugin's scopes/resource`, { cause: err });
    case 'invalid_request':
      return new InvalidArgumentError(`${what} failed: ${reason}`, { cause: err });
    default:
      return undefined;
  }
}

/** A 4xx refusal that no OAuth error code explains (bare 400/401/403, or a code we do not map). */
export function isUnexplainedRefusal(err: unknown): HttpRefusal | undefined {
  const r = httpRefusal(err);
  if (!r || r.status < 400 || r.status >= 500) return undefined;
  if (err instanceof oidc.ResponseBodyError && fromOAuthCode(err, '', '')) return undefined;
  return r;
}

function fromStatus(r: HttpRefusal, err: unknown, what: string, issuer: string, opts: MappingOptions): VmrError {
  const said = r.reason ? `: ${r.reason}` : ' with no reason given';
  if (r.status >= 500 || r.status < 400) {
    return new UnavailableError(`${what} failed: ${issuer} answered HTTP ${r.status}${said}; try again later`, { cause: err });
  }
  if (opts.refusal === 'configuration') {
    return new FailedPreconditionError(`${what} failed: ${issuer} answered HTTP ${r.status}${said}; ` +
      'check the context\'s auth server URL', { cause: err });
  }
  // Some providers answer a wrong password (or a client they do not know) with a bare 400/401/403 and no
  // JSON: that is a refusal, not an outage, so the user is told to check what they typed.
  return new UnauthenticatedError(`${what} failed: ${issuer} refused the request (HTTP ${r.status}${said})`, { cause: err });
}

function reasonOf(error: unknown, description: unknown): string | undefined {
  const code = typeof error === 'string' ? error : '';
  const text = typeof description === 'string' && description ? `${code}: ${description}` : code;
  if (!text) return undefined;
  // Control characters would let a provider forge lines in logs and terminals.
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > MAX_REASON ? `${clean.slice(0, MAX_REASON)}…` : clean;
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string } };
  return e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError';
}
