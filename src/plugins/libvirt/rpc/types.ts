// Typed values of the remote protocol and their XDR codecs (remote_protocol.x field order).
import { InvalidArgumentError } from '../../../plugin-api/index.js';
import { STRING_MAX } from './packet.js';
import { IP_ADDR_MAX } from './constants.js';
import type { XdrReader, XdrWriter } from './xdr.js';

/** remote_nonnull_domain. `id` is -1 while the domain is not running. */
export interface DomainRef {
  name: string;
  /** 8-4-4-4-12 lowercase hex. */
  uuid: string;
  id: number;
}

/** remote_nonnull_network. */
export interface NetworkRef {
  name: string;
  uuid: string;
}

export interface DomainStateInfo {
  state: number;
  reason: number;
}

export interface DomainIpAddress {
  /** 0 IPv4, 1 IPv6. */
  type: number;
  addr: string;
  prefix: number;
}

export interface DomainInterface {
  name: string;
  hwaddr: string | null;
  addrs: DomainIpAddress[];
}

export interface NetworkDhcpLease {
  iface: string;
  /** Seconds since the epoch. */
  expirytime: bigint;
  /** 0 IPv4, 1 IPv6. */
  type: number;
  mac: string | null;
  iaid: string | null;
  ipaddr: string;
  prefix: number;
  hostname: string | null;
  clientid: string | null;
}

export function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new InvalidArgumentError(`"${uuid}" is not a UUID`);
  return Buffer.from(hex, 'hex');
}

export function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const str = (r: XdrReader) => r.string(STRING_MAX);
export const optStr = (r: XdrReader) => r.optional(str);
export const wStr = (w: XdrWriter, s: string) => w.string(s, STRING_MAX);
export const wOptStr = (w: XdrWriter, s: string | null | undefined) => w.optional(s, wStr);

export function writeDomain(w: XdrWriter, d: DomainRef): void {
  wStr(w, d.name);
  w.fixedOpaque(uuidToBytes(d.uuid), 16);
  w.int(d.id);
}

export function readDomain(r: XdrReader): DomainRef {
  const name = str(r);
  const uuid = bytesToUuid(r.fixedOpaque(16));
  return { name, uuid, id: r.int() };
}

export function writeNetwork(w: XdrWriter, n: NetworkRef): void {
  wStr(w, n.name);
  w.fixedOpaque(uuidToBytes(n.uuid), 16);
}

export function readNetwork(r: XdrReader): NetworkRef {
  const name = str(r);
  return { name, uuid: bytesToUuid(r.fixedOpaque(16)) };
}

export function readDomainInterface(r: XdrReader): DomainInterface {
  const name = str(r);
  const hwaddr = optStr(r);
  const addrs = r.array((x) => ({ type: x.int(), addr: str(x), prefix: x.uint() }), IP_ADDR_MAX);
  return { name, hwaddr, addrs };
}

export function readDhcpLease(r: XdrReader): NetworkDhcpLease {
  return {
    iface: str(r),
    expirytime: r.hyper(),
    type: r.int(),
    mac: optStr(r),
    iaid: optStr(r),
    ipaddr: str(r),
    prefix: r.uint(),
    hostname: optStr(r),
    clientid: optStr(r),
  };
}

/** libvirt's version numbers are major·1e6 + minor·1e3 + micro. */
export function formatVersion(v: number | bigint): string {
  const n = Number(v);
  return `${Math.floor(n / 1e6)}.${Math.floor(n / 1e3) % 1000}.${n % 1000}`;
}
