// The Hypervisor port on libvirt. libvirt is the only source of truth: every record is read back
// from the domain (its XML, our <metadata>, its state) and the network's DHCP leases, so a
// restarted daemon sees exactly what is there. Nothing about VMs is cached except which ephemeral
// VM owns which directory, so that its files can go when libvirt forgets the domain.
// The jobs live beside this file: connections.ts (one per URI), runVm.ts (RunVM), power.ts (stop,
// leases), domains.ts (lookup and records), eventForwarder.ts, ephemeralFiles.ts.
import {
  type CallContext, type ComponentHealth, type ConsoleSession, type ContextInfo, FailedPreconditionError, type GuestExecRequest, type GuestExecResult, hasCode,
  type Hypervisor, type HypervisorEvent, type Issue, type Logger, type LogOptions, type RunVMSpec, type StopOptions,
  type VMRecord,
} from '../../../plugin-api/index.js';
import { guestExec } from './guestExec.js';
import { uriPolicyViolation, type UriPolicy } from '../uriPolicy.js';
import { DomainState, DomainUndefineFlags, parseLibvirtUri, type LibvirtClient } from '../rpc/index.js';
import { libvirtHealth } from '../health.js';
import { CLEANUP, Connections, type Conn, type Found } from './connections.js';
import { parseDomainXml } from './domainXml.js';
import type { DomainTypeSetting } from './domainType.js';
import { Domains } from './domains.js';
import { EphemeralFiles } from './ephemeralFiles.js';
import { EventForwarder } from './eventForwarder.js';
import { KeyedMutex } from './keyedMutex.js';
import { leasesByMac } from './leases.js';
import { agentAddressesByMac } from './addresses.js';
import { openPtyConsole, readConsoleLog } from './console.js';
import { isUuid } from './names.js';
import { Power } from './power.js';
import { ignoring, stoppedCopy, toRecord } from './records.js';
import { VmRunner } from './runVm.js';
import { validateRunSpec } from './validateSpec.js';
import { planSweep } from './sweep.js';

export interface LibvirtHypervisorOptions {
  /** The shared, self-reconnecting client for a libvirt URI. */
  clientFor: (uri: string) => LibvirtClient;
  /** Per-VM files go under <stateDir>/<uri-slug>/. */
  stateDir: string;
  /** `auto`: kvm where the host really has it, else qemu (TCG). */
  domainType?: DomainTypeSetting;
  /** When the call's context names no URI. */
  defaultUri?: string;
  /** When a spec names no network. */
  defaultNetwork?: string;
  /** Graceful stop waits this long when the caller gives no timeout. */
  defaultStopTimeoutSeconds?: number;
  /** Directories the daemon made (its data dir): the only ones above VM files it may open to QEMU. */
  ownedDirs?: string[];
  /** What a context's libvirt URI may name (ContextCreate/Update); absent: no check (tests). */
  uriPolicy?: UriPolicy;
  log: Logger;
}

export class LibvirtHypervisor implements Hypervisor {
  private readonly conns: Connections;
  private readonly events = new EventForwarder();
  private readonly files: EphemeralFiles;
  private readonly domains: Domains;
  private readonly power: Power;
  private readonly runner: VmRunner;
  private readonly locks = new KeyedMutex();
  private readonly log: Logger;

  constructor(private readonly opts: LibvirtHypervisorOptions) {
    this.log = opts.log;
    this.files = new EphemeralFiles(opts.log);
    this.conns = new Connections({
      clientFor: opts.clientFor,
      stateDir: opts.stateDir,
      ownedDirs: opts.ownedDirs,
      defaultUri: opts.defaultUri ?? 'qemu:///system',
      domainType: opts.domainType,
      log: opts.log,
      onLifecycle: (c, e) => {
        this.events.forward(c, e);
        this.files.onLifecycle(c, e);
      },
    });
    this.domains = new Domains(this.conns, this.events);
    this.power = new Power(this.conns, this.domains, opts.log, opts.defaultStopTimeoutSeconds ?? 60);
    this.runner = new VmRunner({
      conns: this.conns, domains: this.domains, power: this.power, files: this.files, log: opts.log,
      defaultNetwork: opts.defaultNetwork ?? 'default',
    });
  }

  validateContext(context: ContextInfo): Issue[] {
    if (!this.opts.uriPolicy || !context.libvirtUri.trim()) return [];
    const why = uriPolicyViolation(context.libvirtUri, this.opts.uriPolicy);
    return why ? [{ path: 'context.libvirt_uri', message: why }] : [];
  }

  async run(spec: RunVMSpec, ctx: CallContext): Promise<VMRecord> {
    validateRunSpec(spec);
    const c = this.conns.get(ctx);
    return this.locks.run(`${c.uri}\0${spec.name}`, () => this.runner.run(c, spec, ctx), ctx.signal);
  }

