// The compose runner: converges a project's networks and VMs to a VMCompose file through the ports.
// Failure policy (see README.md): a failed `up` leaves what it created for `down` (or a fixed `up`) —
// every VM and network carries the project's labels from the moment it exists, so none is orphaned.
import {
  type CallContext, CancelledError, type ComponentHealth, type ComposeRunner, type ComposeServiceStatus,
  type ComposeSource, DeadlineExceededError, FailedPreconditionError, hasCode, type Hypervisor, type ImageStore,
  InternalError, InvalidArgumentError, type Issue, isVmrError, Limiter, type Logger, type NetworkManager, NotFoundError,
  sleep, type VMRecord, VmrError, type VmService,
} from '../../plugin-api/index.js';
import { runDag } from './dag.js';
import { withDependencies } from './graph.js';
import { loadProject } from './load.js';
import {
  CONDITIONS, decodeHealthcheck, encodeDeps, encodeHealthcheck, LABEL, type Condition, type Project, type ResolvedNetwork, type ResolvedService,
} from './model.js';
import { ProjectHosts } from './projectHosts.js';
import { Readiness } from './readiness.js';
import { readProject } from './state.js';

export interface ComposeDeps {
  vms: VmService;
  hypervisor: Hypervisor;
  networks: NetworkManager;
  images?: ImageStore;
  log: Logger;
  /** VM operations in flight at once. */
  parallelism: number;
  /** Wait for a dependency's condition this long when the request gives no timeout. */
  defaultTimeoutSeconds: number;
  /** Graceful stop time on restart before a hard stop. */
  stopTimeoutSeconds: number;
  /** Poll interval of readiness checks (addresses without waitForIp, sshd, a guest agent not up yet). */
  pollMs?: number;
  /** Replaces the SSH banner check of ssh_ready (tests). */
  sshProbe?: (ip: string) => Promise<boolean>;
}

type Status = ComposeServiceStatus;

export class ComposeService implements ComposeRunner {
  private readonly ready: Readiness;
  /** DNS names and fixed addresses in the project's networks (see projectHosts.ts). */
  private readonly hosts: ProjectHosts;

  constructor(private readonly d: ComposeDeps) {
    this.ready = new Readiness({ hypervisor: d.hypervisor, pollMs: d.pollMs ?? 500, ...(d.sshProbe ? { sshProbe: d.sshProbe } : {}) });
    this.hosts = new ProjectHosts({ hypervisor: d.hypervisor, networks: d.networks, log: d.log, followTimeoutSeconds: d.defaultTimeoutSeconds });
  }

  /** Stops background work (followers adding DNS names once leases come). */
  stop(): void {
    this.hosts.stop();
  }

  async health(_ctx: CallContext): Promise<ComponentHealth> {
    return { name: 'compose', status: 'SERVING', message: 'ready', latencyMs: 0 };
  }

  async validate(src: ComposeSource, _ctx: CallContext) {
    const r = await loadProject(src, this.d.images);
    if (r.project) r.errors.push(...await this.hosts.collisions(r.project, _ctx, r.lineOf, true));
    return { valid: r.errors.length === 0, errors: r.errors, warnings: r.warnings, services: r.services, project: r.projectName };
  }

