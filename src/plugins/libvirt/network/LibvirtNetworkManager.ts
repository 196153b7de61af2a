// The networks port on libvirt: NetworkInfo from the network XML, validation before libvirt sees
// a request, and refusal to pull a network out from under running VMs.
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  isVmrError,
  throwIfAborted,
} from '../../../core/errors.js';
import type { CallContext, ComponentHealth } from '../../../core/ports/common.js';
import type { NetworkHosts, NetworkInfo, NetworkManager, NetworkMode, NetworkSpec } from '../../../core/ports/network.js';
import type { LibvirtClient, LibvirtConnectionManager, NetworkRef } from '../rpc/index.js';
import { checkNetworkName } from '../../../plugin-api/index.js';
import { libvirtHealth } from '../health.js';
import { resolveUri } from '../uri.js';
import { systemHostNetwork, type HostNetwork } from './hostNetwork.js';
import {
  broadcastOf,
  contains,
  formatCidr,
  formatIpv4,
  overlaps,
  parseCidr,
  parseIpv4,
  cidrOf,
  type Cidr,
} from './ipv4.js';
import { buildNetworkXml, parseNetworkXml, type ResolvedNetworkSpec } from './networkXml.js';
import { domainsOn, runningDomainNetworkUse } from './vmUsage.js';
import { readHosts, updateHosts } from './networkHosts.js';
import { KeyedMutex } from '../vm/keyedMutex.js';

const MODES: readonly NetworkMode[] = ['nat', 'isolated', 'routed', 'bridge'];
const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const DNS_RE = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface LibvirtNetworkManagerDeps {
  connections: LibvirtConnectionManager;
  /** Used when the call's context has no libvirt URI. */
  defaultUri: string;
  host?: HostNetwork;
}

export class LibvirtNetworkManager implements NetworkManager {
  private readonly host: HostNetwork;
  /** Per-URI tail of the create queue: validation reads the current networks, so creates take turns. */
  private readonly createQueue = new Map<string, Promise<unknown>>();
  /** Host updates read, check, then change: one at a time per network. */
  private readonly hostsMutex = new KeyedMutex();

  constructor(private readonly deps: LibvirtNetworkManagerDeps) {
    this.host = deps.host ?? systemHostNetwork;
  }

  private client(ctx: CallContext): LibvirtClient {
    return this.deps.connections.get(resolveUri(ctx, this.deps.defaultUri));
  }

