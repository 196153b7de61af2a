// Suites that need a system service call requireService() in their `before` hook. The service is
// installed and started through scripts/services/ensure.sh; when that fails, the suite fails with the
// reason — unless the user explicitly opted out with VMR_TEST_OPT_OUT=<service>[,…], in which case
// the returned `skip` reason must be passed to the suite (so it shows as skipped, never as passed).
import { execFile, spawn } from 'node:child_process';
import os from 'node:os';
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

// node --test runs test files in parallel processes. Files that use libvirtd hold a shared lock for
// their lifetime; the suite that restarts libvirtd takes it exclusively, so the restart never lands in
// the middle of another file's VMs. flock(1) holds the lock while its `cat` reads our stdin, so the
// lock also goes away when this process dies.
const LOCK = path.join(os.tmpdir(), 'vmregistry-test-libvirtd.lock');
let sharedRelease: (() => Promise<void>) | undefined;

function flock(mode: '-s' | '-x'): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', [mode, LOCK, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.once('error', reject);
    child.stdout!.once('data', () => {
      // Held: from now on the lock must not keep the test process alive (it ends with the process).
      child.unref();
      (child.stdout as unknown as { unref?: () => void }).unref?.();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      resolve(async () => {
        const gone = new Promise((r) => child.once('exit', r));
        child.stdin!.end();
        await gone;
      });
    });
  });
}

/** For the suite that restarts libvirtd: waits until no other test file uses it. Call the result to release. */
export async function exclusiveLibvirtd(): Promise<() => Promise<void>> {
  await requireService('libvirtd');
  await sharedRelease?.();
  sharedRelease = undefined;
  return flock('-x');
}

/** Ensures a system service (see scripts/services/ensure.sh) is up; rejects with what is missing. */
export function requireService(service: 'packages' | 'libvirtd'): Promise<void> {
  let p = ready.get(service);
  if (!p) {
    p = pexec('bash', [path.join(repoRoot, 'scripts/services/ensure.sh'), service], { timeout: 900_000 })
      .then(async () => {
        if (service === 'libvirtd') sharedRelease = await flock('-s');
      })
      .catch((err: { stderr?: string; message: string }) => {
        throw new Error(`test service "${service}" is not available: ${err.stderr?.trim() || err.message}` +
          ` (set VMR_TEST_OPT_OUT=${service} to skip suites that need it)`);
      });
    ready.set(service, p);
  }
  return p;
}
