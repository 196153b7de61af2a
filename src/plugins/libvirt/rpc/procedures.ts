// The remote procedures the plugin calls, as data: number, argument count, what the call is (for error
// messages), argument encoder and reply decoder (remote_protocol.x field order). LibvirtClient gets one
// method per entry; adding a procedure is adding a row. Every method takes `opts?: CallOptions` last.
import { DHCP_LEASES_MAX, INTERFACE_MAX, LIST_MAX, Proc } from './constants.js';
import type { CallOptions } from './RpcConnection.js';
import {
  readDhcpLease, readDomain, readDomainInterface, readNetwork, str, uuidToBytes, wOptStr, wStr, writeDomain,
  writeNetwork, type DomainInterface, type DomainRef, type DomainStateInfo, type NetworkDhcpLease, type NetworkRef,
} from './types.js';
import type { XdrReader, XdrWriter } from './xdr.js';

export type Reader<T> = (r: XdrReader) => T;

export interface Procedure<A extends unknown[], R> {
  proc: number;
  /** How many arguments precede `opts` (defaults make Function.length unreliable). */
  arity: number;
  what: (...args: A) => string;
  write?: (w: XdrWriter, ...args: A) => void;
  read: Reader<R>;
}

const def = <A extends unknown[], R>(
  proc: number, arity: number, what: (...args: A) => string, write: ((w: XdrWriter, ...args: A) => void) | undefined, read: Reader<R>,
): Procedure<A, R> => ({ proc, arity, what, write, read });

export const readVoid: Reader<void> = () => undefined;
export const readInt: Reader<number> = (r) => r.int();
const readBool: Reader<boolean> = (r) => r.int() !== 0;
const readVersion: Reader<number> = (r) => Number(r.uhyper());
/** `need_results = 1, flags`: the list calls' arguments. */
const listArgs = (w: XdrWriter, flags = 0) => { w.int(1); w.uint(flags); };
const listOf = <T>(read: Reader<T>): Reader<T[]> => (r) => {
  const items = r.array(read, LIST_MAX);
  r.uint();
  return items;
};
const domFlags = (w: XdrWriter, dom: DomainRef, flags = 0) => { writeDomain(w, dom); w.uint(flags); };
const domOnly = (w: XdrWriter, dom: DomainRef) => writeDomain(w, dom);
const netOnly = (w: XdrWriter, net: NetworkRef) => writeNetwork(w, net);
const xmlFlags = (w: XdrWriter, xml: string, flags = 0) => { wStr(w, xml); w.uint(flags); };
const setAutostart = (w: XdrWriter, net: NetworkRef, autostart: boolean) => { writeNetwork(w, net); w.int(autostart ? 1 : 0); };