  async up(src: ComposeSource, opts: { services: string[]; forceRecreate: boolean; timeoutSeconds: number; sshAuthorizedKeys?: string[]; wait?: boolean }, ctx: CallContext) {
    const loaded = await loadProject(src, this.d.images);
    if (!loaded.project) throw invalid(loaded.errors);
    const p = loaded.project;
    const byName = new Map(p.services.map((s) => [s.name, s]));
    const wanted = opts.services ?? [];
    for (const s of wanted) {
      if (!byName.has(s)) {
        throw new NotFoundError(`service "${s}" is not in project "${p.name}"; its services are: ${[...byName.keys()].join(', ')}`, { field: 'services' });
      }
    }
    const edges = new Map(p.services.map((s) => [s.name, s.dependsOn.map((x) => x.service)]));
    const selected = wanted.length ? withDependencies(wanted, edges) : new Set(byName.keys());
    const services = p.services.filter((s) => selected.has(s.name));
    const timeoutMs = (opts.timeoutSeconds || this.d.defaultTimeoutSeconds) * 1000;
    const log = ctx.log.child({ project: p.name });

    // Refuse before creating anything when a VM name is taken by something that is not this service.
    const all = await this.d.hypervisor.list(ctx);
    const byVm = new Map(all.map((v) => [v.name, v]));
    for (const s of services) {
      for (const vm of s.vmNames) {
        const cur = byVm.get(vm);
        if (cur && (cur.compose?.project !== p.name || cur.compose.service !== s.name)) {
          throw new FailedPreconditionError(
            `VM "${vm}" already exists and does not belong to service "${s.name}" of project "${p.name}"; delete it or rename the project`,
            { field: `services.${s.name}` });
        }
      }
    }

    const netNames = new Set(services.map((s) => s.networkName));
    await this.ensureNetworks(p, wanted.length ? p.networks.filter((n) => netNames.has(n.name)) : p.networks, ctx);
    await this.hosts.reserve(p, ctx, loaded.lineOf);

    const limiter = new Limiter(this.d.parallelism);
    // One check per (service, condition), however many dependents wait on it.
    const gates = new Map<string, Promise<void>>();
    const gate = (service: string, condition: Condition, waiter: string, seconds: number) => {
      const key = `${service}\0${condition}`;
      let g = gates.get(key);
      if (!g) {
        const t = byName.get(service)!;
        g = this.ready.wait({ service, vmNames: t.vmNames, ...(t.healthcheck ? { healthcheck: t.healthcheck } : {}) }, condition, waiter, seconds * 1000 || timeoutMs, ctx);
        // Every condition past started means an address: dependents resolve it by name at once.
        if (condition !== 'started') g = g.then(() => this.hosts.sync(p.name, ctx, { project: p }));
        g.catch(() => undefined);
        gates.set(key, g);
      }
      return g;
    };
    const run = await runDag(services.map((s) => ({
      id: s.name,
      needs: s.dependsOn.map((d) => ({
        id: d.service,
        ...(d.condition === 'started' ? {} : { gate: () => gate(d.service, d.condition, `service "${s.name}" waits for it`, d.timeoutSeconds) }),
      })),
      run: () => this.converge(p.name, s, byVm, opts.forceRecreate, limiter, ctx, log, opts.sshAuthorizedKeys),
    })));
    const failures = services.filter((s) => run.failed.has(s.name)).map((s) => ({ service: s.name, error: run.failed.get(s.name) }));
    const skipped = services.filter((s) => run.skipped.has(s.name)).map((s) => s.name);

    // --wait: every service meets the strongest condition asked of it (its healthcheck when it has one).
    if (opts.wait && !failures.length) {
      const waits = await Promise.allSettled(services.map((s) => {
        const c = ownCondition(s, services);
        return gate(s.name, c, 'up --wait waits for it', opts.timeoutSeconds);
      }));
      waits.forEach((w, i) => {
        if (w.status === 'rejected') failures.push({ service: services[i]!.name, error: w.reason });
      });
    }

    if (failures.length) {
      const created = (await this.d.hypervisor.list(ctx).catch(() => [] as VMRecord[]))
        .filter((v) => v.compose?.project === p.name).map((v) => v.name);
      throw upFailed(p.name, failures, skipped, created);
    }
    const statuses = services.flatMap((s) => run.done.get(s.name) ?? []);
    await this.hosts.sync(p.name, ctx, { project: p });
    this.hosts.follow(p, statuses.filter((x) => x.action !== 'removed').map((x) => x.vmName), ctx);
    return { project: p.name, services: await this.refresh(statuses, ctx) };
  }

