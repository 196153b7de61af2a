// The one IPv4 module: address and CIDR arithmetic for the network plugins, compose and the in-memory fakes.
// Addresses are unsigned 32-bit numbers.
import { InvalidArgumentError } from '../errors.js';

export interface Ipv4Net {
  /** Network address (host bits cleared). */
  base: number;
  prefix: number;
  /** Number of addresses in the block. */
  size: number;
}

/** The prefixes a VM network's subnet may have: /30 and longer leave no room for a DHCP range. */
export const SUBNET_PREFIX = { min: 8, max: 29 } as const;

/** `a.b.c.d`; a leading zero in an octet is refused (inet_aton would read it as octal). */
export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const octets = m.slice(1);
  if (octets.some((o) => Number(o) > 255 || (o.length > 1 && o[0] === '0'))) return undefined;
  const [a, b, c, d] = octets.map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export const formatIpv4 = (n: number): string =>
  [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

export function prefixFromNetmask(mask: string): number | undefined {
  const n = parseIpv4(mask);
  if (n === undefined) return undefined;
  const prefix = 32 - Math.log2((~n >>> 0) + 1);
  return Number.isInteger(prefix) && maskOf(prefix) === n ? prefix : undefined;
}

/** The network `addr/prefix` lies in (host bits cleared). */
export const cidrOf = (addr: number, prefix: number): Ipv4Net =>
  ({ base: (addr & maskOf(prefix)) >>> 0, prefix, size: 2 ** (32 - prefix) });

/** Parses `a.b.c.d/p` (p in 0..32, host bits zero); returns a reason string when it is not such a network. */
export function parseCidr(s: string): Ipv4Net | string {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  const addr = m ? parseIpv4(m[1]!) : undefined;
  if (!m || addr === undefined) return `"${s}" is not an IPv4 CIDR (expected e.g. 10.42.0.0/24)`;
  const prefix = Number(m[2]);
  if (prefix > 32) return `prefix /${prefix} is not an IPv4 prefix`;
  const net = cidrOf(addr, prefix);
  if (net.base !== addr) return `"${s}" has host bits set; did you mean ${formatIpv4(net.base)}/${prefix}?`;
  return net;
}

/** parseCidr for a request field: throws INVALID_ARGUMENT naming `field`. */
export function checkCidr(s: string, field: string): Ipv4Net {
  const net = parseCidr(s);
  if (typeof net === 'string') throw new InvalidArgumentError(`${field}: ${net}`, { field });
  return net;
}

/** A VM network's subnet: a CIDR with a prefix in SUBNET_PREFIX; a reason string otherwise. */
export function parseSubnet(s: string): Ipv4Net | string {
  const net = parseCidr(s);
  if (typeof net === 'string') return net;
  if (net.prefix < SUBNET_PREFIX.min || net.prefix > SUBNET_PREFIX.max) {
    return `prefix /${net.prefix} must be between /${SUBNET_PREFIX.min} and /${SUBNET_PREFIX.max}`;
  }
  return net;
}

/** parseSubnet for a request field: throws INVALID_ARGUMENT naming `field`. */
export function checkSubnet(s: string, field = 'subnet'): Ipv4Net {
  const net = parseSubnet(s);
  if (typeof net === 'string') throw new InvalidArgumentError(`${field}: ${net}`, { field });
  return net;
}

export const broadcastOf = (n: Ipv4Net): number => n.base + n.size - 1;

export const overlaps = (a: Ipv4Net, b: Ipv4Net): boolean =>
  a.base < b.base + b.size && b.base < a.base + a.size;

export const contains = (net: Ipv4Net, ip: number): boolean => ip >= net.base && ip < net.base + net.size;

/** A usable host address of the network (not the network or broadcast address). */
export const inNet = (n: Ipv4Net, ip: number): boolean => ip > n.base && ip < n.base + n.size - 1;

export const formatCidr = (n: Ipv4Net): string => `${formatIpv4(n.base)}/${n.prefix}`;
