// The ONE place that knows gRPC status codes: domain errors in, ServiceError out.
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { boundMessage, isVmrError, truncate, type ErrorCode, type Issue } from '../errors.js';
import type { Logger } from '../ports/common.js';

/** The gRPC status of each domain error code (exported to plugin authors as vmregistry/testing GRPC_STATUS_OF). */
export const GRPC_STATUS_OF: Readonly<Record<ErrorCode, Status>> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: Status.UNAVAILABLE,
  ABORTED: Status.ABORTED,
  UNIMPLEMENTED: Status.UNIMPLEMENTED,
  DATA_LOSS: Status.DATA_LOSS,
  CANCELLED: Status.CANCELLED,
  DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED,
  INTERNAL: Status.INTERNAL,
};

// Trailers are bounded, so a long input never pushes the status past a client's header-list limit
// (8 KiB in several gRPC implementations, the whole status is lost then): the details as sent
// (percent-encoded), the field, the issues JSON.
const DETAILS_BYTES = 3072;
const FIELD_MAX = 128;
const ISSUES_BYTES = 2048;

// grpc-js sends details through encodeURI: these stay one byte, everything else becomes %XX per byte.
const KEPT_BY_ENCODE_URI = /[A-Za-z0-9\-_.!~*'();/?:@&=+$,#]/;

/** Cuts text so that its percent-encoded form (as grpc-message travels) stays within `budget` bytes. */
function fitEncoded(text: string, budget: number): string {
  let used = 0;
  let i = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    used += c < 0x80 && KEPT_BY_ENCODE_URI.test(ch) ? 1 : Buffer.byteLength(ch) * 3;
    if (used > budget - 9) return `${text.slice(0, i)}…`;
    i += ch.length;
  }
  return text;
}

/** The issues as JSON, as many as fit the budget, then one saying how many were left out. */
function issuesTrailer(issues: Issue[]): Buffer {
  const out: Issue[] = [];
  let used = 2;
  for (const [n, i] of issues.entries()) {
    const item: Issue = { ...i, path: truncate(String(i.path), FIELD_MAX), message: boundMessage(truncate(String(i.message), 512)) };
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (used + size > ISSUES_BYTES - 80) {
      out.push({ path: '', message: `… and ${issues.length - n} more issues` });
      break;
    }
    out.push(item);
    used += size;
  }
  return Buffer.from(JSON.stringify(out));
}

export function toGrpcStatus(err: unknown, opts: { log: Logger; method: string; signal?: AbortSignal; deadlinePassed?: boolean }): Partial<ServiceError> {
  const metadata = new Metadata();
  if (isVmrError(err)) {
    // ASCII metadata values must be printable ASCII; anything user-derived travels as -bin.
    if (err.field) metadata.set('vmr-field', truncate(err.field, FIELD_MAX).replace(/[^\x20-\x7e]/g, '?'));
    if (err.issues?.length) metadata.set('vmr-issues-bin', issuesTrailer(err.issues));
    if (err.retryAfterMs !== undefined) metadata.set('vmr-retry-after-ms', String(err.retryAfterMs));
    const code = GRPC_STATUS_OF[err.code] ?? Status.UNKNOWN;
    if (code === Status.INTERNAL) opts.log.error({ err, method: opts.method }, 'internal error');
    return { code, details: fitEncoded(boundMessage(err.message), DETAILS_BYTES), metadata };
  }
  const name = (err as { name?: string } | undefined)?.name;
  if (name === 'AbortError' || opts.signal?.aborted) {
    return opts.deadlinePassed
      ? { code: Status.DEADLINE_EXCEEDED, details: 'deadline exceeded', metadata }
      : { code: Status.CANCELLED, details: 'cancelled', metadata };
  }
  opts.log.error({ err, method: opts.method }, 'unexpected error');
  return { code: Status.UNKNOWN, details: 'internal error (see the daemon log)', metadata };
}
