// Running a command in a guest through qemu-guest-agent: guest-exec starts it with captured output,
// guest-exec-status is polled until it exited. The agent cannot kill a command, so a timeout leaves it
// running in the guest; the caller gets DEADLINE_EXCEEDED.
import { setTimeout as delay } from 'node:timers/promises';
import { DeadlineExceededError, FailedPreconditionError, InvalidArgumentError } from '../../../plugin-api/index.js';
import type { GuestExecRequest, GuestExecResult } from '../../../plugin-api/index.js';
import { qemuAgentCommand, type DomainRef, type LibvirtClient } from '../rpc/index.js';

/** Output kept per stream: enough for a healthcheck's message, not a log. */
const MAX_OUTPUT = 8 * 1024;
const POLL_MS = 250;

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
}

export async function guestExec(client: LibvirtClient, dom: DomainRef, req: GuestExecRequest, signal: AbortSignal): Promise<GuestExecResult> {
  const [path, ...arg] = req.argv;
  if (!path) throw new InvalidArgumentError('guest exec needs a command', { field: 'argv' });
  const until = Date.now() + req.timeoutSeconds * 1000;
  const agentWait = Math.max(1, Math.min(30, req.timeoutSeconds));
  const started = await qemuAgentCommand(client, dom,
    { execute: 'guest-exec', arguments: { path, arg, 'capture-output': true } }, agentWait, { signal }) as { return?: { pid?: number } };
  const pid = started?.return?.pid;
  if (typeof pid !== 'number') throw new FailedPreconditionError(`the guest agent of "${dom.name}" started no process for ${path}`);
  for (;;) {
    const st = (await qemuAgentCommand(client, dom, { execute: 'guest-exec-status', arguments: { pid } }, agentWait, { signal }) as
      { return?: ExecStatus })?.return;
    if (st?.exited) {
      return {
        exitCode: st.exitcode ?? (st.signal ? 128 + st.signal : 1),
        stdout: decode(st['out-data']),
        stderr: decode(st['err-data']),
      };
    }
    if (Date.now() > until) {
      throw new DeadlineExceededError(`${req.argv.join(' ').slice(0, 200)} did not finish in "${dom.name}" within ${req.timeoutSeconds} s`);
    }
    await delay(POLL_MS, undefined, { signal });
  }
}

const decode = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').subarray(0, MAX_OUTPUT).toString('utf8') : '');
