// `vmr network ls|inspect|create|start|stop|rm`: libvirt networks.
import { Option, type Command } from 'commander';
import { action } from '../runtime.js';
import { examples } from '../help.js';
import { shortId, table } from '../format.js';
import { required } from '../errors.js';
import type { NetworkInfo } from '../messages.js';

function describe(n: NetworkInfo): string {
  const rows: [string, string][] = [
    ['Name', n.name], ['UUID', n.uuid], ['Active', yesNo(n.active)], ['Persistent', yesNo(n.persistent)],
    ['Autostart', yesNo(n.autostart)], ['Mode', n.mode], ['Bridge', n.bridge], ['Subnet', n.subnet],
    ['Gateway', n.gateway], ['DHCP', n.dhcpStart ? `${n.dhcpStart} - ${n.dhcpEnd}` : 'off'],
    ['Forward device', n.forwardDevice], ['Domain', n.domain], ['Running VMs', String(n.vmCount)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v || '-'}`).join('\n');
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('Manage virtual networks');
  examples(network, ['{cmd} ls', '{cmd} create --subnet 10.42.0.0/24 --dhcp --activate backend']);

  examples(network.command('ls').alias('list').description('List networks')
    .option('-q, --quiet', 'only network names')
    .option('--no-trunc', 'do not shorten ids')
    .action(action(async (cli, opts) => {
      const res = await cli.daemon().call('NetworkList', {});
      if (opts.quiet && !cli.json) {
        if (res.networks.length) cli.out(res.networks.map((n) => n.name).join('\n'));
        return;
      }
      cli.result(res, (r) => table(['NETWORK ID', 'NAME', 'MODE', 'SUBNET', 'BRIDGE', 'STATE', 'AUTOSTART', 'VMS'],
        r.networks.map((n) => [shortId(n.uuid, opts.trunc !== false), n.name, n.mode || '-', n.subnet || '-', n.bridge || '-',
          n.active ? 'active' : 'inactive', yesNo(n.autostart), String(n.vmCount)])));
    })), ['{cmd}', '{cmd} -q']);

  examples(network.command('inspect').description('Show a network\'s details')
    .argument('<name>', 'network name')
    .action(action(async (cli, _opts, name: string) => {
      const res = await cli.daemon().call('NetworkGet', { name });
      cli.result(res, (r) => describe(required(r.network, 'network')));
    })), ['{cmd} default', '{cmd} --json backend']);

  examples(network.command('create').description('Create a network')
    .argument('<name>', 'network name')
    .addOption(new Option('--mode <mode>', 'forwarding mode').choices(['nat', 'isolated', 'routed', 'bridge']).default('nat'))
    .option('--subnet <cidr>', 'subnet, e.g. 10.42.0.0/24 (required except for bridge mode)')
    .option('--gateway <ip>', 'host address (default: first address of the subnet)')
    .option('--dhcp', 'serve DHCP')
    .option('--dhcp-start <ip>', 'DHCP range start (default: upper half of the subnet)')
    .option('--dhcp-end <ip>', 'DHCP range end')
    .option('--bridge <name>', 'bridge mode: existing host bridge; else the bridge to create')
    .option('--forward-device <dev>', 'host device to forward through (nat/routed)')
    .option('--domain <domain>', 'DNS domain')
    .option('--autostart', 'start when the host boots')
    .option('--activate', 'start it now')
    .action(action(async (cli, opts, name: string) => {
      const res = await cli.daemon().call('NetworkCreate', {
        name, mode: opts.mode, subnet: opts.subnet ?? '', dhcp: Boolean(opts.dhcp || opts.dhcpStart),
        dhcpStart: opts.dhcpStart ?? '', dhcpEnd: opts.dhcpEnd ?? '', bridgeName: opts.bridge ?? '',
        forwardDevice: opts.forwardDevice ?? '', domain: opts.domain ?? '', autostart: Boolean(opts.autostart),
        activate: Boolean(opts.activate), gateway: opts.gateway ?? '',
      });
      cli.result(res, (r) => required(r.network, 'network').name);
    })), [
    '{cmd} --subnet 10.42.0.0/24 --dhcp --activate backend',
    '{cmd} --mode isolated --subnet 192.168.50.0/24 lab',
    '{cmd} --mode bridge --bridge br0 lan',
  ]);

  examples(network.command('start').description('Activate an inactive network')
    .argument('<name>', 'network name')
    .action(action(async (cli, _opts, name: string) => {
      const res = await cli.daemon().call('NetworkActivate', { name });
      cli.result(res, (r) => required(r.network, 'network').name || name);
    })), ['{cmd} backend']);

  examples(network.command('stop').description('Deactivate a network (refused while running VMs use it)')
    .argument('<name>', 'network name')
    .option('-f, --force', 'deactivate even while running VMs use it')
    .action(action(async (cli, opts, name: string) => {
      const res = await cli.daemon().call('NetworkDeactivate',
        { name, force: Boolean(opts.force) });
      cli.result(res, (r) => required(r.network, 'network').name || name);
    })), ['{cmd} backend', '{cmd} -f backend']);

  examples(network.command('rm').alias('remove').description('Delete a network (refused while running VMs use it)')
    .argument('<name>', 'network name')
    .option('-f, --force', 'delete even while running VMs use it')
    .action(action(async (cli, opts, name: string) => {
      const res = await cli.daemon().call('NetworkDelete', { name, force: Boolean(opts.force) });
      cli.result(res, () => name);
    })), ['{cmd} backend', '{cmd} -f backend']);
}
