// A strict in-memory NetworkManager with the semantics the libvirt one must have (test/contract/network.contract.ts).
import { randomUUID } from 'node:crypto';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from '../../core/errors.js';
import type { CallContext, ComponentHealth } from '../../core/ports/common.js';
import type { NetworkHosts, NetworkInfo, NetworkManager, NetworkMode, NetworkSpec } from '../../core/ports/network.js';
import { planHostsChange } from '../../core/net/hostEntries.js';
import { contains, formatIpv4, type Ipv4Net, overlaps, parseCidr, parseIpv4 } from '../../core/net/ipv4.js';
import { checkNetworkName } from '../../core/names.js';
import { FakeControls, type FailMatcher } from './fakeControls.js';

export type NetworkOp = 'list' | 'get' | 'create' | 'activate' | 'deactivate' | 'delete' | 'hosts' | 'updateHosts';

export interface InMemoryNetworkManagerOptions {
  /** Create libvirt's usual `default` network (nat, 192.168.122.0/24, active). Default true. */
  withDefault?: boolean;
  /** Host bridges that bridge-mode networks may attach to. Default `['br0']`. */
  hostBridges?: string[];
  /** Subnets of host interfaces; a network overlapping one is refused. */
  hostSubnets?: string[];
  delays?: Partial<Record<NetworkOp, number>>;
  failOn?: Partial<Record<NetworkOp, FailMatcher>>;
  failWith?: (op: NetworkOp, target: string) => Error;
}

interface NetState {
  info: NetworkInfo;
  net?: Ipv4Net;
  /** Leases: VM key → address. */
  leases: Map<string, number>;
  /** DNS host entries and DHCP reservations (updateHosts). */
  hosts: NetworkHosts;
}

const MODES: readonly NetworkMode[] = ['nat', 'isolated', 'routed', 'bridge'];

export class InMemoryNetworkManager implements NetworkManager {
  readonly controls: FakeControls<NetworkOp>;
  private readonly nets = new Map<string, NetState>();
  private readonly hostBridges: Set<string>;
  private readonly hostNets: Array<{ cidr: string; net: Ipv4Net }>;
  private usage: (network: string) => number = () => 0;
  private bridgeSeq = 0;

  constructor(opts: InMemoryNetworkManagerOptions = {}) {
    this.controls = new FakeControls<NetworkOp>(
      'network manager',
      opts.delays ?? {},
      opts.failOn ?? {},
      opts.failWith ?? ((op, t) => new UnavailableError(`injected failure: network ${op} "${t}"`)),
    );
    this.hostBridges = new Set(opts.hostBridges ?? ['br0']);
    this.hostNets = (opts.hostSubnets ?? []).map((cidr) => {
      const net = parseCidr(cidr);
      if (typeof net === 'string') throw new Error(`hostSubnets: ${net}`);
      return { cidr, net };
    });
    if (opts.withDefault ?? true) {
      this.insert({
        name: 'default', mode: 'nat', subnet: '192.168.122.0/24', gateway: '', dhcp: true, dhcpStart: '', dhcpEnd: '',
        bridgeName: 'virbr0', forwardDevice: '', domain: '', autostart: true, activate: true,
      });
    }
  }

  /** Stops accepting calls, as a closed libvirt connection would. */
  shutdown(): void {
    this.controls.shutdown();
  }

  async health(_ctx: CallContext): Promise<ComponentHealth> {
    return this.controls.isShutdown
      ? { name: 'networks', status: 'NOT_SERVING', message: 'shut down', latencyMs: 0 }
      : { name: 'networks', status: 'SERVING', message: 'in-memory', latencyMs: 0 };
  }

  list(ctx: CallContext): Promise<NetworkInfo[]> {
    return this.controls.call('list', '', ctx, () =>
      [...this.nets.keys()].sort().map((n) => this.snapshot(n)));
  }

  get(name: string, ctx: CallContext): Promise<NetworkInfo> {
    return this.controls.call('get', name, ctx, () => this.snapshot(this.must(name).info.name));
  }

