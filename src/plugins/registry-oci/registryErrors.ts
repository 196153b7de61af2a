// Registry HTTP failures → domain errors. Bodies are `{"errors":[{code,message,detail}]}` when JSON,
// but distribution's router 404 is plain text, so the status decides and the body only adds words.
import {
  DataLossError, FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError,
  PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError, UnavailableError, type VmrError,
} from '../../core/errors.js';

export interface RegistryErrorBody { code: string; message: string }

export function parseErrorBody(text: string): RegistryErrorBody[] {
  try {
    const j = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    return (j.errors ?? []).map((e) => ({ code: e.code ?? '', message: e.message ?? '' }));
  } catch {
    return [];
  }
}

/** `what` names the thing asked for, e.g. `manifest "vm/alpine:1" at localhost:5000`. */
export function errorFromResponse(status: number, text: string, what: string, retryAfterMs?: number): VmrError {
  const errs = parseErrorBody(text);
  const codes = new Set(errs.map((e) => e.code));
  const detail = errs.length ? `: ${errs.map((e) => `${e.code} ${e.message}`.trim()).join('; ')}` : text && text.length < 200 ? `: ${text.trim()}` : '';
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
      return new InternalError(`${what}: unexpected HTTP ${status} from the registry${detail}`);
  }
}
