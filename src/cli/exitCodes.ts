// One table of exit codes, so scripts can tell a typo from a refusal from a daemon that is not there.
export const ExitCode = {
  ok: 0,
  /** The daemon answered with an error status. */
  serverError: 1,
  /** Bad command line (unknown option, missing argument, unreadable input file). */
  usage: 2,
  /** The daemon's socket could not be reached. */
  unreachable: 3,
  /** Ctrl-C. */
  cancelled: 130,
} as const;
