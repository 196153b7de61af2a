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
    super(boundMessage(message), opts.cause === undefined ? undefined : { cause: opts.cause });
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

/** Is `x` a domain error with one of `codes`? (`hasCode(err, 'NOT_FOUND')`: the check every adapter repeats.) */
export function hasCode(x: unknown, ...codes: ErrorCode[]): x is VmrError {
  return isVmrError(x) && codes.includes(x.code);
}

// Declared as classes (not built by a factory) so each name is both a value and a type: a plugin can write
// `let e: UnauthenticatedError` as well as `throw new UnauthenticatedError(...)`.
export class InvalidArgumentError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('INVALID_ARGUMENT', message, opts);
    this.name = 'InvalidArgumentError';
  }
}
export class NotFoundError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('NOT_FOUND', message, opts);
    this.name = 'NotFoundError';
  }
}
export class AlreadyExistsError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('ALREADY_EXISTS', message, opts);
    this.name = 'AlreadyExistsError';
  }
}
export class FailedPreconditionError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('FAILED_PRECONDITION', message, opts);
    this.name = 'FailedPreconditionError';
  }
}
export class UnauthenticatedError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('UNAUTHENTICATED', message, opts);
    this.name = 'UnauthenticatedError';
  }
}
export class PermissionDeniedError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('PERMISSION_DENIED', message, opts);
    this.name = 'PermissionDeniedError';
  }
}
export class ResourceExhaustedError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('RESOURCE_EXHAUSTED', message, opts);
    this.name = 'ResourceExhaustedError';
  }
}
export class UnavailableError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('UNAVAILABLE', message, opts);
    this.name = 'UnavailableError';
  }
}
export class AbortedError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('ABORTED', message, opts);
    this.name = 'AbortedError';
  }
}
export class NotImplementedError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('UNIMPLEMENTED', message, opts);
    this.name = 'NotImplementedError';
  }
}
export class DataLossError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('DATA_LOSS', message, opts);
    this.name = 'DataLossError';
  }
}
export class CancelledError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('CANCELLED', message, opts);
    this.name = 'CancelledError';
  }
}
export class DeadlineExceededError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('DEADLINE_EXCEEDED', message, opts);
    this.name = 'DeadlineExceededError';
  }
}
export class InternalError extends VmrError {
  constructor(message: string, opts?: ErrorOptions) {
    super('INTERNAL', message, opts);
    this.name = 'InternalError';
  }
}

/** How much of a user's input an error message quotes; the rest is cut off with "…". */
export const QUOTE_MAX = 128;

/**
 * User input as an error message quotes it: in double quotes, control characters escaped (a NUL stays
 * visible, a newline cannot fake a log line), cut to QUOTE_MAX characters.
 */
export function quote(value: unknown): string {
  return `"${truncate(String(value), QUOTE_MAX).replace(/[\x00-\x1f\x7f"\\]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

/** The longest message an error keeps; what it quotes is already cut to QUOTE_MAX. */
export const MESSAGE_MAX = 2048;

/**
 * Every error message passes here when the error is built, so no message echoes a whole input: quoted
 * runs ("…") and unbroken runs of text longer than QUOTE_MAX are cut, control characters other than newline and tab are escaped,
 * and the whole is cut to MESSAGE_MAX.
 */
export function boundMessage(message: string): string {
  const m = String(message).slice(0, 16 * MESSAGE_MAX)
    // Quotes pair left to right, so a closing quote never starts a "quoted run" to the end of the message.
    .replace(/"([^"\n]*)("|$)/g, (all, inner: string, end: string) => (inner.length > QUOTE_MAX ? `"${truncate(inner, QUOTE_MAX)}${end}` : all))
    // Input quoted without quotes (a path, a name after a colon) is cut the same way.
    .replace(/[^\s"]{129,}/g, (run) => truncate(run, QUOTE_MAX))
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // A lone surrogate would make grpc-js's encodeURI of the details throw.
  return truncate(m, MESSAGE_MAX).replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** Cuts text to `max` characters (not splitting a surrogate pair), marking the cut with "…". */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

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
    case 'EFBIG':
      return new ResourceExhaustedError(`${what}: larger than the filesystem allows`, { cause: err });
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
