// The daemon as a child process started from dist, on a socket and data dir under `dir` with `dir/config.yaml`,
// for the suites that SIGKILL it mid-operation and start it again on the same data (test/soak).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { VmClient } from '../../src/testing/client.js';
import { repoRoot } from './services.js';

const BIN = path.join(repoRoot, 'dist/src/bin/vmregistryd.js');

export class KillableDaemon {
  private proc?: ChildProcess;
  /** The client of the daemon started last (closed by kill and stop). */
  client?: VmClient;

  constructor(private readonly dir: string) {}

  get socket(): string {
    return path.join(this.dir, 'vmr.sock');
  }

  /** Starts the daemon and waits until it answers HealthCheck. */
  async start(): Promise<VmClient> {
    const proc = spawn(process.execPath, [BIN, '--config', path.join(this.dir, 'config.yaml'), '--socket', this.socket, '--data-dir', path.join(this.dir, 'data')],
      { env: { ...process.env, VMR_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let err = '';
    proc.stderr!.on('data', (b) => { err += b; });
    const c = new VmClient(this.socket);
    for (let i = 0; ; i++) {
      try {
        await c.call('HealthCheck', {}, { deadlineMs: 2000 });
        break;
      } catch (e) {
        if (i > 100 || proc.exitCode !== null) throw new Error(`daemon did not come up: ${err || (e as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.client = c;
    return c;
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    }
    this.client?.close();
  }
}
