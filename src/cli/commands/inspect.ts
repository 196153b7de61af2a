// `vmr inspect NAME`: like docker, one verb for both kinds of object — a VM when one has that name or
// id, else an image (`--type vm|image` to say which). Prints JSON either way.
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, type Cli } from '../runtime.js';
import { examples } from '../help.js';
import { ServerError, required } from '../errors.js';
import type { Res, VMInfo } from '../messages.js';
import { parseOrRaw } from '../format.js';
import { isUuid, isVmName } from '../../core/names.js';

/** GetVM's reply with its VM, which the daemon always sets. */
export type VMDetail = Res<'GetVM'> & { vm: VMInfo };

export function vmDetail(r: Res<'GetVM'>): VMDetail {
  return { ...r, vm: required(r.vm, 'vm') };
}

/** The VM as `vmr inspect` prints it: flat and readable, addresses up front. */
export function vmInspectView(d: VMDetail): Record<string, unknown> {
  const v = d.vm;
  return {
    Type: 'vm',
    Id: v.vmId,
    Name: v.name,
    Status: v.status,
    Image: v.image,
    ImageDigest: v.imageDigest,
    Created: v.created,
    Started: d.started || null,
    Resources: { MemoryMiB: v.memoryMb, VCPUs: v.vcpuCount },
    Ephemeral: v.ephemeral,
    IPAddresses: d.networks.flatMap((n) => n.ipAddresses),
    Networks: d.networks.map((n) => ({ Name: n.name, Type: n.interfaceType, MAC: n.mac, IPAddresses: n.ipAddresses })),
    Disks: d.disks.map((x) => ({ Target: x.target, Device: x.device, Format: x.format, Path: x.path, ...(x.backingPath ? { BackingPath: x.backingPath } : {}) })),
    Labels: v.labels,
    Compose: v.composeProject ? { Project: v.composeProject, Service: v.composeService, Index: d.composeIndex } : null,
    DefaultUser: d.defaultUser || null,
    CloudInit: d.cloudInit
      ? {
          UserData: d.cloudInit.userDataKind, UserDataBytes: d.cloudInit.userDataBytes, SSHAuthorizedKeys: d.cloudInit.sshAuthorizedKeys,
          MetaData: d.cloudInit.metaData, NetworkConfig: d.cloudInit.networkConfig,
        }
      : null,
    ConsoleLog: d.consoleLog || null,
    LibvirtURI: d.libvirtUri,
    DomainType: d.domainType || null,
  };
}

const notFound = (err: unknown) => err instanceof ServerError && err.code === 'NOT_FOUND';
// Not a VM here: none by that name, a daemon from before GetVM (UNIMPLEMENTED), or no hypervisor plugin.
const notAVm = (err: unknown) => err instanceof ServerError && ['NOT_FOUND', 'UNIMPLEMENTED', 'FAILED_PRECONDITION'].includes(err.code);
// What a VM name or id can look like: the daemon's own rule.
const couldBeVm = (name: string) => isVmName(name) || isUuid(name);

export async function inspectImage(cli: Cli, reference: string): Promise<void> {
  const res = await cli.daemon().call(
    'GetImageManifest', { reference });
  cli.result(res, (r) => JSON.stringify({
    reference, digest: r.digest, mediaType: r.mediaType, sourceFormat: r.sourceFormat || 'vmregistry',
    manifest: parseOrRaw(r.manifestJson), config: parseOrRaw(r.configJson),
  }, null, 2));
}

async function inspectVm(cli: Cli, vm: string): Promise<void> {
  const res = await cli.daemon().call('GetVM', { vm });
  cli.result(res, (r) => JSON.stringify(vmInspectView(vmDetail(r)), null, 2));
}

export function inspectCommand(cmd: Command): Command {
  cmd.description('Show a VM (addresses, disks, default user, cloud-init summary …) or an image (manifest and config)')
    .argument('<name>', 'VM name or id, or image reference')
    .addOption(new Option('--type <type>', 'only look for this kind of object').choices(['vm', 'image']))
    .action(action(async (cli, opts, name: string) => {
      if (opts.type === 'image') return inspectImage(cli, name);
      if (opts.type === 'vm') return inspectVm(cli, name);
      if (!couldBeVm(name)) return inspectImage(cli, name);
      try {
        await inspectVm(cli, name);
      } catch (err) {
        if (!notAVm(err)) throw err;
        try {
          await inspectImage(cli, name);
        } catch (imgErr) {
          if (notFound(imgErr)) throw new ServerError('NOT_FOUND', `no VM or image named "${name}"`);
          throw imgErr;
        }
      }
    }));
  return examples(cmd, ['{cmd} web', "{cmd} web --json | jq -r '.networks[].ipAddresses[]'", '{cmd} --type image debian-12:latest']);
}
