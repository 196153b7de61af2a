// A project's state as the hypervisor holds it: VMs carrying the project's compose label. Nothing is
// kept in the daemon, so the state survives a daemon restart and matches what `virsh dumpxml` shows.
import type { CallContext, Hypervisor, VMRecord } from '../../plugin-api/index.js';
import { levels } from './graph.js';
import { decodeDeps, LABEL, type Dependency } from './model.js';

export interface ProjectState {
  vms: VMRecord[];
  /** Service → its VMs, by replica index. */
  byService: Map<string, VMRecord[]>;
  /** Service → dependencies, as recorded on its VMs. */
  deps: Map<string, Dependency[]>;
  /** Services in dependency order (dependencies first). */
  order: string[][];
}

export async function readProject(hv: Hypervisor, project: string, ctx: CallContext): Promise<ProjectState> {
  const vms = (await hv.list(ctx)).filter((v) => v.compose?.project === project);
  const byService = new Map<string, VMRecord[]>();
  const deps = new Map<string, Dependency[]>();
  for (const v of vms) {
    const s = v.compose!.service;
    byService.set(s, [...(byService.get(s) ?? []), v]);
    if (!deps.has(s) || v.labels[LABEL.dependsOn]) deps.set(s, decodeDeps(v.labels[LABEL.dependsOn]));
  }
  for (const list of byService.values()) list.sort((a, b) => a.compose!.index - b.compose!.index);
  const edges = new Map([...byService.keys()].map((s) => [s, (deps.get(s) ?? []).map((d) => d.service)]));
  let order: string[][];
  try {
    order = levels(edges);
  } catch {
    // Labels edited by hand into a cycle: fall back to name order rather than refuse to clean up.
    order = [[...byService.keys()].sort()];
  }
  return { vms, byService, deps, order };
}