  async create(spec: NetworkSpec, ctx: CallContext): Promise<NetworkInfo> {
    this.controls.guard(ctx);
    // Validate and reserve the name before any await, so concurrent creates of one name race fairly.
    const prepared = this.prepare(spec);
    this.nets.set(spec.name, prepared);
    return this.controls
      .call('create', spec.name, ctx, () => this.snapshot(spec.name))
      .catch((err) => {
        if (this.nets.get(spec.name) === prepared) this.nets.delete(spec.name);
        throw err;
      });
  }

  activate(name: string, ctx: CallContext): Promise<NetworkInfo> {
    return this.controls.call('activate', name, ctx, () => {
      const st = this.must(name);
      st.info.active = true;
      return this.snapshot(name);
    });
  }

  deactivate(name: string, opts: { force: boolean }, ctx: CallContext): Promise<NetworkInfo> {
    return this.controls.call('deactivate', name, ctx, () => {
      const st = this.must(name);
      this.refuseInUse(name, opts.force, 'deactivate');
      st.info.active = false;
      st.leases.clear();
      return this.snapshot(name);
    });
  }

  delete(name: string, opts: { force: boolean }, ctx: CallContext): Promise<void> {
    return this.controls.call('delete', name, ctx, () => {
      this.must(name);
      this.refuseInUse(name, opts.force, 'delete');
      this.nets.delete(name);
    });
  }

  hosts(name: string, ctx: CallContext): Promise<NetworkHosts> {
    return this.controls.call('hosts', name, ctx, () => structuredClone(this.must(name).hosts));
  }

  updateHosts(name: string, change: { remove: NetworkHosts; add: NetworkHosts }, ctx: CallContext): Promise<NetworkHosts> {
    return this.controls.call('updateHosts', name, ctx, () => {
      const st = this.must(name);
      if (!st.net) throw new FailedPreconditionError(`network "${name}" has no subnet of its own (bridge mode); it has no DNS or DHCP to update`);
      st.hosts = planHostsChange(st.hosts, change, st.info.subnet).next;
      return structuredClone(st.hosts);
    });
  }

  // ---- hooks for InMemoryHypervisor (not part of the port) ----

  /** The hypervisor fake reports how many running VMs use a network (vmCount, in-use refusals). */
  setUsageProbe(probe: (network: string) => number): void {
    this.usage = probe;
  }

  /** Synchronous lookup without a CallContext; undefined when absent. */
  peek(name: string): NetworkInfo | undefined {
    return this.nets.has(name) ? this.snapshot(name) : undefined;
  }

  /** A DHCP lease from the network's range for `vmKey` (the same address again while held); undefined without DHCP. */
  lease(name: string, vmKey: string): string | undefined {
    const st = this.nets.get(name);
    if (!st?.net || !st.info.active || !st.info.dhcpStart) return undefined;
    const held = st.leases.get(vmKey);
    if (held !== undefined) return formatIpv4(held);
    const used = new Set(st.leases.values());
    // A reservation for the VM's MAC wins, as with dnsmasq (vmKey is the MAC when the hypervisor knows one).
    const reserved = st.hosts.dhcp.find((h) => h.mac === vmKey.toLowerCase());
    if (reserved) {
      st.leases.set(vmKey, parseIpv4(reserved.ip)!);
      return reserved.ip;
    }
    for (const h of st.hosts.dhcp) used.add(parseIpv4(h.ip)!);
    for (let ip = parseIpv4(st.info.dhcpStart)!; ip <= parseIpv4(st.info.dhcpEnd)!; ip++) {
      if (!used.has(ip)) {
        st.leases.set(vmKey, ip);
        return formatIpv4(ip);
      }
    }
    return undefined;
  }

  release(name: string, vmKey: string): void {
    this.nets.get(name)?.leases.delete(vmKey);
  }

  private must(name: string): NetState {
    const st = this.nets.get(name);
    if (!st) throw new NotFoundError(`network "${name}" not found; see "vmr network ls"`);
    return st;
  }

