import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Throws INVALID_ARGUMENT unless `s` is a `sha256:<64 hex>` digest (the only algorithm we store). */
export function assertDigest(s: string, field = 'digest'): string {
  if (!isDigest(s)) {
    throw new InvalidArgumentError(`${field} "${s}" is not a sha256 digest (expected sha256:<64 lowercase hex>)`, { field });
  }
  return s;
}

export function sha256Of(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}
