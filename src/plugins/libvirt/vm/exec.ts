// Runs the few host tools the hypervisor needs (qemu-img), cancellable, with their stderr
// in the error so the user sees what the tool said.
import { execFile } from 'node:child_process';
import { CancelledError, FailedPreconditionError, InternalError } from '../../../plugin-api/index.js';

export function run(cmd: string, args: string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { signal, maxBuffer: 4 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { code?: unknown };
      if (signal?.aborted || e.name === 'AbortError') {
        return reject(new CancelledError(`${cmd} cancelled`, { cause: err }));
      }
      if (e.code === 'ENOENT') {
        return reject(new FailedPreconditionError(
          `${cmd} is not installed on this host; install it (Debian: ${pkg(cmd)})`, { cause: err }));
      }
      reject(new InternalError(`${cmd} ${args.join(' ')} failed: ${String(stderr).trim() || e.message}`, { cause: err }));
    });
  });
}

function pkg(cmd: string): string {
  return ({ 'qemu-img': 'qemu-utils' } as Record<string, string>)[cmd] ?? cmd;
}
