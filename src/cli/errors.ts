// Every failure the CLI reports is one of these; main.ts turns them into one line (or one JSON object)
// and an exit code. Nothing else reaches the user as a stack trace.
import { ServiceError, Status, statusName } from './wire/status.js';
import { ExitCode } from './exitCodes.js';

export abstract class CliError extends Error {
  abstract readonly exitCode: number;
  /** Short machine-readable code for --json output. */
  abstract readonly code: string;
}

/** Bad input on the command line or in a file the user named. */
export class UsageError extends CliError {
  readonly exitCode = ExitCode.usage;
  readonly code = 'USAGE';
}

/** The socket is missing, refuses connections, or is not ours to open. */
export class DaemonUnreachableError extends CliError {
  readonly exitCode = ExitCode.unreachable;
  readonly code = 'DAEMON_UNREACHABLE';
  constructor(readonly address: string, reason: string) {
    super(`cannot reach the vmregistry daemon at ${address}: ${reason}`);
  }
}

export class CancelledError extends CliError {
  readonly exitCode = ExitCode.cancelled;
  readonly code = 'CANCELLED';
  constructor() {
    super('cancelled');
  }
}

/** The daemon answered with a non-OK status; the message is the server's. */
export class ServerError extends CliError {
  readonly exitCode = ExitCode.serverError;
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export { statusName };

/** A message field the daemon always sets (the decoded type says `| null`, as proto3 allows it unset). */
export function required<T>(value: T | null | undefined, field: string): T {
  if (value === null || value === undefined) throw new ServerError('INTERNAL', `the daemon's reply has no ${field}`);
  return value;
}

// A failed connect is reported as UNAVAILABLE, like a server saying "registry down"; only the
// details tell them apart, and those come from the socket layer.
const connectFailure = /No connection established|connect (ENOENT|ECONNREFUSED|EACCES|ENOTSOCK|EPERM)|Failed to connect|Connection dropped/;

export function isConnectFailure(err: ServiceError): boolean {
  return err.code === Status.UNAVAILABLE && connectFailure.test(err.details ?? err.message);
}

export function unreachableReason(details: string): string {
  if (/EACCES|EPERM/.test(details)) return 'permission denied (run as the daemon\'s user, or ask for access to its socket)';
  return 'is it running? start it with: vmregistryd';
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof ServiceError;
}
