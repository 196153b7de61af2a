// Server-to-client event messages (remote program, type MESSAGE), decoded into typed objects.
import { Proc } from './constants.js';
import { optStr, readDomain, readNetwork, type DomainRef, type NetworkRef } from './types.js';
import { XdrReader } from './xdr.js';

export interface DomainLifecycleEvent {
  callbackId: number;
  dom: DomainRef;
  /** virDomainEventType (DomainEventType). */
  event: number;
  /** Detail, meaning depends on `event`. */
  detail: number;
}

export interface DomainRebootEvent {
  callbackId: number;
  dom: DomainRef;
}

export interface DomainMetadataChangeEvent {
  callbackId: number;
  dom: DomainRef;
  type: number;
  nsuri: string | null;
}

export interface DomainAgentLifecycleEvent {
  callbackId: number;
  dom: DomainRef;
  state: number;
  reason: number;
}

export interface NetworkLifecycleEvent {
  callbackId: number;
  net: NetworkRef;
  /** NetworkEventType. */
  event: number;
  detail: number;
}

/** Client event name → payload; `LibvirtClient` emits these. */
export interface LibvirtEventMap {
  domainLifecycle: DomainLifecycleEvent;
  domainReboot: DomainRebootEvent;
  domainMetadataChange: DomainMetadataChangeEvent;
  domainAgentLifecycle: DomainAgentLifecycleEvent;
  networkLifecycle: NetworkLifecycleEvent;
}

export type DecodedEvent = { [K in keyof LibvirtEventMap]: { name: K; value: LibvirtEventMap[K] } }[keyof LibvirtEventMap];

/** Decodes a known event message; undefined for procedures this client does not model. */
export function decodeEvent(proc: number, payload: Buffer): DecodedEvent | undefined {
  const r = new XdrReader(payload);
  switch (proc) {
    case Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE:
      return { name: 'domainLifecycle', value: { callbackId: r.int(), dom: readDomain(r), event: r.int(), detail: r.int() } };
    case Proc.DOMAIN_EVENT_CALLBACK_REBOOT:
      return { name: 'domainReboot', value: { callbackId: r.int(), dom: readDomain(r) } };
    case Proc.DOMAIN_EVENT_CALLBACK_METADATA_CHANGE:
      return { name: 'domainMetadataChange', value: { callbackId: r.int(), dom: readDomain(r), type: r.int(), nsuri: optStr(r) } };
    case Proc.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE:
      return { name: 'domainAgentLifecycle', value: { callbackId: r.int(), dom: readDomain(r), state: r.int(), reason: r.int() } };
    case Proc.NETWORK_EVENT_LIFECYCLE:
      return { name: 'networkLifecycle', value: { callbackId: r.int(), net: readNetwork(r), event: r.int(), detail: r.int() } };
    default:
      return undefined;
  }
}
