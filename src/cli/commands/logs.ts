// `vmr logs VM [-f] [--tail N]` and `vmr console VM`: the serial console through the daemon (so they
// work for a user who cannot read the daemon's files). Detach from a console with Ctrl-].
import type { Command } from 'commander';
import { action, type Cli } from '../runtime.js';
import { examples } from '../help.js';
import { UsageError } from '../errors.js';

/** A VM's console log through the VMLogs RPC, chunk by chunk (`vmr logs`, `vmr compose logs`). */
export function streamConsole(cli: Cli, vm: string, opts: { follow: boolean; tailLines: number }, onData: (data: Buffer) => void,
  call: { timeoutSeconds?: number } = {}): Promise<void> {
  return cli.daemon().serverStream('VMLogs', { vm, follow: opts.follow, tailLines: opts.tailLines },
    (m) => onData(Buffer.from(m.data)), call);
}

/** The last `lines` lines of the console log, for error messages; a note when they cannot be read. */
export async function consoleTail(cli: Cli, vm: string, lines: number): Promise<string> {
  try {
    const parts: Buffer[] = [];
    await streamConsole(cli, vm, { follow: false, tailLines: lines }, (d) => parts.push(d), { timeoutSeconds: 15 });
    const text = Buffer.concat(parts).toString('utf8').replace(/\r/g, '').trimEnd();
    return text ? text.split('\n').map((l) => `  | ${l}`).join('\n') : '  (the console log is empty)';
  } catch (err) {
    return `  (console log unavailable: ${(err as Error).message})`;
  }
}

export function nonNegativeInt(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new UsageError(`${flag} takes a whole number, got "${v}"`);
    return Number(v);
  };
}

function logs(cmd: Command): Command {
  cmd.description('Print a VM\'s serial console log (boot and cloud-init output)')
    .argument('<vm>', 'VM name or id')
    .option('-f, --follow', 'keep printing new output until Ctrl-C or the VM stops')
    .option('-n, --tail <lines>', 'only the last N lines', nonNegativeInt('--tail'))
    .action(action(async (cli, opts, vm: string) => {
      await streamConsole(cli, vm, { follow: Boolean(opts.follow), tailLines: opts.tail ?? 0 }, (d) => { cli.io.stdout.write(d); });
    }));
  return examples(cmd, ['{cmd} web', '{cmd} -f web', '{cmd} --tail 50 web']);
}

const DETACH = 0x1d; // Ctrl-]

function consoleCmd(cmd: Command): Command {
  cmd.description('Attach to a VM\'s serial console (detach with Ctrl-])')
    .argument('<vm>', 'VM name or id')
    .action(action(async (cli, _opts, vm: string) => {
      const stdin = cli.io.stdin as NodeJS.ReadStream;
      const call = cli.daemon().duplex('AttachVMConsole');
      const raw = Boolean(stdin.isTTY && stdin.setRawMode);
      let detached = false;
      const onInput = (chunk: Buffer) => {
        const at = chunk.indexOf(DETACH);
        if (at < 0) {
          call.write({ data: chunk });
          return;
        }
        if (at > 0) call.write({ data: chunk.subarray(0, at) });
        detached = true;
        call.end();
        // The daemon ends the call once it has closed the console; do not wait on a stuck one.
        setTimeout(() => call.cancel(), 2000).unref();
      };
      try {
        await new Promise<void>((resolve, reject) => {
          call.on('data', (m) => cli.io.stdout.write(Buffer.from(m.data)));
          call.on('error', (err) => (detached ? resolve() : reject(cli.daemon().translate(err))));
          call.on('end', () => resolve());
          call.write({ vm });
          cli.note(`Connected to the console of VM "${vm}" (detach with Ctrl-])`);
          if (raw) stdin.setRawMode(true);
          stdin.on('data', onInput);
          stdin.resume();
        });
      } finally {
        stdin.off('data', onInput);
        if (raw) stdin.setRawMode(false);
        stdin.pause();
      }
      cli.note(detached ? '\r\nDetached.' : '\r\nThe console closed (the VM stopped).');
    }));
  return examples(cmd, ['{cmd} web']);
}

export function registerConsoleCommands(program: Command): void {
  logs(program.command('logs'));
  consoleCmd(program.command('console'));
}
