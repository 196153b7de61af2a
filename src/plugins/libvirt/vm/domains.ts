// Finding our domains and reading them back as records. libvirt is the only source of truth: every
// record is read from the domain (XML, our <metadata>, state) and the network's leases.
import { type CallContext, hasCode, type VMRecord } from '../../../plugin-api/index.js';
import { DomainState, type DomainRef } from '../rpc/index.js';
import { addressesByMac } from './addresses.js';
import type { Conn, Connections, Found } from './connections.js';
import { parseDomainXml } from './domainXml.js';
import type { EventForwarder } from './eventForwarder.js';
import { isUuid } from './names.js';
import { notOurs, toRecord } from './records.js';

export class Domains {
  constructor(private readonly conns: Connections, private readonly events: EventForwarder) {}

  /** Our VM by name or UUID; NOT_FOUND for a missing domain and for one vmregistry did not create. */
  async find(c: Conn, vm: string, ctx: CallContext): Promise<Found> {
    let dom: DomainRef;
    try {
      dom = isUuid(vm)
        ? await c.client.domainLookupByUuid(vm.toLowerCase(), { signal: ctx.signal })
        : await c.client.domainLookupByName(vm, { signal: ctx.signal });
    } catch (err) {
      if (hasCode(err, 'NOT_FOUND')) throw notOurs(vm, err);
      throw err;
    }
    try {
      return await this.read(c, dom, ctx);
    } catch (err) {
      if (hasCode(err, 'NOT_FOUND')) throw notOurs(vm, err);
      throw err;
    }
  }

  async read(c: Conn, dom: DomainRef, ctx: CallContext): Promise<Found> {
    const facts = parseDomainXml(await c.client.domainGetXmlDesc(dom, 0, { signal: ctx.signal }));
    if (!facts.metadata) throw notOurs(dom.name);
    this.seen(c, dom.uuid, facts.metadata);
    return { dom, facts, meta: facts.metadata };
  }

  /** A domain read with our metadata: its events are forwarded, and an ephemeral one's files tracked. */
  seen(c: Conn, uuid: string, meta: Found['meta']): void {
    this.events.markOwned(uuid);
    if (meta.ephemeral) c.ephemeral.set(uuid, meta.filesDir);
  }

  async record(c: Conn, f: Found, ctx: CallContext): Promise<VMRecord> {
    let state: number;
    let fresh = f;
    try {
      state = (await c.client.domainGetState(f.dom, { signal: ctx.signal })).state;
      // Re-read: the start time and MACs live in the live definition.
      fresh = await this.read(c, f.dom, ctx);
    } catch (err) {
      if (!hasCode(err, 'NOT_FOUND')) throw err;
      state = DomainState.SHUTOFF;
    }
    const leases = state === DomainState.SHUTOFF
      ? new Map<string, string[]>()
      : await addressesByMac(c.client, fresh.dom, fresh.facts, ctx.signal);
    return this.withPlace(c, toRecord(fresh, state, leases));
  }

  /** Where the VM lives (inspect): on every record, so records from any call compare equal. */
  async withPlace(c: Conn, rec: VMRecord): Promise<VMRecord> {
    return { ...rec, libvirtUri: c.uri, domainType: await this.conns.domainType(c).catch(() => undefined) };
  }

  async isActive(c: Conn, dom: DomainRef, ctx: CallContext): Promise<boolean> {
    try {
      return await c.client.domainIsActive(dom, { signal: ctx.signal });
    } catch (err) {
      if (hasCode(err, 'NOT_FOUND')) return false;
      throw err;
    }
  }

  async exists(c: Conn, name: string, ctx: CallContext): Promise<boolean> {
    try {
      await c.client.domainLookupByName(name, { signal: ctx.signal });
      return true;
    } catch (err) {
      if (hasCode(err, 'NOT_FOUND')) return false;
      throw err;
    }
  }
}
