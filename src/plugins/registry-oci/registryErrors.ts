// Registry HTTP failures → domain errors. Bodies are `{"errors":[{code,message,detail}]}` when JSON,
// but distribution's router 404 is plain text, so the status decides and the body only adds words.
import {
  DataLossError, FailedPreconditionError, InvalidArgumentError, NotFoundError,
  PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError, UnavailableError, type VmrError,
} from '../../plugin-api/index.js';

export interface RegistryErrorBody { code: string; message: string }

/** Registry-supplied text in our messages: one line of printable characters, bounded. */
export function quoteRegistry(text: string, max = 200): string {
  const one = text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

export function parseErrorBody(text: string): RegistryErrorBody[] {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return [];
  }
  const errors = (j as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.slice(0, 10).map((e: { code?: unknown; message?: unknown } | null) => ({
    code: typeof e?.code === 'string' ? e.code : '',
    message: typeof e?.message === 'string' ? e.message : '',
  }));
}

export interface ResponseFacts {
  /** A 429/503's Retry-After, in ms. */
  retryAfterMs?: number;
  /** The statuses the request expected (named when the registry answered something else). */
  expected?: number[];
  /** The response's Location, named for an unexpected redirect. */
  location?: string;
}

/** `what` names the thing asked for, e.g. `manifest "vm/alpine:1" at localhost:5000`. */
export function errorFromResponse(status: number, text: string, what: string, facts: ResponseFacts = {}): VmrError {
  const { retryAfterMs } = facts;
  const errs = parseErrorBody(text);
  const codes = new Set(errs.map((e) => e.code));
  const detail = errs.length
    ? `: ${quoteRegistry(errs.map((e) => `${e.code} ${e.message}`.trim()).join('; '))}`
    : text.trim() ? `: ${quoteRegistry(text)}` : '';
  switch (status) {
    case 400:
      if (codes.has('DIGEST_INVALID')) return new DataLossError(`${what}: the registry computed a different digest${detail}`);
      if (codes.has('MANIFEST_BLOB_UNKNOWN')) return new FailedPreconditionError(`${what}: the registry is missing blobs the manifest references${detail}`);
      return new InvalidArgumentError(`${what}: the registry rejected the request${detail}`);
    case 401:
      return new UnauthenticatedError(`${what}: the registry requires authentication${detail}; log in or add credentials to your docker config`);
    case 403:
      return new PermissionDeniedError(`${what}: access denied${detail}`);
    case 404:
      if (codes.has('NAME_UNKNOWN')) return new NotFoundError(`${what}: no such repository${detail}`);
      if (codes.has('MANIFEST_UNKNOWN')) return new NotFoundError(`${what}: no such tag or manifest${detail}`);
      if (codes.has('BLOB_UPLOAD_UNKNOWN') || codes.has('BLOB_UPLOAD_INVALID')) return new NotFoundError(`${what}: upload session expired${detail}`);
      return new NotFoundError(`${what}: not found${detail}`);
    case 415:
      return new InvalidArgumentError(`${what}: the registry does not accept this media type${detail}`);
    case 413:
      return new ResourceExhaustedError(`${what}: the registry refused the size of the request${detail}; lower chunkSize`);
    case 429:
      return new UnavailableError(`${what}: the registry is rate limiting (429)${detail}; retry later`, { retryAfterMs });
    default:
      if (status >= 500) return new UnavailableError(`${what}: the registry failed with HTTP ${status}${detail}; retry later`, { retryAfterMs });
      // A registry that answers outside the protocol (a redirect or 200 where an upload expects 202, …).
      return new UnavailableError(`${what}: the registry answered HTTP ${status}` +
        (facts.location ? ` (to ${quoteRegistry(facts.location, 120)})` : '') +
        (facts.expected?.length ? ` where ${facts.expected.join(' or ')} was expected` : '') + detail);
  }
}
