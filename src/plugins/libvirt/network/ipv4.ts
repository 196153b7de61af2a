// IPv4 arithmetic for network validation. Addresses are unsigned 32-bit numbers.
import { InvalidArgumentError } from '../../../plugin-api/index.js';

export interface Cidr {
  /** Network address (host bits cleared). */
  network: number;
  prefix: number;
}

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1][0] === '0'))) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export const maskOf = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

export function prefixFromNetmask(mask: string): number | undefined {
  const n = parseIpv4(mask);
  if (n === undefined) return undefined;
  const prefix = 32 - Math.log2((~n >>> 0) + 1);
  return Number.isInteger(prefix) && maskOf(prefix) === n ? prefix : undefined;
}

/** Parses `a.b.c.d/p`; host bits must be zero. Throws InvalidArgumentError naming `field`. */
export function parseCidr(s: string, field: string): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  const addr = m ? parseIpv4(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || addr === undefined || prefix > 32) {
    throw new InvalidArgumentError(`${field} "${s}" is not an IPv4 CIDR like 10.231.5.0/24`, { field });
  }
  const network = (addr & maskOf(prefix)) >>> 0;
  if (network !== addr) {
    throw new InvalidArgumentError(
      `${field} "${s}" has host bits set; did you mean ${formatIpv4(network)}/${prefix}?`,
      { field },
    );
  }
  return { network, prefix };
}

export function cidrOf(addr: number, prefix: number): Cidr {
  return { network: (addr & maskOf(prefix)) >>> 0, prefix };
}

export const broadcastOf = (c: Cidr) => (c.network | (~maskOf(c.prefix) >>> 0)) >>> 0;

export function contains(c: Cidr, addr: number): boolean {
  return ((addr & maskOf(c.prefix)) >>> 0) === c.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.network & maskOf(p)) >>> 0) === ((b.network & maskOf(p)) >>> 0);
}

export const formatCidr = (c: Cidr) => `${formatIpv4(c.network)}/${c.prefix}`;
