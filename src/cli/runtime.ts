// What every command action gets: the global options, a lazily opened daemon connection, and the one
// place that prints results (--json or human) and failures (one line, or {"error":…}) with an exit code.
import type { Command } from 'commander';
import { DaemonClient } from './client.js';
import { CancelledError, CliError, DaemonUnreachableError } from './errors.js';
import { ExitCode } from './exitCodes.js';
import { checkSocketDir, resolveAddress } from './host.js';

export interface GlobalOptions {
  host?: string;
  json?: boolean;
}

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export class Cli {
  private client?: DaemonClient;

  constructor(readonly globals: GlobalOptions, readonly io: Io) {}

  get json(): boolean {
    return Boolean(this.globals.json);
  }

  daemon(): DaemonClient {
    if (!this.client) {
      const address = resolveAddress(this.globals.host, this.io.env);
      checkSocketDir(address);
      this.client = new DaemonClient(address);
    }
    return this.client;
  }

  /** Ctrl-C while a command runs. Returns false when nothing was in flight to cancel. */
  cancel(): boolean {
    if (!this.client) return false;
    this.client.cancel();
    return true;
  }

  close(): void {
    this.client?.close();
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Notices for humans go to stderr so stdout stays clean for pipes. */
  note(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** --json prints the RPC's response object; otherwise `human` renders it. */
  result<T>(response: T, human: (r: T) => string | undefined): void {
    if (this.json) {
      this.out(JSON.stringify(response, null, 2));
      return;
    }
    const text = human(response);
    if (text) this.out(text);
  }

  /** Prints a failure and returns the exit code for it. */
  fail(err: unknown): number {
    if (err instanceof CancelledError) {
      this.note('cancelled');
      if (this.json) this.out(JSON.stringify({ error: { code: err.code, message: err.message } }));
      return err.exitCode;
    }
    if (err instanceof CliError) {
      if (this.json) this.out(JSON.stringify({ error: { code: err.code, message: err.message } }, null, 2));
      // "cannot reach the daemon…: start it with…" reads as a sentence of its own.
      else this.note(err instanceof DaemonUnreachableError ? err.message : `Error: ${err.message}`);
      return err.exitCode;
    }
    // A bug in the CLI itself: still one line, but say where to look.
    const message = err instanceof Error ? err.message : String(err);
    if (this.json) this.out(JSON.stringify({ error: { code: 'INTERNAL', message } }, null, 2));
    else this.note(`Error: ${message}${this.io.env.VMR_DEBUG ? `\n${(err as Error).stack}` : ' (set VMR_DEBUG=1 for details)'}`);
    return ExitCode.serverError;
  }
}

let current: Cli | undefined;
// Getters: process.stdin (and stderr) build a stream on first access, ~5 ms of a `vmr ps` that reads no
// input (issue 17); only the commands that read or warn pay for them.
let io: Io = {
  get stdout() { return process.stdout; },
  get stderr() { return process.stderr; },
  get stdin() { return process.stdin; },
  env: process.env,
};

export function setIo(next: Io): void {
  io = next;
}

export function currentCli(): Cli | undefined {
  return current;
}

/**
 * Wraps a command body: `fn(cli, opts, ...positionals)`. Errors become an exit code here, so commander
 * only ever sees usage errors.
 */
export function action<A extends unknown[]>(
  fn: (cli: Cli, opts: Record<string, any>, ...args: A) => Promise<void>,
): (...raw: unknown[]) => Promise<void> {
  return async (...raw: unknown[]) => {
    const cmd = raw[raw.length - 1] as Command;
    const opts = raw[raw.length - 2] as Record<string, any>;
    const args = raw.slice(0, -2) as A;
    const cli = new Cli(cmd.optsWithGlobals() as GlobalOptions, io);
    current = cli;
    try {
      await fn(cli, opts, ...args);
    } catch (err) {
      process.exitCode = cli.fail(err);
    } finally {
      cli.close();
      current = undefined;
    }
  };
}
