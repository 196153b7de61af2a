// Domain errors. Plugins and services throw these; src/core/grpc/statusMapping.ts is the only place
// that turns them into gRPC statuses. Classification goes by `code` + a global brand, never by
// `instanceof` alone, because a third-party plugin may carry its own copy of this module.

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'ABORTED'
  | 'UNIMPLEMENTED'
  | 'DATA_LOSS'
  | 'CANCELLED'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL';

const BRAND = Symbol.for('vmregistry.error.v1');

/** One problem in a user-supplied document: where (field path, optional line) and what. */
export interface Issue {
  path: string;
  message: string;
  line?: number;
  severity?: 'error' | 'warning';
}

export interface ErrorOptions {
  cause?: unknown;
  /** Field path of the offending input, e.g. `spec.disk.path`. */
  field?: string;
  /** Every problem found, for validators that report all at once. */
  issues?: Issue[];
  /** Retry hint in milliseconds, e.g. from a registry's Retry-After. */
  retryAfterMs?: number;
}

export class VmrError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly issues?: Issue[];
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.field = opts.field;
    this.issues = opts.issues;
    this.retryAfterMs = opts.retryAfterMs;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static [Symbol.hasInstance](x: unknown): boolean {
    return isVmrError(x);
  }
}

export function isVmrError(x: unknown): x is VmrError {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true &&
    typeof (x as { code?: unknown }).code === 'string';
}

const make = (code: ErrorCode, name: string) => {
  const C = class extends VmrError {
    constructor(message: string, opts?: ErrorOptions) {
      super(code, message, opts);
      this.name = name;
    }
  };
  Object.defineProperty(C, 'name', { value: name });
  return C;
};

export const InvalidArgumentError = make('INVALID_ARGUMENT', 'InvalidArgumentError');
export const NotFoundError = make('NOT_FOUND', 'NotFoundError');
export const AlreadyExistsError = make('ALREADY_EXISTS', 'AlreadyExistsError');
export const FailedPreconditionError = make('FAILED_PRECONDITION', 'FailedPreconditionError');
export const UnauthenticatedError = make('UNAUTHENTICATED', 'UnauthenticatedError');
export const PermissionDeniedError = make('PERMISSION_DENIED', 'PermissionDeniedError');
export const ResourceExhaustedError = make('RESOURCE_EXHAUSTED', 'ResourceExhaustedError');
export const UnavailableError = make('UNAVAILABLE', 'UnavailableError');
export const AbortedError = make('ABORTED', 'AbortedError');
export const NotImplementedError = make('UNIMPLEMENTED', 'NotImplementedError');
export const DataLossError = make('DATA_LOSS', 'DataLossError');
export const CancelledError = make('CANCELLED', 'CancelledError');
export const DeadlineExceededError = make('DEADLINE_EXCEEDED', 'DeadlineExceededError');
export const InternalError = make('INTERNAL', 'InternalError');

/** Throws CancelledError when the signal has fired; call between steps of long work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CancelledError('operation cancelled', { cause: signal.reason });
  }
}

/** What a path error means for the user; the message says it without the syscall noise. */
const PATH_ERRNO: Record<string, { make: (m: string, o: ErrorOptions) => VmrError; says: string }> = {
  ENAMETOOLONG: { make: (m, o) => new InvalidArgumentError(m, o), says: 'the path or one of its names is too long' },
  EISDIR: { make: (m, o) => new InvalidArgumentError(m, o), says: 'is a directory, not a file' },
  ENOTDIR: { make: (m, o) => new InvalidArgumentError(m, o), says: 'a component of the path is not a directory' },
  ELOOP: { make: (m, o) => new InvalidArgumentError(m, o), says: 'is a symbolic link (or too many links); name the file itself' },
  EINVAL: { make: (m, o) => new InvalidArgumentError(m, o), says: 'is not a valid path here' },
  ERR_INVALID_ARG_VALUE: { make: (m, o) => new InvalidArgumentError(m, o), says: 'is not a valid path (NUL byte)' },
  ERR_INVALID_ARG_TYPE: { make: (m, o) => new InvalidArgumentError(m, o), says: 'is not a valid path' },
  ENOENT: { make: (m, o) => new NotFoundError(m, o), says: 'does not exist' },
  EEXIST: { make: (m, o) => new AlreadyExistsError(m, o), says: 'already exists' },
  EACCES: { make: (m, o) => new PermissionDeniedError(m, o), says: 'is not accessible to the daemon' },
  EPERM: { make: (m, o) => new PermissionDeniedError(m, o), says: 'is not accessible to the daemon' },
  ENXIO: { make: (m, o) => new InvalidArgumentError(m, o), says: 'is not a regular file' },
};

/**
 * Maps a Node system error (ENOSPC, EACCES, ENAMETOOLONG …) to the domain error a user should see.
 * With `field`, filesystem errors name the request field the path came from.
 */
export function fromSystemError(err: unknown, what: string, field?: string): VmrError {
  if (isVmrError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const msg = `${what}: ${(err as Error | undefined)?.message ?? String(err)}`;
  const fs = code !== undefined ? PATH_ERRNO[code] : undefined;
  // EINVAL, ENXIO and Node's argument errors mean "bad path" only when we know a path was the input.
  if (fs && (field || !['EINVAL', 'ENXIO'].includes(code!) && !code!.startsWith('ERR_'))) {
    return fs.make(field ? `${field}: ${what} ${fs.says}` : msg, { cause: err, field });
  }
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new ResourceExhaustedError(`${what}: no space left on device`, { cause: err });
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
      return new UnavailableError(msg, { cause: err });
    case 'ABORT_ERR':
      return new CancelledError(`${what}: cancelled`, { cause: err });
    default:
      return new InternalError(msg, { cause: err });
  }
}
