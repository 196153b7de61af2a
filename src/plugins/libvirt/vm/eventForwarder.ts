// Lifecycle events of the daemon's own VMs, forwarded to the core (the Events RPC). A domain counts as
// ours once it was seen carrying our <metadata>; events of other domains are dropped.
import type { HypervisorEvent } from '../../../plugin-api/index.js';
import { DomainEventType, type DomainLifecycleEvent } from '../rpc/index.js';
import type { Conn } from './connections.js';
import { parseDomainXml } from './domainXml.js';

const EVENT_ACTIONS: Record<number, string> = {
  [DomainEventType.DEFINED]: 'defined',
  [DomainEventType.UNDEFINED]: 'undefined',
  [DomainEventType.STARTED]: 'started',
  [DomainEventType.SUSPENDED]: 'paused',
  [DomainEventType.RESUMED]: 'resumed',
  [DomainEventType.STOPPED]: 'stopped',
  [DomainEventType.SHUTDOWN]: 'shutdown',
  [DomainEventType.PMSUSPENDED]: 'suspended',
  [DomainEventType.CRASHED]: 'crashed',
};

export class EventForwarder {
  private readonly listeners = new Set<(e: HypervisorEvent) => void>();
  /** UUIDs of domains seen with our metadata: only their events are forwarded. */
  private readonly owned = new Set<string>();

  /** A domain read back with our metadata. */
  markOwned(uuid: string): void {
    this.owned.add(uuid);
  }

  listen(listener: (e: HypervisorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  forward(c: Conn, e: DomainLifecycleEvent): void {
    if (!this.listeners.size) return;
    const action = EVENT_ACTIONS[e.event] ?? `event-${e.event}`;
    const send = () => {
      for (const l of this.listeners) {
        try { l({ vm: e.dom.name, id: e.dom.uuid, action, attributes: { uri: c.uri, detail: String(e.detail) } }); } catch { /* a listener's problem */ }
      }
    };
    if (this.owned.has(e.dom.uuid)) {
      if (e.event === DomainEventType.UNDEFINED) this.owned.delete(e.dom.uuid);
      send();
      return;
    }
    if (e.event === DomainEventType.UNDEFINED) return;
    // A domain not seen yet (created by this or another daemon since): forward only if it carries our metadata.
    c.client.domainGetXmlDesc(e.dom, 0).then((xml) => {
      if (!parseDomainXml(xml).metadata) return;
      this.owned.add(e.dom.uuid);
      send();
    }, () => undefined);
  }
}
