// Fixed addresses (networks.<net>.ipv4_address, mac_address) and DNS names of services: resolved for
// up and checked at validate, before any VM exists.
import { checkMac, deterministicMac, formatIpv4, isDnsName, parseCidr, parseIpv4 } from '../../plugin-api/index.js';
import type { ResolvedNetwork } from './model.js';
import type { P } from './load.js';
import { projectHasNames, vmHostnames } from './hostnames.js';

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The service's ipv4_address as written (first network of the mapping form), if any. */
function rawAddress(def: Raw): { key: string; ip: string } | undefined {
  if (!isObj(def.networks)) return undefined;
  for (const [key, v] of Object.entries(def.networks)) {
    if (isObj(v) && typeof v.ipv4_address === 'string') return { key, ip: v.ipv4_address.trim() };
  }
  return undefined;
}

/** What up passes on: the fixed address and the MAC (given, or derived when only the address is). */
export function fixedAddress(project: string, svc: string, def: Raw, net: ResolvedNetwork | undefined, replicas: number):
  { ipv4Address?: string; macAddress?: string } {
  if (replicas > 1) return {};
  const addr = net && !net.external ? rawAddress(def) : undefined;
  const given = typeof def.mac_address === 'string' ? checkMac(def.mac_address) : undefined;
  const mac = given && 'mac' in given ? given.mac : addr ? deterministicMac(`${project}/${svc}/1`) : undefined;
  return { ...(addr ? { ipv4Address: addr.ip } : {}), ...(mac ? { macAddress: mac } : {}) };
}

/** Every problem with addresses, MACs and names, reported at the line of the value. */
export function checkAddresses(project: string, networks: ResolvedNetwork[], rawSvcs: Raw,
  err: (p: P, m: string, atKey?: boolean) => void, warn: (p: P, m: string) => void): void {
  const byKey = new Map(networks.map((n) => [n.key, n]));
  const ips = new Map<string, string>();
  const macs = new Map<string, string>();
  const names = new Map<string, string>();
  const named = projectHasNames(project);
  const warnedExternal = new Set<string>();
  for (const [svc, def] of Object.entries(rawSvcs)) {
    if (!isObj(def)) continue;
    const at: P = ['services', svc];
    const replicas = Number.isInteger(def.replicas) ? (def.replicas as number) : 1;
    const addr = rawAddress(def);
    const net = addr ? byKey.get(addr.key) : undefined;
    if (addr) {
      const p: P = [...at, 'networks', addr.key, 'ipv4_address'];
      const reason = addressProblem(addr.ip, net, replicas);
      if (reason) err(p, reason);
      else if (net) {
        const k = `${net!.key}/${addr.ip}`;
        const other = ips.get(k);
        if (other) err(p, `${addr.ip} is already the address of service "${other}" on network "${net!.key}"`);
        else ips.set(k, svc);
      }
    }
    if (def.mac_address !== undefined && typeof def.mac_address === 'string') {
      const p: P = [...at, 'mac_address'];
      const m = checkMac(def.mac_address);
      if ('reason' in m) err(p, m.reason);
      else if (replicas > 1) err(p, `a fixed MAC needs replicas: 1 (each replica needs its own MAC); got replicas: ${replicas}`);
      else if (macs.has(m.mac)) err(p, `${m.mac} is already the MAC of service "${macs.get(m.mac)}"`);
      else macs.set(m.mac, svc);
    }
    // Names: on project networks only; an external network's DNS is not ours to edit.
    const keys = Array.isArray(def.networks) ? def.networks : isObj(def.networks) ? Object.keys(def.networks) : [];
    const onNet = keys.map((k) => byKey.get(String(k))).find((n) => n !== undefined);
    if (!onNet) continue;
    if (onNet.external) {
      if (!warnedExternal.has(onNet.key)) {
        warn(at, `network "${onNet.key}" is external: its VMs get no DNS entries (resolve them by address or by your own DNS)`);
        warnedExternal.add(onNet.key);
      }
      continue;
    }
    if (onNet.mode === 'bridge' || !named) continue;
    if (!isDnsName(svc) || svc.includes('.')) {
      warn(at, `service name "${svc}" is not a DNS label (letters, digits, inner "-"): its VMs get no DNS names`);
      continue;
    }
    for (let i = 1; i <= Math.max(replicas, 1) && i <= 64; i++) {
      for (const n of vmHostnames(project, svc, i)) {
        const k = `${onNet.key}/${n}`;
        const other = names.get(k);
        if (other !== undefined && other !== svc) {
          err(at, `DNS name "${n}" of service "${svc}" is also a name of service "${other}" on network "${onNet.key}"; rename one of them`, true);
        } else names.set(k, svc);
      }
    }
  }
  for (const n of networks) {
    if (!n.external && n.mode !== 'bridge' && !named && [...Object.values(rawSvcs)].length) {
      warn(['name'], `project name "${project}" is not a DNS label: its VMs get no DNS names`);
      break;
    }
  }
}

/** Why `ip` cannot be a fixed address on `net`, or undefined. */
function addressProblem(ip: string, net: ResolvedNetwork | undefined, replicas: number): string | undefined {
  if (!net) return undefined; // the unknown network is reported already
  if (replicas > 1) return `a fixed address needs replicas: 1 (replicas share the definition); got replicas: ${replicas}`;
  if (net.external) return `network "${net.key}" is external: vmr does not change its DHCP, so it cannot reserve ${ip} there`;
  if (net.mode === 'bridge') return `network "${net.key}" is a host bridge: its DHCP is not libvirt's, so ${ip} cannot be reserved`;
  const v = parseIpv4(ip);
  if (v === undefined) return `"${ip.slice(0, 64)}" is not an IPv4 address`;
  const cidr = parseCidr(net.subnet);
  if (typeof cidr === 'string') return undefined; // the subnet is reported already
  if (v < cidr.base || v >= cidr.base + cidr.size) return `${ip} is outside the subnet ${net.subnet} of network "${net.key}"`;
  if (v === cidr.base) return `${ip} is the network address of ${net.subnet}`;
  if (v === cidr.base + cidr.size - 1) return `${ip} is the broadcast address of ${net.subnet}`;
  const gw = net.gateway ? parseIpv4(net.gateway) : cidr.base + 1;
  if (v === gw) return `${ip} is the gateway (${formatIpv4(gw)}) of network "${net.key}"`;
  return undefined;
}