  async list(ctx: CallContext): Promise<NetworkInfo[]> {
    const c = this.client(ctx);
    const opts = { signal: ctx.signal };
    const [nets, use] = await Promise.all([c.listAllNetworks(0, opts), runningDomainNetworkUse(c, opts)]);
    const infos = await Promise.all(nets.map((n) => this.info(c, n, ctx, use).catch((err) => {
      // Undefined between the listing and the lookup: it is simply gone.
      if (isVmrError(err) && err.code === 'NOT_FOUND') return undefined;
      throw err;
    })));
    return infos.filter((i): i is NetworkInfo => i !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string, ctx: CallContext): Promise<NetworkInfo> {
    const c = this.client(ctx);
    const net = await c.networkLookupByName(name, { signal: ctx.signal });
    return this.info(c, net, ctx);
  }

  async create(spec: NetworkSpec, ctx: CallContext): Promise<NetworkInfo> {
    const uri = resolveUri(ctx, this.deps.defaultUri);
    // Defining an existing name silently redefines it in libvirt, and two overlapping subnets can
    // both pass validation if checked at once: serialise creates per URI.
    const prev = this.createQueue.get(uri) ?? Promise.resolve();
    const mine = prev.catch(() => undefined).then(() => this.createNow(spec, ctx));
    const tail = mine.catch(() => undefined);
    this.createQueue.set(uri, tail);
    try {
      return await mine;
    } finally {
      if (this.createQueue.get(uri) === tail) this.createQueue.delete(uri);
    }
  }

  private async createNow(spec: NetworkSpec, ctx: CallContext): Promise<NetworkInfo> {
    throwIfAborted(ctx.signal);
    const c = this.client(ctx);
    const opts = { signal: ctx.signal };
    const resolved = await this.validate(spec, c, ctx);
    const xml = buildNetworkXml(resolved);
    throwIfAborted(ctx.signal);
    const net = await c.networkDefineXml(xml, opts);
    try {
      if (spec.autostart) await c.networkSetAutostart(net, true, opts);
      if (spec.activate) await c.networkCreate(net, opts);
    } catch (err) {
      // Leave nothing half-made: a defined-but-broken network would block the name.
      await c.networkUndefine(net).catch(() => undefined);
      throw err;
    }
    ctx.log.info({ network: spec.name, mode: spec.mode, subnet: resolved.gateway ? `${resolved.gateway}/${resolved.prefix}` : '' }, 'network created');
    return this.info(c, net, ctx);
  }

  async activate(name: string, ctx: CallContext): Promise<NetworkInfo> {
    const c = this.client(ctx);
    const opts = { signal: ctx.signal };
    const net = await c.networkLookupByName(name, opts);
    if (!(await c.networkIsActive(net, opts))) await c.networkCreate(net, opts);
    return this.info(c, net, ctx);
  }

  async deactivate(name: string, o: { force: boolean }, ctx: CallContext): Promise<NetworkInfo> {
    const c = this.client(ctx);
    const opts = { signal: ctx.signal };
    const net = await c.networkLookupByName(name, opts);
    if (await c.networkIsActive(net, opts)) {
      await this.refuseIfInUse(c, net, o.force, 'deactivate', ctx);
      await c.networkDestroy(net, opts);
    }
    return this.info(c, net, ctx);
  }

  async delete(name: string, o: { force: boolean }, ctx: CallContext): Promise<void> {
    const c = this.client(ctx);
    const opts = { signal: ctx.signal };
    const net = await c.networkLookupByName(name, opts);
    const active = await c.networkIsActive(net, opts);
    if (active) {
      await this.refuseIfInUse(c, net, o.force, 'delete', ctx);
      await c.networkDestroy(net, opts);
    }
    // A transient network is gone once destroyed; only persistent ones need undefining.
    if (!active || (await c.networkIsPersistent(net, opts).catch((err) => {
      if (isVmrError(err) && err.code === 'NOT_FOUND') return false;
      throw err;
    }))) {
      await c.networkUndefine(net, opts);
    }
    ctx.log.info({ network: name }, 'network deleted');
  }

  hosts(name: string, ctx: CallContext): Promise<NetworkHosts> {
    return readHosts(this.client(ctx), name, ctx);
  }

  updateHosts(name: string, change: { remove: NetworkHosts; add: NetworkHosts }, ctx: CallContext): Promise<NetworkHosts> {
    const uri = resolveUri(ctx, this.deps.defaultUri);
    return this.hostsMutex.run(`${uri}\0${name}`, () => updateHosts(this.client(ctx), name, change, ctx), ctx.signal);
  }

  async health(ctx: CallContext): Promise<ComponentHealth> {
    return libvirtHealth('networks', () => this.client(ctx), ctx);
  }

  private async refuseIfInUse(c: LibvirtClient, net: NetworkRef, force: boolean, verb: string, ctx: CallContext): Promise<void> {
    if (force) return;
    const opts = { signal: ctx.signal };
    const [use, bridge] = await Promise.all([
      runningDomainNetworkUse(c, opts),
      c.networkGetBridgeName(net, opts).catch(() => ''),
    ]);
    const doms = [...domainsOn(use, net.name, bridge)].sort();
    if (doms.length) {
      throw new FailedPreconditionError(
        `cannot ${verb} network "${net.name}": ${doms.length} running VM(s) use it (${doms.join(', ')}); ` +
          `stop them first or pass force`,
      );
    }
  }

  private async info(
    c: LibvirtClient,
    net: NetworkRef,
    ctx: CallContext,
    use?: Awaited<ReturnType<typeof runningDomainNetworkUse>>,
  ): Promise<NetworkInfo> {
    const opts = { signal: ctx.signal };
    const [xml, active, persistent, autostart, u] = await Promise.all([
      c.networkGetXmlDesc(net, 0, opts),
      c.networkIsActive(net, opts),
      c.networkIsPersistent(net, opts),
      c.networkGetAutostart(net, opts),
      use ?? runningDomainNetworkUse(c, opts),
    ]);
    const p = parseNetworkXml(xml);
    return {
      name: net.name,
      uuid: net.uuid,
      active,
      persistent,
      autostart,
      mode: p.mode,
      bridge: p.bridge,
      subnet: p.subnet,
      gateway: p.gateway,
      dhcpStart: p.dhcpStart,
      dhcpEnd: p.dhcpEnd,
      forwardDevice: p.forwardDevice,
      domain: p.domain,
      vmCount: active ? domainsOn(u, net.name, p.bridge).size : 0,
      ...(Object.keys(p.labels).length ? { labels: p.labels } : {}),
    };
  }

  /** Checks everything libvirt would otherwise reject late (or accept and regret); fills defaults. */
  private async validate(spec: NetworkSpec, c: LibvirtClient, ctx: CallContext): Promise<ResolvedNetworkSpec> {
    const name = spec.name ?? '';
    checkNetworkName(name);
    if (!MODES.includes(spec.mode)) {
      throw new InvalidArgumentError(`network mode "${spec.mode}" is not one of ${MODES.join(', ')}`, { field: 'mode' });
    }
    const bridgeName = spec.bridgeName ?? '';
    const forwardDevice = spec.forwardDevice ?? '';
    const domain = spec.domain ?? '';
    if (bridgeName && !IFNAME_RE.test(bridgeName)) {
      throw new InvalidArgumentError(`bridge name "${bridgeName}" is not a valid interface name (max 15 characters)`, { field: 'bridge_name' });
    }
    if (forwardDevice && !IFNAME_RE.test(forwardDevice)) {
      throw new InvalidArgumentError(`forward device "${forwardDevice}" is not a valid interface name`, { field: 'forward_device' });
    }
    if (domain && !DNS_RE.test(domain)) {
      throw new InvalidArgumentError(`DNS domain "${domain}" is not a valid domain name`, { field: 'domain' });
    }
    const labels = spec.labels ?? {};

    const existing = await c.listAllNetworks(0, { signal: ctx.signal });
    if (existing.some((n) => n.name === name)) {
      throw new AlreadyExistsError(`network "${name}" already exists; pick another name or delete it first`, { field: 'name' });
    }

    if (spec.mode === 'bridge') {
      if (!bridgeName) {
        throw new InvalidArgumentError('bridge mode needs bridge_name: the existing host bridge to attach VMs to', { field: 'bridge_name' });
      }
      if (spec.subnet) {
        throw new InvalidArgumentError(
          'bridge mode takes no subnet: addresses come from the network the host bridge is on',
          { field: 'subnet' },
        );
      }
      if (!(await this.host.isBridge(bridgeName))) {
        throw new FailedPreconditionError(
          `host bridge "${bridgeName}" does not exist (no /sys/class/net/${bridgeName}/bridge); create it first ` +
            `(e.g. ip link add ${bridgeName} type bridge) or use mode nat`,
          { field: 'bridge_name' },
        );
      }
      return { name, mode: 'bridge', bridgeName, forwardDevice: '', domain: '', labels };
    }

    if (!spec.subnet) {
      throw new InvalidArgumentError(`mode ${spec.mode} needs a subnet, e.g. 10.231.5.0/24`, { field: 'subnet' });
    }
    const subnet = parseCidr(spec.subnet, 'subnet');
    if (subnet.prefix < 8 || subnet.prefix > 29) {
      throw new InvalidArgumentError(`subnet ${spec.subnet} must have a prefix between /8 and /29`, { field: 'subnet' });
    }
    const first = subnet.network + 1;
    const last = broadcastOf(subnet) - 1;
    const inHostRange = (a: number) => contains(subnet, a) && a >= first && a <= last;

    const gateway = spec.gateway ? parseIpv4(spec.gateway) : first;
    if (gateway === undefined || !inHostRange(gateway)) {
      throw new InvalidArgumentError(`gateway "${spec.gateway}" is not a host address in ${formatCidr(subnet)}`, { field: 'gateway' });
    }

    let dhcp: ResolvedNetworkSpec['dhcp'];
    if (spec.dhcp) {
      const size = last - first + 1;
      const start = spec.dhcpStart ? parseIpv4(spec.dhcpStart) : first + Math.floor(size / 2);
      const end = spec.dhcpEnd ? parseIpv4(spec.dhcpEnd) : last;
      if (start === undefined || !inHostRange(start)) {
        throw new InvalidArgumentError(`DHCP start "${spec.dhcpStart}" is not a host address in ${formatCidr(subnet)}`, { field: 'dhcp_start' });
      }
      if (end === undefined || !inHostRange(end)) {
        throw new InvalidArgumentError(`DHCP end "${spec.dhcpEnd}" is not a host address in ${formatCidr(subnet)}`, { field: 'dhcp_end' });
      }
      if (start > end) {
        throw new InvalidArgumentError(`DHCP range ${formatIpv4(start)}-${formatIpv4(end)} is reversed`, { field: 'dhcp_start' });
      }
      if (gateway >= start && gateway <= end) {
        throw new InvalidArgumentError(
          `DHCP range ${formatIpv4(start)}-${formatIpv4(end)} contains the gateway ${formatIpv4(gateway)}`,
          { field: 'dhcp_start' },
        );
      }
      dhcp = { start: formatIpv4(start), end: formatIpv4(end) };
    }

    if (forwardDevice && spec.mode === 'isolated') {
      throw new InvalidArgumentError('an isolated network has no forward device', { field: 'forward_device' });
    }
    if (forwardDevice && !(await this.host.interfaceExists(forwardDevice))) {
      throw new FailedPreconditionError(`forward device "${forwardDevice}" does not exist on the host`, { field: 'forward_device' });
    }

    await this.checkOverlap(subnet, bridgeName, existing, c, ctx);
    return {
      name,
      mode: spec.mode,
      gateway: formatIpv4(gateway),
      prefix: subnet.prefix,
      dhcp,
      bridgeName,
      forwardDevice,
      domain,
      labels,
    };
  }

  private async checkOverlap(subnet: Cidr, bridgeName: string, existing: NetworkRef[], c: LibvirtClient, ctx: CallContext): Promise<void> {
    const others = await Promise.all(existing.map(async (n) => {
      try {
        return parseNetworkXml(await c.networkGetXmlDesc(n, 0, { signal: ctx.signal }));
      } catch (err) {
        if (isVmrError(err) && err.code === 'NOT_FOUND') return undefined;
        throw err;
      }
    }));
    const clashes = others
      .filter((o) => o?.subnet && overlaps(subnet, parseCidr(o.subnet, 'subnet')))
      .map((o) => `"${o!.name}" (${o!.subnet})`);
    if (clashes.length) {
      throw new FailedPreconditionError(
        `subnet ${formatCidr(subnet)} overlaps libvirt network${clashes.length > 1 ? 's' : ''} ${clashes.join(', ')}; ` +
          'choose another subnet',
        { field: 'subnet' },
      );
    }
    const sameBridge = others.find((o) => bridgeName && o?.bridge === bridgeName);
    if (sameBridge) {
      throw new FailedPreconditionError(`bridge "${bridgeName}" is already used by libvirt network "${sameBridge.name}"`, { field: 'bridge_name' });
    }
    for (const a of await this.host.addresses()) {
      const addr = parseIpv4(a.address);
      if (addr === undefined) continue;
      const hostNet = cidrOf(addr, a.prefix);
      if (overlaps(subnet, hostNet)) {
        throw new FailedPreconditionError(
          `subnet ${formatCidr(subnet)} overlaps host interface ${a.iface} (${a.address}/${a.prefix}); choose another subnet`,
          { field: 'subnet' },
        );
      }
    }
    if (bridgeName && (await this.host.interfaceExists(bridgeName))) {
      throw new FailedPreconditionError(
        `an interface named "${bridgeName}" already exists on the host; leave bridge_name empty to let libvirt pick one`,
        { field: 'bridge_name' },
      );
    }
  }
}
