// DNS host entries and DHCP host reservations of a libvirt network, read from its XML and changed in
// place with virNetworkUpdate (live and in the persistent config, no network restart). The rules
// (one entry per IP, hostname and MAC) are the shared ones of plugin-api's planHostsChange.
import { FailedPreconditionError, planHostsChange, type CallContext } from '../../../plugin-api/index.js';
import type { DhcpHost, DnsHost, NetworkHosts } from '../../../core/ports/network.js';
import {
  NetworkUpdateCommand,
  NetworkUpdateFlags,
  NetworkUpdateSection,
  type LibvirtClient,
  type NetworkRef,
} from '../rpc/index.js';
import { attr, child, children, el, parseXml, text, toXml } from '../xml/index.js';
import { parseNetworkXml } from './networkXml.js';

export function parseNetworkHosts(xml: string): NetworkHosts {
  const root = parseXml(xml);
  const dns = children(child(root, 'dns'), 'host').map((h): DnsHost => ({
    ip: attr(h, 'ip') ?? '',
    hostnames: children(h, 'hostname').map((n) => text(n).trim()).filter(Boolean),
  }));
  const ip = children(root, 'ip').find((i) => (attr(i, 'family') ?? 'ipv4') === 'ipv4');
  const dhcp = children(child(ip, 'dhcp'), 'host')
    .filter((h) => attr(h, 'mac') !== undefined)
    .map((h): DhcpHost => ({ mac: (attr(h, 'mac') ?? '').toLowerCase(), ip: attr(h, 'ip') ?? '' }));
  return { dns, dhcp };
}

const dnsXml = (h: DnsHost) => toXml(el('host', { ip: h.ip }, ...h.hostnames.map((n) => el('hostname', {}, n))));
const dhcpXml = (h: DhcpHost) => toXml(el('host', { mac: h.mac, ip: h.ip }));

async function current(c: LibvirtClient, net: NetworkRef, ctx: CallContext) {
  const opts = { signal: ctx.signal };
  const [active, persistent] = await Promise.all([c.networkIsActive(net, opts), c.networkIsPersistent(net, opts)]);
  // The live definition of a running network (what dnsmasq serves), else the persistent one.
  const xml = await c.networkGetXmlDesc(net, active ? 0 : 1, opts);
  return { active, persistent, xml };
}

export async function readHosts(c: LibvirtClient, name: string, ctx: CallContext): Promise<NetworkHosts> {
  const net = await c.networkLookupByName(name, { signal: ctx.signal });
  return parseNetworkHosts((await current(c, net, ctx)).xml);
}

/** Checks the whole change first (nothing applied when any part is refused), then removes and adds. */
export async function updateHosts(c: LibvirtClient, name: string, change: { remove: NetworkHosts; add: NetworkHosts },
  ctx: CallContext): Promise<NetworkHosts> {
  const opts = { signal: ctx.signal };
  const net = await c.networkLookupByName(name, opts);
  const cur = await current(c, net, ctx);
  const parsed = parseNetworkXml(cur.xml);
  if (!parsed.subnet || parsed.mode === 'bridge') {
    throw new FailedPreconditionError(`network "${name}" has no IPv4 subnet of its own; its DNS and DHCP cannot be changed`);
  }
  const plan = planHostsChange(parseNetworkHosts(cur.xml), change, parsed.subnet);
  const flags = cur.active ? NetworkUpdateFlags.LIVE | (cur.persistent ? NetworkUpdateFlags.CONFIG : 0) : NetworkUpdateFlags.CONFIG;
  const { DELETE, ADD_LAST } = NetworkUpdateCommand;
  const { DNS_HOST, IP_DHCP_HOST } = NetworkUpdateSection;
  for (const h of plan.removed.dns) await c.networkUpdate(net, DELETE, DNS_HOST, dnsXml(h), flags, opts);
  for (const h of plan.removed.dhcp) await c.networkUpdate(net, DELETE, IP_DHCP_HOST, dhcpXml(h), flags, opts);
  for (const h of plan.added.dhcp) await c.networkUpdate(net, ADD_LAST, IP_DHCP_HOST, dhcpXml(h), flags, opts);
  for (const h of plan.added.dns) await c.networkUpdate(net, ADD_LAST, DNS_HOST, dnsXml(h), flags, opts);
  ctx.log.info({ network: name, removed: plan.removed.dns.length + plan.removed.dhcp.length,
    added: plan.added.dns.length + plan.added.dhcp.length }, 'network hosts updated');
  return plan.next;
}