  async down(project: string, opts: { removeNetworks: boolean }, ctx: CallContext) {
    const st = await readProject(this.d.hypervisor, project, ctx);
    const limiter = new Limiter(this.d.parallelism);
    const out: Status[] = [];
    const failures: Array<{ service: string; error: unknown }> = [];
    for (const level of [...st.order].reverse()) {
      await Promise.all(level.flatMap((svc) => st.byService.get(svc)!.map((vm) =>
        limiter.run(async () => {
          await this.d.hypervisor.delete(vm.name, { force: true }, ctx).catch((e) => {
            if (!hasCode(e, 'NOT_FOUND')) throw e;
          });
          out.push(status(vm, 'removed', 'removed'));
        }).catch((error) => {
          failures.push({ service: `${svc} (VM ${vm.name})`, error });
        }))));
    }
    await this.hosts.sync(project, ctx, { gone: st.vms }).catch((error) => failures.push({ service: 'DNS/DHCP entries', error }));
    const removedNetworks: string[] = [];
    if (opts.removeNetworks) {
      // Networks carry the project label; for a network manager that does not report labels, fall back on
      // the project's own networks (named `<project>-…`) that its VMs were attached to.
      const usedByProject = new Set(st.vms.flatMap((v) => v.networks.map((n) => n.name)).filter((n) => n.startsWith(`${project}-`)));
      const nets = (await this.d.networks.list(ctx)).filter((n) =>
        n.labels ? n.labels[LABEL.project] === project : usedByProject.has(n.name));
      for (const n of nets) {
        try {
          await this.d.networks.delete(n.name, { force: false }, ctx);
          removedNetworks.push(n.name);
        } catch (error) {
          failures.push({ service: `network ${n.name}`, error });
        }
      }
    }
    if (failures.length) {
      throw withCode(failures[0]!.error,
        `compose down "${project}" could not remove ${failures.map((f) => f.service).join(', ')}: ${messages(failures)}; run down again once fixed`,
        failures.map((f) => ({ path: f.service, message: errMsg(f.error) })));
    }
    return { project, services: sortStatuses(out, st.order.flat()), removedNetworks };
  }

  async ps(project: string, ctx: CallContext) {
    const st = await readProject(this.d.hypervisor, project, ctx);
    const vms = st.order.flat().flatMap((s) => st.byService.get(s)!);
    const health = await Promise.all(vms.map((vm) => this.healthOf(vm, ctx)));
    return { project, services: vms.map((vm, i) => ({ ...status(vm, vm.status, ''), health: health[i]! })) };
  }

  /**
   * '' without a healthcheck or when not running. The last result of an up's wait while it is fresh
   * (so ps during `up --wait` does not run the test again), else one run of the test, bounded.
   */
  private async healthOf(vm: VMRecord, ctx: CallContext): Promise<string> {
    const h = decodeHealthcheck(vm.labels[LABEL.healthcheck]);
    if (!h || vm.status !== 'running') return '';
    const last = this.ready.health.get(vm.name);
    if (last && Date.now() - last.at < Math.max(2000 * h.intervalSeconds, 10_000)) return last.health;
    return (await this.ready.checkOnce(vm.name, h, Math.min(h.timeoutSeconds, 10) * 1000, ctx)).health;
  }

  async restart(project: string, opts: { services: string[] }, ctx: CallContext) {
    const st = await readProject(this.d.hypervisor, project, ctx);
    if (st.vms.length === 0) throw new NotFoundError(`project "${project}" has no VMs; run "vmr compose up" first`);
    const wanted = opts.services ?? [];
    for (const s of wanted) {
      if (!st.byService.has(s)) {
        throw new NotFoundError(`project "${project}" has no service "${s}"; its services are: ${[...st.byService.keys()].join(', ')}`, { field: 'services' });
      }
    }
    const selected = new Set(wanted.length ? wanted : st.byService.keys());
    const limiter = new Limiter(this.d.parallelism);
    const stop = { force: false, timeoutSeconds: this.d.stopTimeoutSeconds };
    const out: Status[] = [];
    const restarted = new Set<string>();
    for (const level of st.order) {
      const inLevel = level.filter((s) => selected.has(s));
      // A dependency restarted just now must meet its condition again before its dependents restart.
      for (const s of inLevel) {
        for (const dep of st.deps.get(s) ?? []) {
          if (restarted.has(dep.service) && dep.condition !== 'started') {
            const vms = st.byService.get(dep.service)!;
            const healthcheck = decodeHealthcheck(vms[0]?.labels[LABEL.healthcheck]);
            await this.ready.wait({ service: dep.service, vmNames: vms.map((v) => v.name), ...(healthcheck ? { healthcheck } : {}) },
              dep.condition, `service "${s}" waits for it`, (dep.timeoutSeconds || this.d.defaultTimeoutSeconds) * 1000, ctx);
          }
        }
      }
      const results = await Promise.allSettled(inLevel.flatMap((svc) => st.byService.get(svc)!.map((vm) =>
        limiter.run(async () => {
          const rec = vm.status === 'running'
            ? await this.d.hypervisor.restart(vm.name, stop, ctx)
            : await this.d.hypervisor.start(vm.name, ctx);
          out.push(status(rec, rec.status, 'restarted'));
        }).catch((e) => {
          throw withCode(e, `restarting service "${svc}" (VM ${vm.name}) failed: ${errMsg(e)}`);
        }))));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      inLevel.forEach((s) => restarted.add(s));
    }
    return { project, services: sortStatuses(out, st.order.flat()) };
  }

