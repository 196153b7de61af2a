// Runs the compiled CLI as a child process, the way users run it, and collects what it printed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../support/services.js';

export const vmrBin = path.join(repoRoot, 'dist/src/bin/vmr.js');

// The CLI reads and creates SSH keys under HOME (vmr run gives the VM one): never the real user's.
let home: string | undefined;
export function testHome(): string {
  if (!home) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmr-home-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    home = dir;
  }
  return home;
}

export interface VmrResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface VmrOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string | Buffer;
  /** Kill the CLI and fail after this long (default 120 s), so a hang is a failure, not a stuck suite. */
  timeoutMs?: number;
  /** Called once the process is running (e.g. to send it SIGINT later). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
  /** Run as this uid (and gid), e.g. to act as another user; needs root. */
  uid?: number;
}

export function vmr(args: string[], opts: VmrOptions = {}): Promise<VmrResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, VMR_HOST: undefined, NO_COLOR: '1', HOME: testHome(), XDG_CONFIG_HOME: undefined, ...opts.env };
    const child = spawn(process.execPath, [vmrBin, ...args], {
      cwd: opts.cwd ?? repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`vmr ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 120_000} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
    opts.onSpawn?.(child);
  });
}
