// IPv4 CIDR checks for VMCompose networks.
export interface Ipv4Net {
  base: number;
  prefix: number;
  size: number;
}

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return undefined;
  return p[0]! * 2 ** 24 + p[1]! * 2 ** 16 + p[2]! * 2 ** 8 + p[3]!;
}

const fmt = (n: number) => [Math.floor(n / 2 ** 24), Math.floor(n / 2 ** 16) % 256, Math.floor(n / 256) % 256, n % 256].join('.');

/** The parsed network, or why `s` is not a usable IPv4 network in CIDR form. */
export function parseCidr(s: string): Ipv4Net | string {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m) return `"${s}" is not a CIDR (expected e.g. 10.42.0.0/24)`;
  const addr = parseIpv4(m[1]!);
  if (addr === undefined) return `"${m[1]}" is not an IPv4 address`;
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) return `prefix /${prefix} must be between /8 and /30`;
  const size = 2 ** (32 - prefix);
  const base = addr - (addr % size);
  if (base !== addr) return `"${s}" has host bits set; did you mean ${fmt(base)}/${prefix}?`;
  return { base, prefix, size };
}

export const overlaps = (a: Ipv4Net, b: Ipv4Net): boolean => a.base < b.base + b.size && b.base < a.base + a.size;
export const inNet = (n: Ipv4Net, ip: number): boolean => ip > n.base && ip < n.base + n.size - 1;