  // ---- up, step by step ----

  private async ensureNetworks(p: Project, nets: ResolvedNetwork[], ctx: CallContext): Promise<void> {
    for (const n of nets) {
      const cur = await this.d.networks.get(n.name, ctx).catch((e) => {
        if (hasCode(e, 'NOT_FOUND')) return undefined;
        throw e;
      });
      if (n.external) {
        if (!cur) throw new NotFoundError(`external network "${n.name}" does not exist; create it or drop external: true`, { field: `networks.${n.key}` });
        continue;
      }
      if (!cur) {
        try {
          await this.d.networks.create({
            name: n.name, mode: n.mode, subnet: n.subnet, gateway: n.gateway, dhcp: n.dhcp, dhcpStart: n.dhcpStart,
            dhcpEnd: n.dhcpEnd, bridgeName: n.bridge, forwardDevice: n.forwardDevice, domain: n.domain,
            autostart: false, activate: true,
            labels: { ...n.labels, [LABEL.project]: p.name, [LABEL.network]: n.key },
          }, ctx);
        } catch (e) {
          throw withCode(e, `creating network "${n.key}" (${n.name}) of project "${p.name}" failed: ${errMsg(e)}`, undefined, `networks.${n.key}`);
        }
        continue;
      }
      // A manager that reports no labels at all cannot tell; the name and shape checks below still apply.
      if (cur.labels !== undefined && cur.labels[LABEL.project] !== p.name) {
        throw new FailedPreconditionError(
          `network "${n.name}" exists but does not belong to project "${p.name}"; remove it, rename the network, or mark it external: true`,
          { field: `networks.${n.key}` });
      }
      if (n.mode !== 'bridge' && (cur.subnet !== n.subnet || cur.mode !== n.mode)) {
        throw new FailedPreconditionError(
          `network "${n.name}" exists as ${cur.mode} ${cur.subnet} but the file says ${n.mode} ${n.subnet}; run "vmr compose down --remove-networks" first`,
          { field: `networks.${n.key}` });
      }
      if (!cur.active) await this.d.networks.activate(n.name, ctx);
    }
  }

  private async converge(
    project: string, s: ResolvedService, byVm: Map<string, VMRecord>, force: boolean, limiter: Limiter, ctx: CallContext, log: Logger,
    sshAuthorizedKeys?: string[],
  ): Promise<Status[]> {
    const external = s.networkName && !s.networkName.startsWith(`${project}-`);
    const results = await Promise.allSettled(s.vmNames.map((vmName, i) => limiter.run(async (): Promise<Status> => {
      const cur = byVm.get(vmName);
      const run = () => this.d.vms.run({
        image: s.image, name: vmName, memoryMb: s.memoryMb, vcpuCount: s.vcpuCount, diskSizeGb: s.diskSizeGb,
        ephemeral: s.ephemeral, ...this.hosts.runOptions(s, i + 1),
        networkName: s.networkName, activateNetwork: Boolean(external),
        labels: {
          ...s.labels, [LABEL.project]: project, [LABEL.service]: s.name, [LABEL.dependsOn]: encodeDeps(s.dependsOn),
          ...encodeHealthcheck(s.healthcheck),
        },
        compose: { project, service: s.name, index: i + 1, hash: s.hash },
        waitForIp: false,
        ...(sshAuthorizedKeys?.length ? { sshAuthorizedKeys } : {}),
      }, ctx);
      if (!cur) return status(await run(), '', 'created');
      if (force || cur.compose?.hash !== s.hash) {
        log.info({ vm: vmName, from: cur.compose?.hash, to: s.hash }, 'recreating changed VM');
        await this.d.hypervisor.delete(vmName, { force: true }, ctx);
        return status(await run(), '', 'recreated');
      }
      if (cur.status !== 'running') return status(await this.d.hypervisor.start(vmName, ctx), '', 'started');
      return status(cur, '', 'unchanged');
    }).catch((e) => {
      throw withCode(e, `VM ${vmName}: ${errMsg(e)}`);
    })));
    // Replicas beyond the file's count (scaled down) go.
    const extra = [...byVm.values()].filter((v) =>
      v.compose?.project === project && v.compose.service === s.name && v.compose.index > s.vmNames.length);
    for (const v of extra) {
      await limiter.run(() => this.d.hypervisor.delete(v.name, { force: true }, ctx));
    }
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    return [
      ...results.map((r) => (r as PromiseFulfilledResult<Status>).value),
      ...extra.map((v) => status(v, 'removed', 'removed')),
    ];
  }

