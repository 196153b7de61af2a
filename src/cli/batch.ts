// Commands that take several targets (rmi, start, stop, rm …) work like docker's: each failure is
// reported and the rest still run; the exit code is the first failure's. A daemon that is gone or a
// Ctrl-C stops the whole batch at once.
import type { Cli } from './runtime.js';
import { CancelledError, CliError, DaemonUnreachableError } from './errors.js';

export async function eachTarget<R>(
  cli: Cli,
  targets: string[],
  call: (target: string) => Promise<R>,
  human: (target: string, result: R) => string,
): Promise<void> {
  if (targets.length === 1) {
    const r = await call(targets[0]);
    cli.result(r, (res) => human(targets[0], res));
    return;
  }
  const out: unknown[] = [];
  let exitCode = 0;
  for (const target of targets) {
    try {
      const r = await call(target);
      out.push(r);
      if (!cli.json) cli.out(human(target, r));
    } catch (err) {
      if (err instanceof DaemonUnreachableError || err instanceof CancelledError || !(err instanceof CliError)) throw err;
      exitCode ||= err.exitCode;
      out.push({ error: { code: err.code, message: err.message } });
      if (!cli.json) cli.note(`Error: ${err.message}`);
    }
  }
  // --json with several targets: one array, a response or an {"error":…} per target, in order.
  if (cli.json) cli.out(JSON.stringify(out, null, 2));
  if (exitCode) process.exitCode = exitCode;
}
