// `vmr compose logs|exec|ssh`: the VM-level logs/exec/ssh, aimed at a service of the project. A service
// resolves to its VMs through ComposePs; exec and ssh take replica 1 unless --index says otherwise.
import type { Command } from 'commander';
import { action, type Cli } from '../runtime.js';
import { examples, positiveInt } from '../help.js';
import { UsageError } from '../errors.js';
import type { ComposeServiceStatus } from '../messages.js';
import { nonNegativeInt, streamConsole } from './logs.js';
import { sshInto, sshOptions } from './ssh.js';

type ProjectName = (cli: Cli, opts: Record<string, any>) => Promise<string>;

export async function projectVms(cli: Cli, project: string): Promise<ComposeServiceStatus[]> {
  const res = await cli.daemon().call('ComposePs', { projectName: project });
  return res.services;
}

/** `web-1` for `<project>-web-1`: the name docker compose prints before each line. */
export const shortName = (project: string, vm: string) => (vm.startsWith(`${project}-`) ? vm.slice(project.length + 1) : vm);

async function serviceVm(cli: Cli, project: string, service: string, index: number): Promise<string> {
  const vms = await projectVms(cli, project);
  const mine = vms.filter((v) => v.service === service);
  if (!mine.length) {
    const known = [...new Set(vms.map((v) => v.service))];
    throw new UsageError(`project "${project}" has no service "${service}"${known.length ? `; its services are: ${known.join(', ')}` : ' (no VMs: run "vmr compose up" first)'}`);
  }
  const vm = mine.find((v) => v.vmName === `${project}-${service}-${index}`);
  if (!vm) throw new UsageError(`service "${service}" has ${mine.length} replica(s); --index ${index} is not one of them`);
  return vm.vmName;
}

/** Splits chunks into lines and writes each with `prefix` (a partial last line waits for its end). */
function prefixer(write: (s: string) => void, prefix: string) {
  let rest = '';
  return {
    push(d: Buffer) {
      const lines = (rest + d.toString('utf8').replace(/\r/g, '')).split('\n');
      rest = lines.pop()!;
      for (const l of lines) write(`${prefix}${l}\n`);
    },
    flush() {
      if (rest) write(`${prefix}${rest}\n`);
      rest = '';
    },
  };
}

export function registerComposeAccessCommands(compose: Command, projectName: ProjectName): void {
  examples(compose.command('logs').description('Print the serial console logs of the project\'s VMs, each line prefixed by service')
    .argument('[services...]', 'only these services')
    .option('-f, --follow', 'keep printing new output until Ctrl-C or every VM stops')
    .option('-n, --tail <lines>', 'only the last N lines of each VM', nonNegativeInt('--tail'))
    .option('--no-log-prefix', 'do not prefix lines with the service')
    .action(action(async (cli, opts, services: string[]) => {
      const project = await projectName(cli, { ...cli.globals, ...opts });
      const vms = await projectVms(cli, project);
      const known = new Set(vms.map((v) => v.service));
      const unknown = services.filter((s) => !known.has(s));
      if (unknown.length) throw new UsageError(`project "${project}" has no service ${unknown.map((s) => `"${s}"`).join(', ')}; its services are: ${[...known].join(', ') || '(none)'}`);
      const chosen = vms.filter((v) => !services.length || services.includes(v.service));
      const width = Math.max(0, ...chosen.map((v) => shortName(project, v.vmName).length));
      await Promise.all(chosen.map(async (v) => {
        const name = shortName(project, v.vmName);
        const p = prefixer((s) => cli.io.stdout.write(s), opts.logPrefix === false ? '' : `${name.padEnd(width)}  | `);
        try {
          await streamConsole(cli, v.vmName, { follow: Boolean(opts.follow), tailLines: opts.tail ?? 0 }, (d) => p.push(d));
        } finally {
          p.flush();
        }
      }));
    })), ['{cmd}', '{cmd} -f web', '{cmd} --tail 20 db web']);

  examples(sshOptions(compose.command('exec').description('Run a command in a service\'s VM over SSH (no terminal); exits with its exit code')
    .argument('<service>', 'service name')
    .argument('<command...>', 'command and arguments (after --)')
    .option('--index <n>', 'replica to run in (default 1)', positiveInt('--index')))
    .action(action(async (cli, opts, service: string, command: string[]) => {
      if (!command.length) throw new UsageError('compose exec needs a command: vmr compose exec SERVICE -- CMD [ARGS…]');
      const project = await projectName(cli, { ...cli.globals, ...opts });
      process.exitCode = await sshInto(cli, await serviceVm(cli, project, service, opts.index ?? 1), opts, command, 'exec');
    })), ['{cmd} db -- pg_isready', '{cmd} --index 2 web -- uptime']);

  examples(sshOptions(compose.command('ssh').description('Open a shell in a service\'s VM, or run a command there, over SSH')
    .argument('<service>', 'service name')
    .argument('[command...]', 'command to run (after --); a login shell when omitted')
    .option('--index <n>', 'replica to log in to (default 1)', positiveInt('--index')))
    .action(action(async (cli, opts, service: string, command: string[]) => {
      const project = await projectName(cli, { ...cli.globals, ...opts });
      process.exitCode = await sshInto(cli, await serviceVm(cli, project, service, opts.index ?? 1), opts, command, 'ssh');
    })), ['{cmd} web', '{cmd} db -- sudo journalctl -u cloud-init']);
}
