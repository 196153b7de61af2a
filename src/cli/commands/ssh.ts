// `vmr ssh VM [-- CMD…]` and `vmr exec VM -- CMD`: the system ssh client with the right key, user and
// address, host keys learned on first use into the CLI's own known_hosts (one file per VM id), after
// a bounded wait for the VM's address and its sshd. The exit code is the remote command's.
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { action, type Cli } from '../runtime.js';
import { examples, positiveInt } from '../help.js';
import { CliError, UsageError } from '../errors.js';
import { ExitCode } from '../exitCodes.js';
import { childProcess } from '../builtins.js';
import { candidateKeys, knownHostsFor, MissingSshError, OPENSSH_PACKAGE_HINT } from '../sshKeys.js';
import { consoleTail } from './logs.js';
import { sshBanner } from '../../core/net/sshBanner.js';
import { vmDetail, type VMDetail } from './inspect.js';

const DEFAULT_WAIT_SECONDS = 300;

/** A refusal decided by the CLI itself, with the gRPC-style code scripts see in --json. */
export class AccessError extends CliError {
  readonly exitCode = ExitCode.serverError;
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** One argv word as the remote shell must see it (ssh joins its arguments with spaces). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const ipsOf = (d: VMDetail): string[] => d.networks.flatMap((n) => n.ipAddresses);

/** The VM's record once it has an address; the errors the issue names otherwise. */
export async function waitForAddress(cli: Cli, vm: string, waitSeconds: number): Promise<{ detail: VMDetail; ip: string }> {
  const until = Date.now() + waitSeconds * 1000;
  let told = false;
  for (;;) {
    const detail = vmDetail(await cli.daemon().call('GetVM', { vm }, { timeoutSeconds: 30 }));
    const status = detail.vm.status;
    if (status !== 'running') {
      throw new AccessError('FAILED_PRECONDITION', `VM "${detail.vm.name}" is ${status}; start it first: vmr start ${detail.vm.name}`);
    }
    const ip = ipsOf(detail)[0];
    if (ip) return { detail, ip };
    if (Date.now() > until) {
      throw new AccessError('DEADLINE_EXCEEDED',
        `VM "${detail.vm.name}" has no IP address after ${waitSeconds} s. Last console lines:\n${await consoleTail(cli, vm, 15)}`);
    }
    if (!told) cli.note(`Waiting for VM "${detail.vm.name}" to get an IP address (up to ${waitSeconds} s)…`);
    told = true;
    await delay(2000, undefined, { signal: cli.daemon().signal }).catch(() => undefined);
    if (cli.daemon().cancelled) throw new AccessError('CANCELLED', 'cancelled');
  }
}

/** The guest's SSH port: 22, or $VMR_SSH_PORT (tests, port-forwarded setups). */
const sshPort = (env: NodeJS.ProcessEnv): number => Number(env.VMR_SSH_PORT) || 22;

async function waitForSshd(cli: Cli, vm: string, name: string, ip: string, until: number): Promise<void> {
  let told = false;
  while (!(await sshBanner(ip, sshPort(cli.io.env), 5000))) {
    if (Date.now() > until) {
      throw new AccessError('DEADLINE_EXCEEDED',
        `VM "${name}" has the address ${ip} but no SSH server answered on port ${sshPort(cli.io.env)}. Last console lines:\n${await consoleTail(cli, vm, 15)}`);
    }
    if (!told) cli.note(`Waiting for the SSH server of VM "${name}" at ${ip}…`);
    told = true;
    await delay(2000);
    if (cli.daemon().cancelled) throw new AccessError('CANCELLED', 'cancelled');
  }
}

/** Fails early, with the Debian package to install, when there is no ssh client. */
async function requireSshClient(env: NodeJS.ProcessEnv): Promise<string> {
  const bin = env.VMR_SSH || 'ssh';
  const ok = await new Promise<boolean>((resolve) => {
    const p = childProcess().spawn(bin, ['-V'], { stdio: 'ignore' });
    p.once('error', () => resolve(false));
    p.once('exit', () => resolve(true));
  });
  if (!ok) throw new MissingSshError(bin);
  return bin;
}

export interface SshTarget {
  detail: VMDetail;
  ip: string;
  user: string;
}

async function connect(cli: Cli, vm: string, opts: Record<string, any>): Promise<{ bin: string; target: SshTarget }> {
  const bin = await requireSshClient(cli.io.env).catch((err) => {
    if (err instanceof MissingSshError) throw new AccessError('FAILED_PRECONDITION', err.message);
    throw err;
  });
  const waitSeconds = opts.wait ?? DEFAULT_WAIT_SECONDS;
  const until = Date.now() + waitSeconds * 1000;
  const { detail, ip } = await waitForAddress(cli, vm, waitSeconds);
  await waitForSshd(cli, vm, detail.vm.name, ip, until);
  return { bin, target: { detail, ip, user: opts.user || detail.defaultUser || 'root' } };
}

/** The ssh arguments: keys, the per-VM known_hosts, user@ip, then the quoted command. */
export async function sshArgs(env: NodeJS.ProcessEnv, t: SshTarget, command: string[], mode: { tty: boolean | 'auto'; batch: boolean }): Promise<string[]> {
  const args = [
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', `UserKnownHostsFile=${await knownHostsFor(env, t.detail.vm.vmId)}`,
    // The host is known by the VM's id, not its address: a new VM on an old IP is a new host.
    '-o', `HostKeyAlias=vmr-${t.detail.vm.vmId}`,
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=15',
  ];
  if (mode.batch) args.push('-o', 'BatchMode=yes');
  if (sshPort(env) !== 22) args.push('-p', String(sshPort(env)));
  for (const k of await candidateKeys(env)) args.push('-i', k.privatePath);
  if (mode.tty === true) args.push('-t');
  else if (mode.tty === false) args.push('-T');
  args.push(`${t.user}@${t.ip}`);
  if (command.length) args.push('--', command.map(shellQuote).join(' '));
  return args;
}

function runSsh(bin: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn(bin, args, { stdio: 'inherit' });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new AccessError('FAILED_PRECONDITION', `"${bin}" is not installed; ${OPENSSH_PACKAGE_HINT}`) : err));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1)));
  });
}

