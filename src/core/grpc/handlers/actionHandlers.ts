import type { PortSlot } from '../../plugins/PortBindings.js';
import type { Hypervisor } from '../../ports/hypervisor.js';
import { stopOptions } from '../../vms/stopOptions.js';
import type { VmActions } from '../../vms/VmActions.js';
import type { RpcRuntime } from '../RpcRuntime.js';
import type { RequestOf } from '../messages.js';
import { networkName, vmRef, vmToInfoWire, vmToProcessWire } from './mappers.js';

const stopOpts = (req: RequestOf<'StopVM'> | RequestOf<'RestartVM'>) => stopOptions(req.force, req.timeoutSeconds);

export function actionHandlers(rt: RpcRuntime, hypervisor: PortSlot<Hypervisor>, vms: VmActions) {
  const hv = () => hypervisor.get();
  return {
    RunVM: rt.unary('RunVM', async (req, ctx) => {
      const o: Partial<NonNullable<typeof req.options>> = req.options ?? {};
      const ci = o.cloudInit;
      const vm = await vms.run({
        image: (req.image ?? '').trim(), name: (req.name ?? '').trim(),
        memoryMb: o.memoryMb ?? 0, vcpuCount: o.vcpuCount ?? 0, diskSizeGb: o.diskSizeGb ?? 0,
        ephemeral: Boolean(o.ephemeral),
        cloudInit: ci && (ci.userData || ci.metaData || ci.networkConfig)
          ? { userData: ci.userData || undefined, metaData: ci.metaData || undefined, networkConfig: ci.networkConfig || undefined }
          : undefined,
        networkName: o.networkName ? networkName(o.networkName, 'options.network_name') : '', activateNetwork: Boolean(o.activateNetwork), labels: { ...(o.labels ?? {}) },
        waitForIp: Boolean(o.waitForIp),
        sshAuthorizedKeys: o.sshAuthorizedKeys ?? [],
      }, ctx);
      const ips = vm.networks.flatMap((n) => n.ipAddresses);
      return { vmId: vm.id, name: vm.name, status: vm.status, ipAddresses: ips,
        message: `VM "${vm.name}" ${vm.status}${ips.length ? ` at ${ips.join(', ')}` : ''}` };
    }),
    StartVM: rt.unary('StartVM', async (req, ctx) => {
      const vm = await hv().start(vmRef(req.vm, 'vm'), ctx);
      return { vmId: vm.id, status: vm.status, message: `VM "${vm.name}" ${vm.status}` };
    }),
    StopVM: rt.unary('StopVM', async (req, ctx) => {
      const vm = await hv().stop(vmRef(req.vm, 'vm'), stopOpts(req), ctx);
      return { vmId: vm.id, status: vm.status, message: `VM "${vm.name}" ${vm.status}` };
    }),
    RestartVM: rt.unary('RestartVM', async (req, ctx) => {
      const vm = await hv().restart(vmRef(req.vm, 'vm'), stopOpts(req), ctx);
      return { vmId: vm.id, status: vm.status, message: `VM "${vm.name}" restarted` };
    }),
    DeleteVM: rt.unary('DeleteVM', async (req, ctx) => {
      const name = vmRef(req.vm, 'vm');
      const vm = await hv().get(name, ctx);
      await hv().delete(name, { force: Boolean(req.force) }, ctx);
      return { vmId: vm.id, message: `VM "${vm.name}" deleted` };
    }),
    PsVMs: rt.unary('PsVMs', async (_req, ctx) => ({
      vms: (await hv().list(ctx)).filter((v) => v.status === 'running' || v.status === 'paused').map((v) => vmToProcessWire(v)),
    })),
    ListVMs: rt.unary('ListVMs', async (_req, ctx) => ({ vms: (await hv().list(ctx)).map(vmToInfoWire) })),
  };
}
