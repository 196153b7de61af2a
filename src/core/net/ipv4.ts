// IPv4 CIDR arithmetic shared by the compose plugin and the in-memory fakes (their networks are IPv4).
export interface Ipv4Net {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
  /** Number of addresses in the block. */
  size: number;
}

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export const formatIpv4 = (n: number): string =>
  [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Parses `a.b.c.d/p`; returns a reason string when it is not a network address with a prefix. */
export function parseCidr(s: string): Ipv4Net | string {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m) return `"${s}" is not a CIDR (expected e.g. 10.42.0.0/24)`;
  const addr = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (addr === undefined) return `"${m[1]}" is not an IPv4 address`;
  if (prefix < 8 || prefix > 30) return `prefix /${prefix} must be between /8 and /30`;
  const size = 2 ** (32 - prefix);
  const base = addr - (addr % size);
  if (base !== addr) return `"${s}" has host bits set; did you mean ${formatIpv4(base)}/${prefix}?`;
  return { base, prefix, size };
}

export const overlaps = (a: Ipv4Net, b: Ipv4Net): boolean =>
  a.base < b.base + b.size && b.base < a.base + a.size;

export const contains = (net: Ipv4Net, ip: number): boolean => ip >= net.base && ip < net.base + net.size;

/** A usable host address of the network (not the network or broadcast address). */
export const inNet = (n: Ipv4Net, ip: number): boolean => ip > n.base && ip < n.base + n.size - 1;