  private refuseInUse(name: string, force: boolean, what: string): void {
    const n = this.usage(name);
    if (n > 0 && !force) {
      throw new FailedPreconditionError(
        `network "${name}" is in use by ${n} running VM(s); stop them first or ${what} with force`);
    }
  }

  private snapshot(name: string): NetworkInfo {
    const st = this.nets.get(name)!;
    return structuredClone({ ...st.info, vmCount: this.usage(name) });
  }

  private prepare(spec: NetworkSpec): NetState {
    checkNetworkName(spec.name ?? '');
    if (!MODES.includes(spec.mode)) {
      throw new InvalidArgumentError(`network mode "${spec.mode}" is invalid: use one of ${MODES.join(', ')}`, { field: 'mode' });
    }
    if (this.nets.has(spec.name)) throw new AlreadyExistsError(`network "${spec.name}" already exists`);
    return this.insert(spec);
  }

  private insert(spec: NetworkSpec): NetState {
    let net: Ipv4Net | undefined;
    let gateway = '';
    let dhcpStart = '';
    let dhcpEnd = '';
    if (spec.mode === 'bridge') {
      if (!spec.bridgeName) {
        throw new InvalidArgumentError('bridge mode needs bridge_name: the host bridge to attach to', { field: 'bridge_name' });
      }
      if (!this.hostBridges.has(spec.bridgeName)) {
        throw new FailedPreconditionError(`host bridge "${spec.bridgeName}" does not exist; create it on the host first`);
      }
    } else {
      if (!spec.subnet) throw new InvalidArgumentError(`${spec.mode} networks need a subnet (CIDR, e.g. 10.42.0.0/24)`, { field: 'subnet' });
      const parsed = parseCidr(spec.subnet);
      if (typeof parsed === 'string') throw new InvalidArgumentError(`subnet: ${parsed}`, { field: 'subnet' });
      net = parsed;
      for (const [other, st] of this.nets) {
        if (st.net && overlaps(st.net, net)) {
          throw new FailedPreconditionError(
            `subnet ${spec.subnet} overlaps network "${other}" (${st.info.subnet}); choose a free subnet`);
        }
      }
      for (const h of this.hostNets) {
        if (overlaps(h.net, net)) {
          throw new FailedPreconditionError(`subnet ${spec.subnet} overlaps a host interface (${h.cidr}); choose a free subnet`);
        }
      }
      gateway = spec.gateway || formatIpv4(net.base + 1);
      const gw = parseIpv4(gateway);
      if (gw === undefined || !contains(net, gw) || gw === net.base || gw === net.base + net.size - 1) {
        throw new InvalidArgumentError(`gateway ${gateway} is not a host address in ${spec.subnet}`, { field: 'gateway' });
      }
      if (spec.dhcp) {
        dhcpStart = spec.dhcpStart || formatIpv4(net.base + net.size / 2);
        dhcpEnd = spec.dhcpEnd || formatIpv4(net.base + net.size - 2);
        const s = parseIpv4(dhcpStart);
        const e = parseIpv4(dhcpEnd);
        if (s === undefined || e === undefined || !contains(net, s) || !contains(net, e) || s > e) {
          throw new InvalidArgumentError(`DHCP range ${dhcpStart}-${dhcpEnd} is not an ordered range inside ${spec.subnet}`,
            { field: 'dhcp_start' });
        }
      }
    }
    const st: NetState = {
      net,
      leases: new Map(),
      hosts: { dns: [], dhcp: [] },
      info: {
        name: spec.name,
        uuid: randomUUID(),
        active: spec.activate,
        persistent: true,
        autostart: spec.autostart,
        mode: spec.mode,
        bridge: spec.bridgeName || `virbr${++this.bridgeSeq}`,
        subnet: spec.mode === 'bridge' ? '' : spec.subnet,
        gateway,
        dhcpStart,
        dhcpEnd,
        forwardDevice: spec.forwardDevice,
        domain: spec.domain,
        vmCount: 0,
        labels: { ...(spec.labels ?? {}) },
      },
    };
    this.nets.set(spec.name, st);
    return st;
  }
}
