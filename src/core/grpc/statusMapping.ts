// The ONE place that knows gRPC status codes: domain errors in, ServiceError out.
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { isVmrError, type ErrorCode } from '../errors.js';
import type { Logger } from '../ports/common.js';

const CODES: Record<ErrorCode, Status> = {
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

export function toGrpcStatus(err: unknown, opts: { log: Logger; method: string; signal?: AbortSignal; deadlinePassed?: boolean }): Partial<ServiceError> {
  const metadata = new Metadata();
  if (isVmrError(err)) {
    // ASCII metadata values must be printable ASCII; anything user-derived travels as -bin.
    if (err.field) metadata.set('vmr-field', err.field.replace(/[^\x20-\x7e]/g, '?'));
    if (err.issues?.length) metadata.set('vmr-issues-bin', Buffer.from(JSON.stringify(err.issues)));
    if (err.retryAfterMs !== undefined) metadata.set('vmr-retry-after-ms', String(err.retryAfterMs));
    const code = CODES[err.code] ?? Status.UNKNOWN;
    if (code === Status.INTERNAL) opts.log.error({ err, method: opts.method }, 'internal error');
    return { code, details: err.message, metadata };
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
