// Suites that need a system service call requireService() in their `before` hook. The service is
// installed and started through scripts/services/ensure.sh; when that fails, the suite fails with the
// reason — unless the user explicitly opted out with VMR_TEST_OPT_OUT=<service>[,…], in which case
// the returned `skip` reason must be passed to the suite (so it shows as skipped, never as passed).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const pexec = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const ready = new Map<string, Promise<void>>();

export function optedOut(service: string): string | undefined {
  const list = (process.env.VMR_TEST_OPT_OUT ?? '').split(',').map((s) => s.trim());
  return list.includes(service) || list.includes('all')
    ? `opted out of ${service} by VMR_TEST_OPT_OUT`
    : undefined;
}

/** Ensures a system service (see scripts/services/ensure.sh) is up; rejects with what is missing. */
export function requireService(service: 'packages' | 'libvirtd'): Promise<void> {
  let p = ready.get(service);
  if (!p) {
    p = pexec('bash', [path.join(repoRoot, 'scripts/services/ensure.sh'), service], { timeout: 900_000 })
      .then(() => undefined)
      .catch((err: { stderr?: string; message: string }) => {
        throw new Error(`test service "${service}" is not available: ${err.stderr?.trim() || err.message}` +
          ` (set VMR_TEST_OPT_OUT=${service} to skip suites that need it)`);
      });
    ready.set(service, p);
  }
  return p;
}