function common(cmd: Command): Command {
  return cmd
    .option('-u, --user <user>', 'log in as this user (default: the image\'s default user)')
    .option('--wait <seconds>', `wait this long for the VM's address and SSH server (default ${DEFAULT_WAIT_SECONDS})`, positiveInt('--wait'));
}

/**
 * `vmr ssh` (a shell, or a command with a terminal when there is one) and `vmr exec` (no terminal,
 * batch mode); also what `vmr compose ssh|exec` run once they know the VM. Returns the remote exit code.
 */
export async function sshInto(cli: Cli, vm: string, opts: Record<string, any>, command: string[], kind: 'ssh' | 'exec'): Promise<number> {
  const { bin, target } = await connect(cli, vm, opts);
  const mode = kind === 'exec' ? { tty: false, batch: true } : { tty: command.length ? 'auto' as const : true, batch: false };
  return runSsh(bin, await sshArgs(cli.io.env, target, command, mode));
}

/** The --user and --wait options of ssh and exec. */
export const sshOptions = (cmd: Command): Command => common(cmd);

function sshCmd(cmd: Command): Command {
  common(cmd.description('Open a shell in a VM, or run a command there, over SSH')
    .argument('<vm>', 'VM name or id')
    .argument('[command...]', 'command to run (after --); a login shell when omitted'))
    .action(action(async (cli, opts, vm: string, command: string[]) => {
      process.exitCode = await sshInto(cli, vm, opts, command, 'ssh');
    }));
  return examples(cmd, ['{cmd} web', '{cmd} web -- cloud-init status --wait', '{cmd} -u root web -- uptime']);
}

function execCmd(cmd: Command): Command {
  common(cmd.description('Run a command in a VM over SSH, without a terminal; exits with its exit code')
    .argument('<vm>', 'VM name or id')
    .argument('<command...>', 'command and arguments (after --)'))
    .action(action(async (cli, opts, vm: string, command: string[]) => {
      if (!command.length) throw new UsageError('exec needs a command: vmr exec VM -- CMD [ARGS…]');
      process.exitCode = await sshInto(cli, vm, opts, command, 'exec');
    }));
  return examples(cmd, ['{cmd} web -- uname -a', "{cmd} web -- sh -c 'echo $HOSTNAME'"]);
}

export function registerSshCommands(program: Command): void {
  sshCmd(program.command('ssh'));
  execCmd(program.command('exec'));
}
