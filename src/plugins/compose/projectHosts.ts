// Names and fixed addresses of a project's VMs in its own networks' DNS and DHCP, through the networks
// port's updateHosts (libvirt: network-update, live, no restart). Entries are derived from what exists:
// a VM's address once its lease is seen (or its fixed address at once), removed when the VM is gone.
import {
  type CallContext, type CloudInit, type DhcpHost, type DnsHost, type Hypervisor, InvalidArgumentError, type Issue,
  hasCode, type Logger, metaDataWithDefaults, type NetworkHosts, type NetworkManager, type VMRecord,
} from '../../plugin-api/index.js';
import { guestHostname, isProjectEntry, projectHasNames, vmHostnames } from './hostnames.js';
import type { Project, ResolvedService } from './model.js';

export interface ProjectHostsDeps {
  hypervisor: Hypervisor;
  networks: NetworkManager;
  log: Logger;
  /** How long a background follower waits for a VM's lease. */
  followTimeoutSeconds: number;
}

const empty = (): NetworkHosts => ({ dns: [], dhcp: [] });
const serviceOf = (n: string) => n.replace(/^(.*)-\d+$/, '$1');

export class ProjectHosts {
  private readonly stopping = new AbortController();
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly d: ProjectHostsDeps) {}

  /** Extra RunRequest fields of replica `index`: its MAC and the hostname merged into its meta-data. */
  runOptions(s: ResolvedService, index: number): { macAddress?: string; cloudInit: CloudInit } {
    const hostname = guestHostname(s.name, index, s.replicas);
    const metaData = metaDataWithDefaults(s.cloudInit?.metaData ?? '', { 'local-hostname': hostname });
    return { ...(s.macAddress ? { macAddress: s.macAddress } : {}), cloudInit: { ...s.cloudInit, metaData } };
  }

  /**
   * Names of the project that an entry not of this project already holds, as validate issues. `lenient`
   * (validate): a network manager that cannot be asked now is no problem of the file (up asks again).
   */
  async collisions(p: Project, ctx: CallContext, lineOf?: (path: (string | number)[], atKey?: boolean) => number | undefined,
    lenient = false): Promise<Issue[]> {
    if (!this.d.networks.hosts || !projectHasNames(p.name)) return [];
    const issues: Issue[] = [];
    for (const net of p.networks.filter((n) => !n.external && n.mode !== 'bridge')) {
      const hosts = await this.d.networks.hosts(net.name, ctx).catch((e) => {
        if ((hasCode(e, 'NOT_FOUND')) || lenient) return empty();
        throw e;
      });
      const foreign = hosts.dns.filter((h) => !isProjectEntry(p.name, h.hostnames));
      const taken = new Map(foreign.flatMap((h) => h.hostnames.map((n) => [n.toLowerCase(), h.ip] as const)));
      const takenIps = new Set([...foreign.map((h) => h.ip), ...hosts.dhcp.filter((h) => !this.ours(p, h)).map((h) => h.ip)]);
      for (const s of p.services.filter((x) => x.networkName === net.name)) {
        const names = s.vmNames.flatMap((_, i) => vmHostnames(p.name, s.name, i + 1));
        const clash = names.find((n) => taken.has(n));
        const path = ['services', s.name];
        if (clash) {
          issues.push({ path: `services.${s.name}`, line: lineOf?.(path, true), severity: 'error',
            message: `DNS name "${clash}" already exists in network "${net.name}" (${taken.get(clash)}), not made by this project; remove that entry or rename the service` });
        }
        if (s.ipv4Address && takenIps.has(s.ipv4Address)) {
          const ipPath = ['services', s.name, 'networks', net.key, 'ipv4_address'];
          issues.push({ path: `services.${s.name}.networks.${net.key}.ipv4_address`, line: lineOf?.(ipPath), severity: 'error',
            message: `${s.ipv4Address} already has a DNS entry or DHCP reservation in network "${net.name}" not made by this project` });
        }
      }
    }
    return issues;
  }

  /** Refuses (before any VM exists) names and addresses taken by others, then reserves fixed addresses. */
  async reserve(p: Project, ctx: CallContext, lineOf?: (path: (string | number)[], atKey?: boolean) => number | undefined): Promise<void> {
    if (!this.d.networks.updateHosts) return;
    const issues = await this.collisions(p, ctx, lineOf);
    if (issues.length) {
      throw new InvalidArgumentError(`compose up "${p.name}": ${issues[0]!.message}`, { issues, field: issues[0]!.path });
    }
    await this.sync(p.name, ctx, { project: p });
  }

  /**
   * Brings each project network's entries in line with the project's VMs: entries of VMs that are gone
   * (or moved to another address) go, entries of VMs with a known address come. `vms` overrides the
   * hypervisor's list (down passes the VMs it is deleting, so their entries go).
   */
  sync(project: string, ctx: CallContext, opts: { project?: Project; gone?: VMRecord[] } = {}): Promise<void> {
    // Each sync reads then changes: one at a time per project (followers finish at any moment).
    const prev = this.chains.get(project) ?? Promise.resolve();
    const mine = prev.catch(() => undefined).then(() => this.syncNow(project, ctx, opts));
    const tail = mine.catch(() => undefined);
    this.chains.set(project, tail);
    void tail.then(() => {
      if (this.chains.get(project) === tail) this.chains.delete(project);
    });
    return mine;
  }

  private async syncNow(project: string, ctx: CallContext, opts: { project?: Project; gone?: VMRecord[] }): Promise<void> {
    const nm = this.d.networks;
    if (!nm.hosts || !nm.updateHosts) return;
    const all = (await this.d.hypervisor.list(ctx)).filter((v) => v.compose?.project === project);
    const goneNames = new Set((opts.gone ?? []).map((v) => v.name));
    const vms = all.filter((v) => !goneNames.has(v.name));
    const netNames = new Set<string>([
      ...(opts.project?.networks.filter((n) => !n.external && n.mode !== 'bridge').map((n) => n.name) ?? []),
      ...[...all, ...(opts.gone ?? [])].flatMap((v) => v.networks.map((n) => n.name)).filter((n) => n.startsWith(`${project}-`)),
    ]);
    const external = new Set(opts.project?.networks.filter((n) => n.external).map((n) => n.name) ?? []);
    const fixed = new Map((opts.project?.services ?? []).filter((s) => s.ipv4Address)
      .map((s) => [s.name, { ip: s.ipv4Address!, mac: s.macAddress!, net: s.networkName }]));
    const knownMacs = new Set([...all, ...(opts.gone ?? [])].flatMap((v) => v.networks.map((n) => n.mac)));
    for (const netName of netNames) {
      if (external.has(netName)) continue;
      const cur = await nm.hosts(netName, ctx).catch((e) => {
        if (hasCode(e, 'NOT_FOUND')) return undefined;
        throw e;
      });
      if (!cur) continue;
      const want: NetworkHosts = empty();
      const ours = cur.dns.filter((h) => isProjectEntry(project, h.hostnames));
      if (projectHasNames(project)) {
        for (const [svc, f] of fixed) {
          if (f.net === netName) want.dns.push({ ip: f.ip, hostnames: vmHostnames(project, svc, 1) });
        }
        for (const v of vms) {
          const c = v.compose!;
          if (fixed.has(c.service)) continue;
          const nic = v.networks.find((n) => n.name === netName);
          if (!nic) continue;
          const hostnames = vmHostnames(project, c.service, c.index);
          const ip = nic.ipAddresses.find((a) => !a.includes(':'))
            // No lease seen (stopped, rebooting): keep the entry it had rather than flap.
            ?? ours.find((h) => h.hostnames.includes(hostnames.at(-1)!))?.ip;
          if (ip && hostnames.length) want.dns.push({ ip, hostnames });
        }
      }
      for (const [, f] of fixed) if (f.net === netName) want.dhcp.push({ mac: f.mac, ip: f.ip });
      const same = (a: DnsHost, b: DnsHost) => a.ip === b.ip && a.hostnames.join() === b.hostnames.join();
      const sameDhcp = (a: DhcpHost, b: DhcpHost) => a.ip === b.ip && a.mac === b.mac;
      const oursDhcp = cur.dhcp.filter((h) => knownMacs.has(h.mac) || ours.some((o) => o.ip === h.ip) || want.dhcp.some((w) => w.mac === h.mac));
      const change = {
        remove: {
          dns: ours.filter((h) => !want.dns.some((w) => same(w, h))),
          dhcp: oursDhcp.filter((h) => !want.dhcp.some((w) => sameDhcp(w, h))),
        },
        add: {
          dns: want.dns.filter((w) => !ours.some((h) => same(w, h))),
          dhcp: want.dhcp.filter((w) => !cur.dhcp.some((h) => sameDhcp(w, h))),
        },
      };
      if (!change.remove.dns.length && !change.remove.dhcp.length && !change.add.dns.length && !change.add.dhcp.length) continue;
      await nm.updateHosts(netName, change, ctx);
      ctx.log.info({ project, network: netName, names: change.add.dns.map((h) => h.hostnames[0]),
        removed: change.remove.dns.map((h) => h.hostnames[0]) }, 'project DNS/DHCP entries updated');
    }
  }

  /**
   * In the background, once each VM of the project on one of its networks has a lease, adds its names
   * (up returns before guests take their leases). Bounded by followTimeoutSeconds; stopped at shutdown.
   */
  follow(p: Project, vmNames: string[], ctx: CallContext): void {
    const project = p.name;
    const wait = this.d.hypervisor.waitForIp;
    if (!wait || !this.d.networks.updateHosts || !projectHasNames(project) || !vmNames.length) return;
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.d.followTimeoutSeconds * 1000)]);
    const sub: CallContext = { ...ctx, signal };
    void Promise.allSettled(vmNames.map((n) => wait.call(this.d.hypervisor, n, sub)
      .then(() => this.sync(project, sub, { project: p }))
      .catch((e) => {
        if (!signal.aborted) this.d.log.warn({ project, vm: n, service: serviceOf(n), err: (e as Error).message }, 'could not add DNS names');
      })));
  }

  /** Stops background followers (plugin shutdown). */
  stop(): void {
    this.stopping.abort();
  }

  private ours(p: Project, h: DhcpHost): boolean {
    return p.services.some((s) => s.macAddress === h.mac);
  }
}