export const PROCEDURES = {
  // ---- connection ----
  /** Hypervisor version, major·1e6 + minor·1e3 + micro (formatVersion()). */
  getVersion: def(Proc.CONNECT_GET_VERSION, 0, () => 'get hypervisor version', undefined, readVersion),
  /** libvirt version, major·1e6 + minor·1e3 + micro. */
  getLibVersion: def(Proc.CONNECT_GET_LIB_VERSION, 0, () => 'get libvirt version', undefined, readVersion),
  getHostname: def(Proc.CONNECT_GET_HOSTNAME, 0, () => 'get hostname', undefined, str),
  getCapabilities: def(Proc.CONNECT_GET_CAPABILITIES, 0, () => 'get capabilities', undefined, str),
  /** Driver name: `QEMU`, `TEST` … */
  getType: def(Proc.CONNECT_GET_TYPE, 0, () => 'get driver type', undefined, str),
  /** The canonical URI the daemon opened. */
  getUri: def(Proc.CONNECT_GET_URI, 0, () => 'get URI', undefined, str),

  // ---- domains ----
  domainLookupByName: def(Proc.DOMAIN_LOOKUP_BY_NAME, 1, (name: string) => `look up domain "${name}"`,
    (w, name) => wStr(w, name), readDomain),
  domainLookupByUuid: def(Proc.DOMAIN_LOOKUP_BY_UUID, 1, (uuid: string) => `look up domain ${uuid}`,
    (w, uuid) => w.fixedOpaque(uuidToBytes(uuid), 16), readDomain),
  /** Defines (or redefines) a persistent domain. `flags`: DomainDefineFlags (VALIDATE = 1). */
  domainDefineXml: def(Proc.DOMAIN_DEFINE_XML_FLAGS, 2, (_xml: string, _flags?: number) => 'define domain', xmlFlags, readDomain),
  /** Starts a defined domain; returns the handle with its new id. `flags`: DomainStartFlags. */
  domainCreate: def(Proc.DOMAIN_CREATE_WITH_FLAGS, 2, (dom: DomainRef, _flags?: number) => `start domain "${dom.name}"`,
    domFlags, readDomain),
  /** Creates and starts a transient domain (gone after destroy). */
  domainCreateXml: def(Proc.DOMAIN_CREATE_XML, 2, (_xml: string, _flags?: number) => 'create transient domain', xmlFlags, readDomain),
  /** Hard power-off. `flags`: DomainDestroyFlags. Not running → FailedPreconditionError. */
  domainDestroy: def(Proc.DOMAIN_DESTROY_FLAGS, 2, (dom: DomainRef, _flags?: number) => `destroy domain "${dom.name}"`,
    domFlags, readVoid),
  /** Asks the guest to shut down (returns at once). `flags`: DomainShutdownFlags. */
  domainShutdown: def(Proc.DOMAIN_SHUTDOWN_FLAGS, 2, (dom: DomainRef, _flags?: number) => `shut down domain "${dom.name}"`,
    domFlags, readVoid),
  domainReboot: def(Proc.DOMAIN_REBOOT, 2, (dom: DomainRef, _flags?: number) => `reboot domain "${dom.name}"`, domFlags, readVoid),
  /** `flags`: DomainUndefineFlags (e.g. NVRAM | MANAGED_SAVE | SNAPSHOTS_METADATA). */
  domainUndefine: def(Proc.DOMAIN_UNDEFINE_FLAGS, 2, (dom: DomainRef, _flags?: number) => `undefine domain "${dom.name}"`,
    domFlags, readVoid),
  /** `flags`: DomainXmlFlags (INACTIVE = 2 for the persistent config). */
  domainGetXmlDesc: def(Proc.DOMAIN_GET_XML_DESC, 2, (dom: DomainRef, _flags?: number) => `get XML of domain "${dom.name}"`,
    domFlags, str),
  /** `state`: DomainState; `reason` depends on it. */
  domainGetState: def(Proc.DOMAIN_GET_STATE, 1, (dom: DomainRef) => `get state of domain "${dom.name}"`,
    (w, dom) => domFlags(w, dom, 0), (r): DomainStateInfo => ({ state: r.int(), reason: r.int() })),
  domainIsActive: def(Proc.DOMAIN_IS_ACTIVE, 1, (dom: DomainRef) => `check domain "${dom.name}"`, domOnly, readBool),
  domainIsPersistent: def(Proc.DOMAIN_IS_PERSISTENT, 1, (dom: DomainRef) => `check domain "${dom.name}"`, domOnly, readBool),
  /** All domains (flags 0) or a subset (ConnectListDomainsFlags, e.g. ACTIVE = 1). */
  listAllDomains: def(Proc.CONNECT_LIST_ALL_DOMAINS, 1, (_flags?: number) => 'list domains', listArgs, listOf(readDomain)),
  /**
   * Writes metadata. For ELEMENT: `metadata` is one element without namespace, `key` the prefix,
   * `uri` the namespace; metadata = key = null removes the entry. `flags`: LIVE = 1 | CONFIG = 2.
   */
  domainSetMetadata: def(Proc.DOMAIN_SET_METADATA, 6,
    (dom: DomainRef, _type: number, _metadata: string | null, _key: string | null, _uri: string | null, _flags?: number) =>
      `set metadata of domain "${dom.name}"`,
    (w, dom, type, metadata, key, uri, flags = 0) => {
      writeDomain(w, dom);
      w.int(type);
      wOptStr(w, metadata);
      wOptStr(w, key);
      wOptStr(w, uri);
      w.uint(flags);
    }, readVoid),
  /** `source`: InterfaceAddressesSource (LEASE = 0, AGENT = 1, ARP = 2). */
  domainInterfaceAddresses: def(Proc.DOMAIN_INTERFACE_ADDRESSES, 2,
    (dom: DomainRef, _source: number) => `get addresses of domain "${dom.name}"`,
    (w, dom, source) => { writeDomain(w, dom); w.uint(source); w.uint(0); },
    (r): DomainInterface[] => r.array(readDomainInterface, INTERFACE_MAX)),

  // ---- networks ----
  /** All networks (flags 0) or a subset (ConnectListNetworksFlags). */
  listAllNetworks: def(Proc.CONNECT_LIST_ALL_NETWORKS, 1, (_flags?: number) => 'list networks', listArgs, listOf(readNetwork)),
  networkLookupByName: def(Proc.NETWORK_LOOKUP_BY_NAME, 1, (name: string) => `look up network "${name}"`,
    (w, name) => wStr(w, name), readNetwork),
  /** Defines a persistent network (inactive until networkCreate). */
  networkDefineXml: def(Proc.NETWORK_DEFINE_XML, 1, (_xml: string) => 'define network', (w, xml) => wStr(w, xml), readNetwork),
  /** Starts (activates) a defined network. */
  networkCreate: def(Proc.NETWORK_CREATE, 1, (net: NetworkRef) => `start network "${net.name}"`, netOnly, readVoid),
  /** Stops (deactivates) a network. */
  networkDestroy: def(Proc.NETWORK_DESTROY, 1, (net: NetworkRef) => `stop network "${net.name}"`, netOnly, readVoid),
  networkUndefine: def(Proc.NETWORK_UNDEFINE, 1, (net: NetworkRef) => `undefine network "${net.name}"`, netOnly, readVoid),
  /** `flags`: NetworkXmlFlags (INACTIVE = 1). */
  networkGetXmlDesc: def(Proc.NETWORK_GET_XML_DESC, 2, (net: NetworkRef, _flags?: number) => `get XML of network "${net.name}"`,
    (w, net, flags = 0) => { writeNetwork(w, net); w.uint(flags); }, str),
  networkGetAutostart: def(Proc.NETWORK_GET_AUTOSTART, 1, (net: NetworkRef) => `get autostart of network "${net.name}"`,
    netOnly, readBool),
  networkSetAutostart: def(Proc.NETWORK_SET_AUTOSTART, 2,
    (net: NetworkRef, _autostart: boolean) => `set autostart of network "${net.name}"`, setAutostart, readVoid),
  networkIsActive: def(Proc.NETWORK_IS_ACTIVE, 1, (net: NetworkRef) => `check network "${net.name}"`, netOnly, readBool),
  networkIsPersistent: def(Proc.NETWORK_IS_PERSISTENT, 1, (net: NetworkRef) => `check network "${net.name}"`, netOnly, readBool),
  networkGetBridgeName: def(Proc.NETWORK_GET_BRIDGE_NAME, 1, (net: NetworkRef) => `get bridge of network "${net.name}"`,
    netOnly, str),
  /**
   * virNetworkUpdate: one element (`<host …/>`) added to or deleted from a `section` of the network, live and/or in
   * its persistent config (`flags`: NetworkUpdateFlags), without restarting it. Wire order command, section,
   * parentIndex (-1: any), xml, flags — checked against libvirtd 9.0.0 (the other order is refused as "can't update
   * 'ip' section"); libvirt's C library swaps the two internally, hence its NETWORK_UPDATE_HAS_CORRECT_ORDER feature.
   */
  networkUpdate: def(Proc.NETWORK_UPDATE, 5,
    (net: NetworkRef, _command: number, _section: number, _xml: string, _flags: number) => `update network "${net.name}"`,
    (w, net, command, section, xml, flags) => { writeNetwork(w, net); w.uint(command); w.uint(section); w.int(-1); wStr(w, xml); w.uint(flags); },
    readVoid),
  /** DHCP leases of a network (all, or those of one MAC). The test driver → NotImplementedError. */
  networkGetDhcpLeases: def(Proc.NETWORK_GET_DHCP_LEASES, 2,
    (net: NetworkRef, _mac?: string | null) => `get DHCP leases of network "${net.name}"`,
    (w, net, mac = null) => { writeNetwork(w, net); wOptStr(w, mac); w.int(1); w.uint(0); },
    (r): NetworkDhcpLease[] => {
      const leases = r.array(readDhcpLease, DHCP_LEASES_MAX);
      r.uint();
      return leases;
    }),
};

type ProcedureTable = typeof PROCEDURES;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any: `what`/`write` take A contravariantly
type ArgsOf<P> = P extends Procedure<infer A, any> ? A : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ResultOf<P> = P extends Procedure<any, infer R> ? R : never;

/** The typed wrapper methods LibvirtClient gets from the table. */
export type ProcedureMethods = {
  [K in keyof ProcedureTable]: (...args: [...ArgsOf<ProcedureTable[K]>, CallOptions?]) => Promise<ResultOf<ProcedureTable[K]>>;
};
