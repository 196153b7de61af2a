// PLACEHOLDER until the VM lifecycle (vm/LibvirtHypervisor.ts) lands: everything but health()
// throws NotImplementedError. Replace the import in ../index.ts and delete this file.
import { NotImplementedError } from '../../../core/errors.js';
import type { CallContext, ComponentHealth } from '../../../core/ports/common.js';
import type { Hypervisor, VMRecord } from '../../../core/ports/hypervisor.js';
import { libvirtHealth } from '../health.js';
import type { LibvirtPluginDeps } from '../deps.js';
import { resolveUri } from '../uri.js';

const notYet = (what: string) =>
  new NotImplementedError(`${what} is not implemented yet by the libvirt plugin (VM lifecycle pending)`);

export class PlaceholderHypervisor implements Hypervisor {
  constructor(private readonly deps: LibvirtPluginDeps) {}

  health(ctx: CallContext): Promise<ComponentHealth> {
    return libvirtHealth('hypervisor', () => this.deps.connections.get(resolveUri(ctx, this.deps.config.uri)), ctx);
  }

  async run(): Promise<VMRecord> { throw notYet('VmRun'); }
  async start(): Promise<VMRecord> { throw notYet('VmStart'); }
  async stop(): Promise<VMRecord> { throw notYet('VmStop'); }
  async restart(): Promise<VMRecord> { throw notYet('VmRestart'); }
  async delete(): Promise<void> { throw notYet('VmDelete'); }
  async get(): Promise<VMRecord> { throw notYet('VmGet'); }
  async list(): Promise<VMRecord[]> { throw notYet('VmList'); }
}
