// libvirt network XML <-> the fields of NetworkInfo / NetworkSpec.
import { cidrOf, formatCidr, type NetworkMode, parseIpv4, prefixFromNetmask } from '../../../plugin-api/index.js';
import { attr, child, children, el, parseXml, text, toXml, type XmlElement } from '../xml/index.js';

export const LABELS_NS = 'https://vmregistry.dev/xmlns/network-labels/v1';

export interface ParsedNetwork {
  name: string;
  uuid: string;
  mode: NetworkMode | string;
  bridge: string;
  subnet: string;
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
  forwardDevice: string;
  domain: string;
  labels: Record<string, string>;
}

/** What buildNetworkXml needs: a validated spec with defaults resolved. */
export interface ResolvedNetworkSpec {
  name: string;
  mode: NetworkMode;
  /** Non-bridge modes: gateway address and prefix. */
  gateway?: string;
  prefix?: number;
  dhcp?: { start: string; end: string };
  bridgeName: string;
  forwardDevice: string;
  domain: string;
  labels: Record<string, string>;
}

export function parseNetworkXml(xml: string): ParsedNetwork {
  const root = parseXml(xml);
  const forward = child(root, 'forward');
  let mode: string = 'isolated';
  if (forward) {
    const m = attr(forward, 'mode') ?? 'nat';
    mode = m === 'route' ? 'routed' : m;
  }
  // The first IPv4 <ip> is the network's subnet; IPv6 is reported by libvirt but not modelled here.
  const ip = children(root, 'ip').find((i) => (attr(i, 'family') ?? 'ipv4') === 'ipv4');
  let subnet = '';
  let gateway = '';
  let dhcpStart = '';
  let dhcpEnd = '';
  if (ip) {
    const address = attr(ip, 'address') ?? '';
    const addr = parseIpv4(address);
    const prefix = attr(ip, 'prefix') !== undefined ? Number(attr(ip, 'prefix')) : prefixFromNetmask(attr(ip, 'netmask') ?? '');
    if (addr !== undefined && prefix !== undefined && Number.isInteger(prefix)) {
      subnet = formatCidr(cidrOf(addr, prefix));
      gateway = address;
    }
    const range = child(child(ip, 'dhcp'), 'range');
    dhcpStart = attr(range, 'start') ?? '';
    dhcpEnd = attr(range, 'end') ?? '';
  }
  const labels: Record<string, string> = {};
  for (const meta of children(child(root, 'metadata'))) {
    const prefix = meta.name.includes(':') ? meta.name.split(':')[0] : '';
    const ns = prefix ? meta.attrs[`xmlns:${prefix}`] : meta.attrs.xmlns;
    if (ns !== LABELS_NS) continue;
    for (const l of children(meta).filter((c) => c.name.endsWith('label'))) {
      const k = attr(l, 'key');
      if (k) labels[k] = text(l);
    }
  }
  return {
    name: text(child(root, 'name')),
    uuid: text(child(root, 'uuid')),
    mode,
    bridge: attr(child(root, 'bridge'), 'name') ?? '',
    subnet,
    gateway,
    dhcpStart,
    dhcpEnd,
    forwardDevice: attr(forward, 'dev') ?? '',
    domain: attr(child(root, 'domain'), 'name') ?? '',
    labels,
  };
}

export function buildNetworkXml(s: ResolvedNetworkSpec): string {
  const kids: (XmlElement | undefined)[] = [el('name', {}, s.name)];
  if (Object.keys(s.labels).length) {
    kids.push(el('metadata', {},
      el('vmr:labels', { 'xmlns:vmr': LABELS_NS },
        Object.entries(s.labels).map(([k, v]) => el('vmr:label', { key: k }, v)))));
  }
  switch (s.mode) {
    case 'nat':
      kids.push(el('forward', { mode: 'nat', dev: s.forwardDevice || undefined }));
      break;
    case 'routed':
      kids.push(el('forward', { mode: 'route', dev: s.forwardDevice || undefined }));
      break;
    case 'bridge':
      kids.push(el('forward', { mode: 'bridge' }));
      break;
    case 'isolated':
      break;
  }
  if (s.mode === 'bridge') {
    kids.push(el('bridge', { name: s.bridgeName }));
  } else {
    kids.push(el('bridge', { name: s.bridgeName || undefined, stp: 'on', delay: 0 }));
    if (s.domain) kids.push(el('domain', { name: s.domain, localOnly: 'yes' }));
    kids.push(el('ip', { address: s.gateway, prefix: s.prefix },
      s.dhcp ? el('dhcp', {}, el('range', { start: s.dhcp.start, end: s.dhcp.end })) : undefined));
  }
  return toXml(el('network', {}, kids));
}
