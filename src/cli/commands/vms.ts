// VM commands: run, start, stop, restart, rm, ps (running; -a for all), ls (all).
import type { Command } from 'commander';
import { action, type Cli } from '../runtime.js';
import { collect, examples, positiveInt } from '../help.js';
import { formatLabels, humanMiB, relativeTime, shortId, table } from '../format.js';
import { parsePairs, readText } from '../files.js';
import { eachTarget } from '../batch.js';
import type { VMInfo, VMProcessInfo } from '../messages.js';
import { injectedKeys } from '../sshKeyOption.js';
import { defineCommands, type CommandTable } from '../commandTable.js';

const WAIT_IP_DEFAULT_TIMEOUT = 300;

function run(cmd: Command): Command {
  cmd.description('Create and start a VM from an image')
    .argument('<image>', 'image reference (pulled first when missing and a registry is configured)')
    .option('--name <name>', 'VM name (generated when omitted)')
    .option('-m, --memory <MiB>', 'memory in MiB (default: the image\'s)', positiveInt('--memory'))
    .option('--cpus <n>', 'virtual CPUs (default: the image\'s)', positiveInt('--cpus'))
    .option('--rm, --ephemeral', 'discard the VM and its disk changes when it stops')
    .option('--network <name>', 'libvirt network to attach to (default: "default")')
    .option('--activate-network', 'start the network first when it is inactive')
    .option('-l, --label <key=value>', 'label recorded in the VM (repeatable)', collect, [])
    .option('--cloud-init-user-data <file>', 'cloud-init user-data (#cloud-config or script)')
    .option('--cloud-init-meta-data <file>', 'cloud-init meta-data')
    .option('--cloud-init-network-config <file>', 'cloud-init network-config (v1 or v2)')
    .option('--wait-ip', 'return once the VM has an IP address')
    .option('--disk-size <GiB>', 'grow the VM\'s disk to this size', positiveInt('--disk-size'))
    .option('--timeout <seconds>', `give up after this long (default with --wait-ip: ${WAIT_IP_DEFAULT_TIMEOUT})`, positiveInt('--timeout'))
    .option('--no-ssh-key', 'do not give the VM your SSH public key (by default ~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub or one vmr creates)')
    .action(action(async (cli, opts, image: string) => {
      const readOpt = async (file: string | undefined, what: string) => (file ? readText(file, what) : '');
      const request = {
        image,
        name: opts.name ?? '',
        options: {
          memoryMb: opts.memory ?? 0,
          vcpuCount: opts.cpus ?? 0,
          ephemeral: Boolean(opts.ephemeral),
          cloudInit: {
            userData: await readOpt(opts.cloudInitUserData, 'cloud-init user-data'),
            metaData: await readOpt(opts.cloudInitMetaData, 'cloud-init meta-data'),
            networkConfig: await readOpt(opts.cloudInitNetworkConfig, 'cloud-init network-config'),
          },
          activateNetwork: Boolean(opts.activateNetwork),
          networkName: opts.network ?? '',
          labels: parsePairs(opts.label, '--label'),
          waitForIp: Boolean(opts.waitIp),
          diskSizeGb: opts.diskSize ?? 0,
          sshAuthorizedKeys: await injectedKeys(cli, opts),
        },
      };
      const timeoutSeconds = opts.timeout ?? (opts.waitIp ? WAIT_IP_DEFAULT_TIMEOUT : undefined);
      const res = await cli.daemon().call(
        'RunVM', request, { timeoutSeconds });
      cli.result(res, (r) => [r.vmId, r.ipAddresses.length ? `${r.name} ${r.status} ${r.ipAddresses.join(',')}` : '']
        .filter(Boolean).join('\n'));
    }));
  return examples(cmd, [
    '{cmd} debian-12:latest',
    '{cmd} --name web --memory 2048 --cpus 2 --network backend --label team=web localhost:5000/demo/debian:12',
    '{cmd} --rm --cloud-init-user-data user-data.yaml --wait-ip debian-12:latest',
  ]);
}

type VmResult = { vmId: string; status?: string; message: string };

/** start/stop/restart/rm take several VMs, like docker, and print each name as it is done. */
function eachVm(cli: Cli, vms: string[], call: (vm: string) => Promise<VmResult>): Promise<void> {
  return eachTarget(cli, vms, call, (vm) => vm);
}

function start(cmd: Command): Command {
  cmd.description('Start stopped VMs')
    .argument('<vm...>', 'VM names or ids')
    .action(action(async (cli, _opts, vms: string[]) => {
      await eachVm(cli, vms, (vm) => cli.daemon().call('StartVM', { vm }));
    }));
  return examples(cmd, ['{cmd} web', '{cmd} web db']);
}