  async start(vm: string, ctx: CallContext): Promise<VMRecord> {
    const c = this.conns.get(ctx);
    return this.withVm(c, vm, ctx, async (f) => {
      if (await this.domains.isActive(c, f.dom, ctx)) return this.domains.record(c, f, ctx);
      const dom = await c.client.domainCreate(f.dom, 0, { signal: ctx.signal });
      await this.power.markStarted(c, dom, f.meta);
      return this.domains.record(c, { ...f, dom }, ctx);
    });
  }

  async stop(vm: string, opts: StopOptions, ctx: CallContext): Promise<VMRecord> {
    const c = this.conns.get(ctx);
    return this.withVm(c, vm, ctx, async (f) => {
      if (!(await this.domains.isActive(c, f.dom, ctx))) return this.domains.record(c, f, ctx);
      // A stopped ephemeral VM no longer exists, so its last record is taken now.
      const before = f.meta.ephemeral ? await this.domains.record(c, f, ctx) : undefined;
      await this.power.shutdown(c, f, opts, ctx);
      if (before) {
        await this.files.forget(c, f.dom.uuid, f.meta.filesDir);
        return stoppedCopy(before);
      }
      return this.domains.record(c, f, ctx);
    });
  }

  async restart(vm: string, opts: StopOptions, ctx: CallContext): Promise<VMRecord> {
    const c = this.conns.get(ctx);
    return this.withVm(c, vm, ctx, async (f) => {
      const active = await this.domains.isActive(c, f.dom, ctx);
      if (f.meta.ephemeral) {
        // Stopping a transient domain ends it; a reboot keeps it (QEMU resets it once the guest
        // has powered off from the ACPI button).
        if (active) await c.client.domainReboot(f.dom, 0, { signal: ctx.signal });
        return this.domains.record(c, f, ctx);
      }
      if (active) await this.power.shutdown(c, f, opts, ctx);
      const dom = await c.client.domainCreate(f.dom, 0, { signal: ctx.signal });
      await this.power.markStarted(c, dom, f.meta);
      return this.domains.record(c, { ...f, dom }, ctx);
    });
  }

  async delete(vm: string, opts: { force: boolean }, ctx: CallContext): Promise<void> {
    const c = this.conns.get(ctx);
    await this.withVm(c, vm, ctx, async (f) => {
      if (await this.domains.isActive(c, f.dom, ctx)) {
        if (!opts.force) {
          throw new FailedPreconditionError(
            `VM "${f.facts.name}" is running; stop it first or delete it with force`, { field: 'vm' });
        }
        await ignoring(['FAILED_PRECONDITION', 'NOT_FOUND'], () => c.client.domainDestroy(f.dom, 0, { signal: ctx.signal }));
      }
      if (!f.meta.ephemeral) {
        await ignoring(['NOT_FOUND'], () =>
          c.client.domainUndefine(f.dom, DomainUndefineFlags.NVRAM, CLEANUP).catch((err) => {
            // Drivers without NVRAM support (the test driver) reject the flag; the domain has none then.
            if (hasCode(err, 'INVALID_ARGUMENT')) return c.client.domainUndefine(f.dom, 0, CLEANUP);
            throw err;
          }));
      }
      await this.files.forget(c, f.dom.uuid, f.meta.filesDir);
    });
  }

  async get(vm: string, ctx: CallContext): Promise<VMRecord> {
    const c = this.conns.get(ctx);
    return this.domains.record(c, await this.domains.find(c, vm, ctx), ctx);
  }

  async *logs(vm: string, opts: LogOptions, ctx: CallContext): AsyncIterable<Buffer> {
    const c = this.conns.get(ctx);
    const f = await this.domains.find(c, vm, ctx);
    const file = f.facts.console.logFile;
    if (!file) throw new FailedPreconditionError(`VM "${f.facts.name}" has no console log`);
    yield* readConsoleLog(file, opts, () => this.domains.isActive(c, f.dom, { ...ctx, signal: AbortSignal.timeout(10_000) }), ctx.signal);
  }

  async console(vm: string, ctx: CallContext): Promise<ConsoleSession> {
    const c = this.conns.get(ctx);
    const f = await this.domains.find(c, vm, ctx);
    if (!(await this.domains.isActive(c, f.dom, ctx))) {
      throw new FailedPreconditionError(`VM "${f.facts.name}" is not running; start it first ("vmr start ${f.facts.name}")`, { field: 'vm' });
    }
    if (parseLibvirtUri(c.uri).transport !== 'unix') {
      throw new FailedPreconditionError(`the console of a VM on ${c.uri} is on that host; attach with "virsh -c ${c.uri} console ${f.facts.name}"`);
    }
    if (!f.facts.console.pty) {
      throw new FailedPreconditionError(`VM "${f.facts.name}" logs its console to a file only (created before consoles were ptys); use "vmr logs"`);
    }
    return openPtyConsole(f.facts.console.pty, f.facts.name);
  }

