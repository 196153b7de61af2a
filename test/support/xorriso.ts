// xorriso for the tests that make or read an ISO with a tool independent of ours. Debian's xorriso (1.5.4) once died
// of a SIGSEGV it caught itself ("UNIX-SIGNAL: SIGSEGV … ABORT", exit 1) while writing a seed in a loaded CI run
// (1 in 24 runs; 0 in 120 tries by hand): a crash is tried again, twice at most; any other failure fails.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const pexec = promisify(execFile);

/** `beforeRetry` undoes what a crashed run left (an extraction's half-written directory). */
export async function xorriso(args: string[], beforeRetry?: () => Promise<void>): Promise<{ stdout: string; stderr: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pexec('xorriso', args);
    } catch (err) {
      if (attempt >= 3 || !/UNIX-SIGNAL/.test(String((err as { stderr?: string }).stderr))) throw err;
      await beforeRetry?.();
    }
  }
}
