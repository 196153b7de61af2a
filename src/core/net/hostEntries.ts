// The rules for a network's DNS host entries and DHCP host reservations, shared by every network
// manager (libvirt checks before its network-update, the in-memory fake holds the state): one
// entry per IP, per hostname and per MAC, so that a delete always matches exactly one entry.
import { createHash } from 'node:crypto';
import { AlreadyExistsError, InvalidArgumentError, quote } from '../errors.js';
import type { NetworkHosts } from '../ports/network.js';
import { inNet, parseCidr, parseIpv4 } from './ipv4.js';

/** A DNS name: dot-separated labels of letters, digits and inner "-", at most 253 characters. */
const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
export const isDnsName = (s: string): boolean =>
  s.length > 0 && s.length <= 253 && s.split('.').every((l) => LABEL_RE.test(l));

const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** `aa:bb:cc:dd:ee:ff` in lower case, or a reason it is not a usable unicast MAC. */
export function checkMac(s: string): { mac: string } | { reason: string } {
  const mac = s.trim().toLowerCase().replace(/-/g, ':');
  if (!MAC_RE.test(mac)) return { reason: `${quote(s)} is not a MAC address like 52:54:00:12:34:56` };
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) return { reason: `${mac} is a multicast MAC address; a NIC needs a unicast one (first byte even)` };
  if (mac === '00:00:00:00:00:00') return { reason: 'the all-zero MAC address cannot be used' };
  return { mac };
}

/** A stable MAC in QEMU's 52:54:00 range for `seed` (e.g. project/service/replica). */
export function deterministicMac(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  return ['52', '54', '00', ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/**
 * The entries as the manager stores them (MAC lower case), or INVALID_ARGUMENT naming the field. Entries
 * to remove need only their key: the IP of a DNS entry, the MAC of a reservation.
 */
export function normaliseHosts(h: NetworkHosts, subnet: string, field: string, forRemoval = false): NetworkHosts {
  const net = parseCidr(subnet);
  if (typeof net === 'string') throw new InvalidArgumentError(`the network has no usable subnet (${net})`, { field });
  const ip = (s: string, f: string) => {
    const v = parseIpv4(s ?? '');
    if (v === undefined || !inNet(net, v)) {
      throw new InvalidArgumentError(`${f}: ${quote(s)} is not a host address inside ${subnet}`, { field: f });
    }
    return s;
  };
  return {
    dns: (h.dns ?? []).map((d, i) => {
      const f = `${field}.dns[${i}]`;
      if (forRemoval) return { ip: ip(d.ip, f), hostnames: [...(d.hostnames ?? [])] };
      if (!d.hostnames?.length) throw new InvalidArgumentError(`${f}: a DNS host entry needs at least one hostname`, { field: f });
      for (const n of d.hostnames) {
        if (!isDnsName(n)) throw new InvalidArgumentError(`${f}: ${quote(n)} is not a DNS name`, { field: f });
      }
      return { ip: ip(d.ip, f), hostnames: [...d.hostnames] };
    }),
    dhcp: (h.dhcp ?? []).map((d, i) => {
      const f = `${field}.dhcp[${i}]`;
      const m = checkMac(d.mac ?? '');
      if ('reason' in m) throw new InvalidArgumentError(`${f}: ${m.reason}`, { field: f });
      return { mac: m.mac, ip: forRemoval ? d.ip ?? '' : ip(d.ip, f) };
    }),
  };
}

/**
 * The hosts after `change`: removals first (absent ones skipped), then additions, each checked against
 * what is kept. Throws before anything is applied; `plan.removed`/`plan.added` are what to send.
 */
export function planHostsChange(current: NetworkHosts, change: { remove: NetworkHosts; add: NetworkHosts }, subnet: string): {
  next: NetworkHosts;
  removed: NetworkHosts;
  added: NetworkHosts;
} {
  const remove = normaliseHosts(change.remove, subnet, 'remove', true);
  const add = normaliseHosts(change.add, subnet, 'add');
  const removed: NetworkHosts = {
    dns: current.dns.filter((c) => remove.dns.some((r) => r.ip === c.ip)),
    dhcp: current.dhcp.filter((c) => remove.dhcp.some((r) => r.mac === c.mac)),
  };
  const next: NetworkHosts = {
    dns: current.dns.filter((c) => !removed.dns.includes(c)),
    dhcp: current.dhcp.filter((c) => !removed.dhcp.includes(c)),
  };
  add.dns.forEach((d, i) => {
    const f = `add.dns[${i}]`;
    for (const k of next.dns) {
      if (k.ip === d.ip) throw new AlreadyExistsError(`${f}: ${d.ip} already has a DNS entry (${k.hostnames.join(', ')})`, { field: f });
      const clash = d.hostnames.find((n) => k.hostnames.some((h) => h.toLowerCase() === n.toLowerCase()));
      if (clash) throw new AlreadyExistsError(`${f}: the name "${clash}" is already in DNS as ${k.ip}`, { field: f });
    }
    next.dns.push(d);
  });
  add.dhcp.forEach((d, i) => {
    const f = `add.dhcp[${i}]`;
    for (const k of next.dhcp) {
      if (k.mac === d.mac) throw new AlreadyExistsError(`${f}: ${d.mac} already has a reservation (${k.ip})`, { field: f });
      if (k.ip === d.ip) throw new AlreadyExistsError(`${f}: ${d.ip} is already reserved for ${k.mac}`, { field: f });
    }
    next.dhcp.push(d);
  });
  return { next, removed, added: add };
}
