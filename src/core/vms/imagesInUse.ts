// Which images VMs use, across every context: VMs of one context (one libvirt URI) boot from the same
// base disks as another's, so GC and DeleteImage must ask every hypervisor connection the daemon knows,
// not only the current context's — else switching contexts and collecting deletes a disk under a VM.
import { UnavailableError } from '../errors.js';
import type { CallContext, ContextInfo } from '../ports/common.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import type { ContextReader } from '../ports/state.js';

/** Image digest → the VMs using it (`name`, or `name (context c)` for another context's). */
export async function imagesInUse(hv: Hypervisor | undefined, contexts: ContextReader, ctx: CallContext): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!hv) return out;
  const current = ctx.context ?? await contexts.current();
  const all = contexts.list ? (await contexts.list()).contexts : [current];
  // One listing per distinct hypervisor target: contexts naming the same URI see the same VMs.
  const byUri = new Map<string, ContextInfo>([[current.libvirtUri.trim(), current]]);
  for (const c of all) if (!byUri.has(c.libvirtUri.trim())) byUri.set(c.libvirtUri.trim(), c);
  await Promise.all([...byUri.values()].map(async (c) => {
    let vms;
    try {
      vms = await hv.list({ ...ctx, context: c });
    } catch (err) {
      const where = c === current ? '' : ` of context "${c.name}" (${c.libvirtUri || 'the default libvirt URI'})`;
      throw new UnavailableError(
        `cannot tell which images the VMs${where} use (${(err as Error).message}); retry when that hypervisor is reachable` +
          (c === current ? '' : `, or remove the context if it is gone for good`),
        { cause: err },
      );
    }
    for (const vm of vms) {
      const label = c === current ? vm.name : `${vm.name} (context ${c.name})`;
      out.set(vm.imageDigest, [...(out.get(vm.imageDigest) ?? []), label]);
    }
  }));
  return out;
}
