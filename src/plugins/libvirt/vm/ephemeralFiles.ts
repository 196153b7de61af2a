// The files of VMs that libvirt forgets: an ephemeral (transient) domain that stops is gone, and its
// directory goes with it; directories no domain owns are swept (see sweep.ts). Nothing outside the
// state directory is ever removed.
import type { Logger } from '../../../plugin-api/index.js';
import { DomainEventType, type DomainLifecycleEvent } from '../rpc/index.js';
import type { Conn } from './connections.js';
import type { SweepPlan } from './sweep.js';

export class EphemeralFiles {
  constructor(private readonly log: Logger) {}

  /** A stopped or undefined ephemeral domain: remove its directory (unless a run is still making it). */
  onLifecycle(c: Conn, e: DomainLifecycleEvent): void {
    if (e.event !== DomainEventType.STOPPED && e.event !== DomainEventType.UNDEFINED) return;
    const dir = c.ephemeral.get(e.dom.uuid);
    if (!dir || c.inFlight.has(dir)) return;
    c.ephemeral.delete(e.dom.uuid);
    this.remove(c, dir).catch((err) =>
      this.log.warn({ err, vm: e.dom.name, dir }, 'could not remove the files of a stopped ephemeral VM'));
  }

  async forget(c: Conn, uuid: string, dir: string): Promise<void> {
    c.ephemeral.delete(uuid);
    await this.remove(c, dir);
  }

  /** Removes VM directories no domain owns; `owned` are the filesDirs of every domain listed after the plan. */
  async finishSweep(c: Conn, plan: SweepPlan, owned: string[]): Promise<void> {
    for (const dir of await plan.finish(owned)) {
      for (const [uuid, d] of c.ephemeral) if (d === dir) c.ephemeral.delete(uuid);
      this.log.info({ dir, uri: c.uri }, 'removed the files of a VM no domain owns (an interrupted run or a VM gone while no daemon watched)');
    }
  }

  async remove(c: Conn, dir: string): Promise<void> {
    if (!c.files.owns(dir)) {
      this.log.warn({ dir, stateDir: c.files.root }, 'not removing VM files outside the state directory');
      return;
    }
    await c.files.remove(dir);
  }
}