  async list(ctx: CallContext): Promise<VMRecord[]> {
    const c = this.conns.get(ctx);
    const opt = { signal: ctx.signal };
    const sweep = await planSweep(c.files, c.inFlight);
    const doms = await c.client.listAllDomains(0, opt);
    const ours = (await Promise.all(doms.map(async (dom) => {
      try {
        const facts = parseDomainXml(await c.client.domainGetXmlDesc(dom, 0, opt));
        if (!facts.metadata) return undefined;
        const state = (await c.client.domainGetState(dom, opt)).state;
        this.domains.seen(c, dom.uuid, facts.metadata);
        return { f: { dom, facts, meta: facts.metadata }, state };
      } catch (err) {
        // Gone between listing and reading (a transient domain that stopped).
        if (hasCode(err, 'NOT_FOUND')) return undefined;
        throw err;
      }
    }))).filter((x) => x !== undefined);
    await this.files.finishSweep(c, sweep, ours.map((o) => o.f.meta.filesDir));
    const active = ours.filter((o) => o.state !== DomainState.SHUTOFF);
    const leases = await leasesByMac(c.client, active.flatMap((o) => o.f.facts.interfaces.map((i) => i.name)), ctx.signal);
    const agents = new Map(await Promise.all(active.filter((o) => o.f.facts.guestAgent)
      .map(async (o) => [o.f.dom.uuid, await agentAddressesByMac(c.client, o.f.dom, ctx.signal)] as const)));
    const place = await this.domains.withPlace(c, {} as VMRecord);
    return ours
      .map((o) => ({ ...toRecord(o.f, o.state, new Map([...leases, ...(agents.get(o.f.dom.uuid) ?? [])])),
        libvirtUri: place.libvirtUri, domainType: place.domainType }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async guestExec(vm: string, req: GuestExecRequest, ctx: CallContext): Promise<GuestExecResult> {
    const c = this.conns.get(ctx);
    const f = await this.domains.find(c, vm, ctx);
    if (!f.facts.guestAgent) throw new FailedPreconditionError(`VM "${f.facts.name}" has no guest agent channel (created before vmregistry added one)`);
    if (!(await this.domains.isActive(c, f.dom, ctx))) throw new FailedPreconditionError(`VM "${f.facts.name}" is not running`);
    return guestExec(c.client, f.dom, req, ctx.signal);
  }

  async waitForIp(vm: string, ctx: CallContext): Promise<string[]> {
    const c = this.conns.get(ctx);
    return this.power.waitForLease(c, await this.domains.find(c, vm, ctx), ctx);
  }

  async health(ctx: CallContext): Promise<ComponentHealth> {
    // A thunk, so that a malformed context URI is reported as NOT_SERVING rather than thrown.
    const h = await libvirtHealth('hypervisor', () => this.conns.get(ctx).client, ctx);
    if (h.status !== 'SERVING') return h;
    const c = this.conns.get(ctx);
    try {
      const domainType = await this.conns.domainType(c);
      return { ...h, message: `${h.message}; new VMs get domain type ${domainType}`,
        details: { ...h.details, domainType, stateDir: c.files.root } };
    } catch (err) {
      return { ...h, status: 'NOT_SERVING', message: `cannot pick a domain type: ${(err as Error).message}` };
    }
  }

  private async withVm<T>(c: Conn, vm: string, ctx: CallContext, fn: (f: Found) => Promise<T>): Promise<T> {
    // Lock by name (ids resolve to one) so lifecycle calls and runs of one VM do not interleave.
    const name = isUuid(vm) ? (await this.domains.find(c, vm, ctx)).facts.name : vm;
    return this.locks.run(`${c.uri}\0${name}`, async () => fn(await this.domains.find(c, name, ctx)), ctx.signal);
  }

  /** Lifecycle events of the daemon's own VMs (the core forwards them to the Events RPC). */
  onEvent(listener: (e: HypervisorEvent) => void): () => void {
    return this.events.listen(listener);
  }

  /**
   * Sweeps the default URI's VM directories once libvirtd answers (daemon start-up): a run cut by a
   * crash leaves files no domain owns. Later sweeps ride on every list (ListVMs, GC).
   */
  async sweepAtStart(ctx: CallContext): Promise<void> {
    try {
      const c = this.conns.get(ctx);
      await c.client.ready({ signal: ctx.signal });
      await this.list(ctx);
    } catch (err) {
      this.log.warn({ err }, 'could not sweep leftover VM files at start-up; the next VM listing will');
    }
  }
}