  /** Fresh status and addresses for the reply (run returns before a lease is seen). */
  private async refresh(statuses: Status[], ctx: CallContext): Promise<Status[]> {
    const now = new Map((await this.d.hypervisor.list(ctx)).map((v) => [v.name, v]));
    return statuses.map((s) => {
      const v = now.get(s.vmName);
      return v && s.action !== 'removed' ? { ...s, status: v.status, ipAddresses: v.networks.flatMap((n) => n.ipAddresses) } : s;
    });
  }
}

/** What `up --wait` waits for: the healthcheck if any, else the strongest condition a dependent names. */
function ownCondition(s: ResolvedService, all: ResolvedService[]): Condition {
  if (s.healthcheck) return 'service_healthy';
  const asked = all.flatMap((o) => o.dependsOn.filter((d) => d.service === s.name).map((d) => CONDITIONS.indexOf(d.condition)));
  return CONDITIONS[Math.max(0, ...asked)]!;
}

function status(vm: VMRecord, st: string, action: string): Status {
  return {
    service: vm.compose?.service ?? '',
    vmName: vm.name,
    status: st || vm.status,
    action,
    ipAddresses: st === 'removed' ? [] : vm.networks.flatMap((n) => n.ipAddresses),
    image: vm.image,
  };
}

function sortStatuses(xs: Status[], order: string[]): Status[] {
  const rank = new Map(order.map((s, i) => [s, i]));
  return xs.sort((a, b) => (rank.get(a.service) ?? 0) - (rank.get(b.service) ?? 0) || a.vmName.localeCompare(b.vmName, 'en', { numeric: true }));
}

function invalid(errors: Issue[]): VmrError {
  const first = errors[0]!;
  const where = `${first.path || '(file)'}${first.line ? ` (line ${first.line})` : ''}`;
  return new InvalidArgumentError(
    `the VMCompose file has ${errors.length} problem(s); first: ${where}: ${first.message}. Run "vmr compose validate" for all of them`,
    { issues: errors, field: first.path });
}

function upFailed(project: string, failures: Array<{ service: string; error: unknown }>, skipped: string[], created: string[]): VmrError {
  const names = failures.map((f) => `"${f.service}"`).join(', ');
  const msg = `compose up "${project}": service ${names} failed: ${messages(failures)}` +
    (skipped.length ? `; not started: ${skipped.join(', ')}` : '') +
    (created.length
      ? `; left in place: ${created.join(', ')} — fix the cause and run up again, or remove them with "vmr compose down ${project}"`
      : '');
  return withCode(failures[0]!.error, msg, failures.map((f) => ({ path: `services.${f.service}`, message: errMsg(f.error) })),
    `services.${failures[0]!.service}`);
}

const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e));
const messages = (fs: Array<{ error: unknown }>) => fs.map((f) => errMsg(f.error)).join('; ');

/** A domain error with the cause's code (INTERNAL for foreign errors) and a message that says where. */
function withCode(cause: unknown, message: string, issues?: Issue[], field?: string): VmrError {
  if (isVmrError(cause)) return new VmrError(cause.code, message, { cause, ...(issues ? { issues } : {}), ...(field ? { field } : {}) });
  return new InternalError(message, { cause, ...(issues ? { issues } : {}), ...(field ? { field } : {}) });
}