function stopLike(cmd: Command, rpc: 'StopVM' | 'RestartVM', what: string): Command {
  cmd.description(`${what} VMs (ACPI shutdown, then a hard stop after the timeout)`)
    .argument('<vm...>', 'VM names or ids')
    .option('-f, --force', 'hard stop right away')
    .option('-t, --time <seconds>', 'seconds to wait for a graceful shutdown (default 60)', positiveInt('--time'))
    .action(action(async (cli, opts, vms: string[]) => {
      await eachVm(cli, vms, (vm) =>
        cli.daemon().call(rpc, { vm, force: Boolean(opts.force), timeoutSeconds: opts.time ?? 0 }));
    }));
  return examples(cmd, ['{cmd} web', '{cmd} -t 10 web db', '{cmd} --force web']);
}

function rm(cmd: Command): Command {
  cmd.description('Remove VMs (domain, disk overlay and cloud-init seed)')
    .argument('<vm...>', 'VM names or ids')
    .option('-f, --force', 'remove running VMs too (hard-stopped first)')
    .action(action(async (cli, opts, vms: string[]) => {
      await eachVm(cli, vms, (vm) => cli.daemon().call('DeleteVM', { vm, force: Boolean(opts.force) }));
    }));
  return examples(cmd, ['{cmd} web', '{cmd} -f web db']);
}

function ipsOf(vm: VMProcessInfo): string {
  return vm.networks.flatMap((n) => n.ipAddresses).join(',') || '-';
}

function allVmsTable(vms: VMInfo[], trunc: boolean): string {
  return table(['VM ID', 'NAME', 'IMAGE', 'STATUS', 'CREATED', 'CPUS', 'MEMORY', 'PROJECT'],
    vms.map((v) => [shortId(v.vmId, trunc), v.name, v.image, v.status + (v.ephemeral ? ' (ephemeral)' : ''),
      relativeTime(v.created), String(v.vcpuCount || '-'), humanMiB(v.memoryMb), v.composeProject || '-']));
}

async function listAll(cli: Cli, opts: Record<string, any>): Promise<void> {
  const res = await cli.daemon().call('ListVMs', {});
  if (opts.quiet && !cli.json) {
    if (res.vms.length) cli.out(res.vms.map((v) => v.vmId).join('\n'));
    return;
  }
  cli.result(res, (r) => allVmsTable(r.vms, opts.trunc !== false));
}

function ps(cmd: Command): Command {
  cmd.description('List running VMs (-a: all VMs)')
    .option('-a, --all', 'all VMs, running or not (ListVMs)')
    .option('-q, --quiet', 'only VM ids')
    .option('--no-trunc', 'do not shorten ids')
    .action(action(async (cli, opts) => {
      if (opts.all) return listAll(cli, opts);
      const res = await cli.daemon().call('PsVMs', {});
      if (opts.quiet && !cli.json) {
        if (res.vms.length) cli.out(res.vms.map((v) => v.vmId).join('\n'));
        return;
      }
      const trunc = opts.trunc !== false;
      cli.result(res, (r) => table(['VM ID', 'NAME', 'IMAGE', 'STATUS', 'UPTIME', 'CPUS', 'MEMORY', 'IP ADDRESSES', 'LABELS'],
        r.vms.map((v) => [shortId(v.vmId, trunc), v.name, v.image, v.status, v.uptime || '-', String(v.vcpuCount || '-'),
          humanMiB(v.memoryMb), ipsOf(v), formatLabels(v.labels) || '-'])));
    }));
  return examples(cmd, ['{cmd}', '{cmd} -a', '{cmd} -q', '{cmd} --json | jq -r \'.vms[].name\'']);
}

function ls(cmd: Command): Command {
  cmd.description('List all VMs, running or not')
    .option('-q, --quiet', 'only VM ids')
    .option('--no-trunc', 'do not shorten ids')
    .action(action(async (cli, opts) => listAll(cli, opts)));
  return examples(cmd, ['{cmd}', '{cmd} --json']);
}

const vmCommands: CommandTable = [
  ['run', (p) => run(p.command('run'))],
  ['start', (p) => start(p.command('start'))],
  ['stop', (p) => stopLike(p.command('stop'), 'StopVM', 'Stop')],
  ['restart', (p) => stopLike(p.command('restart'), 'RestartVM', 'Restart')],
  ['rm', (p) => rm(p.command('rm'))],
  ['ps', (p) => ps(p.command('ps'))],
  ['ls', (p) => ls(p.command('ls'))],
];

export function registerVmCommands(program: Command, word?: string): void {
  defineCommands(program, vmCommands, word);
}
