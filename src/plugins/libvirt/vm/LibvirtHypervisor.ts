// The Hypervisor port on libvirt. libvirt is the only source of truth: every record is read back
// from the domain (its XML, our <metadata>, its state) and the network's DHCP leases, so a
// restarted daemon sees exactly what is there. Nothing about VMs is cached except which ephemeral
// VM owns which directory, so that its files can go when libvirt forgets the domain.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  AlreadyExistsError,
  CancelledError,
  FailedPreconditionError,
  NotFoundError,
  NotImplementedError,
  isVmrError,
  throwIfAborted,
  type VmrError,
} from '../../../core/errors.js';
import type { CallContext, ComponentHealth, ContextInfo, Logger } from '../../../core/ports/common.js';
import { MAX_STOP_TIMEOUT_SECONDS, type GuestExecRequest, type GuestExecResult, type Issue } from '../../../plugin-api/index.js';
import { guestExec } from './guestExec.js';
import { uriPolicyViolation, type UriPolicy } from '../uriPolicy.js';
import type { ConsoleSession, Hypervisor, HypervisorEvent, LogOptions, RunVMSpec, StopOptions, VMRecord, VMStatus } from '../../../core/ports/hypervisor.js';
import {
  DomainEventId,
  DomainEventType,
  DomainMetadataType,
  DomainModificationImpact,
  DomainShutdownFlags,
  DomainState,
  DomainUndefineFlags,
  parseLibvirtUri,
  type DomainLifecycleEvent,
  type DomainRef,
  type LibvirtClient,
} from '../rpc/index.js';
import { libvirtHealth } from '../health.js';
import { resolveUri } from '../uri.js';
import { createOverlay } from './overlay.js';
import { buildDomainXml, libvirtArch, parseDomainXml, type DomainFacts, type DomainType } from './domainXml.js';
import { chooseDomainType, type DomainTypeSetting } from './domainType.js';
import { KeyedMutex } from './keyedMutex.js';
import { leasesByMac } from './leases.js';
import { addressesByMac, agentAddressesByMac } from './addresses.js';
import { openPtyConsole, readConsoleLog } from './console.js';
import { isUuid } from './names.js';
import { seedFiles, writeSeedIso } from './cloudInitSeed.js';
import { validateRunSpec } from './validateSpec.js';
import { uriSlug, VmFiles } from './vmFiles.js';
import { fileModesFor } from './filePermissions.js';
import { planSweep, type SweepPlan } from './sweep.js';
import { RUNS_IN_FLIGHT } from './runOwner.js';
import { metadataForSet, VM_XMLNS, VM_XMLNS_PREFIX, type VmMetadata } from './vmMetadata.js';

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

interface Conn {
  uri: string;
  client: LibvirtClient;
  files: VmFiles;
  domainType?: Promise<DomainType>;
  subscribed?: Promise<void>;
  /** Ephemeral domain UUID → its files directory. */
  ephemeral: Map<string, string>;
  /** Directories of runs in progress in this process (shared by all instances); never swept. */
  inFlight: Set<string>;
}

interface Found {
  dom: DomainRef;
  facts: DomainFacts;
  meta: VmMetadata;
}

// Cleanup must finish even when the caller's signal already fired.
const CLEANUP = { timeoutMs: 30_000 };

export class LibvirtHypervisor implements Hypervisor {
  private readonly conns = new Map<string, Conn>();
  private readonly listeners = new Set<(e: HypervisorEvent) => void>();
  /** UUIDs of domains seen with our metadata: only their events are forwarded. */
  private readonly owned = new Set<string>();
  private readonly locks = new KeyedMutex();
  private readonly defaultUri: string;
  private readonly defaultNetwork: string;
  private readonly log: Logger;

  constructor(private readonly opts: LibvirtHypervisorOptions) {
    this.defaultUri = opts.defaultUri ?? 'qemu:///system';
    this.defaultNetwork = opts.defaultNetwork ?? 'default';
    this.log = opts.log;
  }

  validateContext(context: ContextInfo): Issue[] {
    if (!this.opts.uriPolicy || !context.libvirtUri.trim()) return [];
    const why = uriPolicyViolation(context.libvirtUri, this.opts.uriPolicy);
    return why ? [{ path: 'context.libvirt_uri', message: why }] : [];
  }

  async run(spec: RunVMSpec, ctx: CallContext): Promise<VMRecord> {
    validateRunSpec(spec);
    const c = this.conn(ctx);
    return this.locks.run(`${c.uri}\0${spec.name}`, () => this.runLocked(c, spec, ctx), ctx.signal);
  }

  async start(vm: string, ctx: CallContext): Promise<VMRecord> {
    const c = this.conn(ctx);
    return this.withVm(c, vm, ctx, async (f) => {
      if (await this.isActive(c, f.dom, ctx)) return this.record(c, f, ctx);
      const dom = await c.client.domainCreate(f.dom, 0, { signal: ctx.signal });
      await this.markStarted(c, dom, f.meta);
      return this.record(c, { ...f, dom }, ctx);
    });
  }

  async stop(vm: string, opts: StopOptions, ctx: CallContext): Promise<VMRecord> {
    const c = this.conn(ctx);
    return this.withVm(c, vm, ctx, async (f) => {
      if (!(await this.isActive(c, f.dom, ctx))) return this.record(c, f, ctx);
      // A stopped ephemeral VM no longer exists, so its last record is taken now.
      const before = f.meta.ephemeral ? await this.record(c, f, ctx) : undefined;
      await this.shutdown(c, f, opts, ctx);
      if (before) {
        await this.forgetEphemeral(c, f.dom.uuid, f.meta.filesDir);
        return stoppedCopy(before);
      }
      return this.record(c, f, ctx);
    });
  }

  async restart(vm: string, opts: StopOptions, ctx: CallContext): Promise<VMRecord> {
    const c = this.conn(ctx);
    return this.withVm(c, vm, ctx, async (f) => {
      const active = await this.isActive(c, f.dom, ctx);
      if (f.meta.ephemeral) {
        // Stopping a transient domain ends it; a reboot keeps it (QEMU resets it once the guest
        // has powered off from the ACPI button).
        if (active) await c.client.domainReboot(f.dom, 0, { signal: ctx.signal });
        return this.record(c, f, ctx);
      }
      if (active) await this.shutdown(c, f, opts, ctx);
      const dom = await c.client.domainCreate(f.dom, 0, { signal: ctx.signal });
      await this.markStarted(c, dom, f.meta);
      return this.record(c, { ...f, dom }, ctx);
    });
  }

  async delete(vm: string, opts: { force: boolean }, ctx: CallContext): Promise<void> {
    const c = this.conn(ctx);
    await this.withVm(c, vm, ctx, async (f) => {
      if (await this.isActive(c, f.dom, ctx)) {
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
            if (isVmrError(err) && err.code === 'INVALID_ARGUMENT') return c.client.domainUndefine(f.dom, 0, CLEANUP);
            throw err;
          }));
      }
      await this.forgetEphemeral(c, f.dom.uuid, f.meta.filesDir);
    });
  }

  async get(vm: string, ctx: CallContext): Promise<VMRecord> {
    const c = this.conn(ctx);
    return this.record(c, await this.find(c, vm, ctx), ctx);
  }

  /** Where the VM lives (inspect): on every record, so records from any call compare equal. */
  private async withPlace(c: Conn, rec: VMRecord): Promise<VMRecord> {
    return { ...rec, libvirtUri: c.uri, domainType: await this.domainType(c).catch(() => undefined) };
  }

  async *logs(vm: string, opts: LogOptions, ctx: CallContext): AsyncIterable<Buffer> {
    const c = this.conn(ctx);
    const f = await this.find(c, vm, ctx);
    const file = f.facts.console.logFile;
    if (!file) throw new FailedPreconditionError(`VM "${f.facts.name}" has no console log`);
    yield* readConsoleLog(file, opts, () => this.isActive(c, f.dom, { ...ctx, signal: AbortSignal.timeout(10_000) }), ctx.signal);
  }

  async console(vm: string, ctx: CallContext): Promise<ConsoleSession> {
    const c = this.conn(ctx);
    const f = await this.find(c, vm, ctx);
    if (!(await this.isActive(c, f.dom, ctx))) {
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
    const c = this.conn(ctx);
    const opt = { signal: ctx.signal };
    const sweep = await planSweep(c.files, c.inFlight);
    const doms = await c.client.listAllDomains(0, opt);
    const ours = (await Promise.all(doms.map(async (dom) => {
      try {
        const facts = parseDomainXml(await c.client.domainGetXmlDesc(dom, 0, opt));
        if (!facts.metadata) return undefined;
        this.owned.add(dom.uuid);
        const state = (await c.client.domainGetState(dom, opt)).state;
        if (facts.metadata.ephemeral) c.ephemeral.set(dom.uuid, facts.metadata.filesDir);
        return { f: { dom, facts, meta: facts.metadata }, state };
      } catch (err) {
        // Gone between listing and reading (a transient domain that stopped).
        if (isVmrError(err) && err.code === 'NOT_FOUND') return undefined;
        throw err;
      }
    }))).filter((x) => x !== undefined);
    await this.finishSweep(c, sweep, ours.map((o) => o.f.meta.filesDir));
    const active = ours.filter((o) => o.state !== DomainState.SHUTOFF);
    const leases = await leasesByMac(c.client, active.flatMap((o) => o.f.facts.interfaces.map((i) => i.name)), ctx.signal);
    const agents = new Map(await Promise.all(active.filter((o) => o.f.facts.guestAgent)
      .map(async (o) => [o.f.dom.uuid, await agentAddressesByMac(c.client, o.f.dom, ctx.signal)] as const)));
    const place = await this.withPlace(c, {} as VMRecord);
    return ours
      .map((o) => ({ ...toRecord(o.f, o.state, new Map([...leases, ...(agents.get(o.f.dom.uuid) ?? [])])),
        libvirtUri: place.libvirtUri, domainType: place.domainType }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async guestExec(vm: string, req: GuestExecRequest, ctx: CallContext): Promise<GuestExecResult> {
    const c = this.conn(ctx);
    const f = await this.find(c, vm, ctx);
    if (!f.facts.guestAgent) throw new FailedPreconditionError(`VM "${f.facts.name}" has no guest agent channel (created before vmregistry added one)`);
    if (!(await this.isActive(c, f.dom, ctx))) throw new FailedPreconditionError(`VM "${f.facts.name}" is not running`);
    return guestExec(c.client, f.dom, req, ctx.signal);
  }

  async waitForIp(vm: string, ctx: CallContext): Promise<string[]> {
    const c = this.conn(ctx);
    return this.waitForLease(c, await this.find(c, vm, ctx), ctx);
  }

  async health(ctx: CallContext): Promise<ComponentHealth> {
    // A thunk, so that a malformed context URI is reported as NOT_SERVING rather than thrown.
    const h = await libvirtHealth('hypervisor', () => this.conn(ctx).client, ctx);
    if (h.status !== 'SERVING') return h;
    const c = this.conn(ctx);
    try {
      const domainType = await this.domainType(c);
      return { ...h, message: `${h.message}; new VMs get domain type ${domainType}`,
        details: { ...h.details, domainType, stateDir: c.files.root } };
    } catch (err) {
      return { ...h, status: 'NOT_SERVING', message: `cannot pick a domain type: ${(err as Error).message}` };
    }
  }

  // ---- run ----

  private async runLocked(c: Conn, spec: RunVMSpec, ctx: CallContext): Promise<VMRecord> {
    throwIfAborted(ctx.signal);
    const opt = { signal: ctx.signal };
    if (await this.domainExists(c, spec.name, ctx)) {
      throw new AlreadyExistsError(
        `a VM named "${spec.name}" already exists; delete it first or pick another name`, { field: 'name' });
    }
    const networkName = spec.networkName || this.defaultNetwork;
    await this.ensureNetwork(c, networkName, spec.activateNetwork, ctx);
    const type = await this.domainType(c);
    const progress = (phase: string, message: string) =>
      ctx.progress?.({ phase, item: spec.name, current: 0, total: 0, unit: 'items', message });

    const uuid = randomUUID();
    const paths = await c.files.create(spec.name, c.inFlight);
    let dom: DomainRef | undefined;
    try {
      if (spec.ephemeral) await fs.writeFile(paths.ephemeralMarker, uuid);
      if (parseLibvirtUri(c.uri).transport === 'unix') await c.files.prepareBaseDisk(spec.image.baseDiskPath);
      progress('disk', 'creating the overlay disk');
      await createOverlay({
        basePath: spec.image.baseDiskPath,
        overlayPath: paths.overlay,
        sizeGb: spec.diskSizeGb,
        signal: ctx.signal,
      });
      await c.files.secure(paths.overlay);
      progress('seed', 'writing the cloud-init seed');
      await writeSeedIso(paths.seed, seedFiles(spec.name, spec.cloudInit), ctx.signal);
      await c.files.secure(paths.seed);

      const meta: VmMetadata = {
        image: spec.image.reference,
        imageDigest: spec.image.digest,
        created: new Date().toISOString(),
        ephemeral: spec.ephemeral,
        filesDir: paths.dir,
        labels: { ...spec.labels },
        compose: spec.compose,
        defaultUser: spec.defaultUser,
        cloudInit: spec.cloudInitSummary,
      };
      const xml = (m: VmMetadata) => buildDomainXml({
        name: spec.name,
        uuid,
        type,
        memoryMb: spec.memoryMb,
        vcpuCount: spec.vcpuCount,
        arch: libvirtArch(spec.image.architecture || 'x86_64'),
        firmware: spec.image.firmware,
        overlayPath: paths.overlay,
        seedPath: paths.seed,
        consolePath: paths.console,
        networkName,
        ...(spec.macAddress ? { macAddress: spec.macAddress } : {}),
        metadata: m,
      });
      throwIfAborted(ctx.signal);
      progress('boot', spec.ephemeral ? 'creating the transient domain' : 'defining the domain');
      if (spec.ephemeral) {
        c.ephemeral.set(uuid, paths.dir);
        dom = await c.client.domainCreateXml(xml({ ...meta, startedAt: new Date().toISOString() }), 0, opt);
      } else {
        dom = await c.client.domainDefineXml(xml(meta), 0, opt);
        if (spec.start) {
          dom = await c.client.domainCreate(dom, 0, opt);
          await this.markStarted(c, dom, meta);
        }
      }
      const found = await this.read(c, dom, ctx);
      if (spec.waitForIp && spec.start) {
        progress('ip', 'waiting for a DHCP lease');
        await this.waitForLease(c, found, ctx);
      }
      return await this.record(c, found, ctx);
    } catch (err) {
      await this.undoRun(c, uuid, paths.dir, spec.ephemeral).catch((cleanupErr) =>
        this.log.error({ err: cleanupErr, vm: spec.name }, 'could not clean up after a failed run'));
      if (isVmrError(err) && err.code === 'ALREADY_EXISTS') {
        throw new AlreadyExistsError(
          `a VM named "${spec.name}" already exists; delete it first or pick another name`, { field: 'name', cause: err });
      }
      throw err;
    } finally {
      c.inFlight.delete(paths.dir);
    }
  }

  /** Removes whatever a failed run created: the domain with our UUID (if libvirt made it) and our directory. */
  private async undoRun(c: Conn, uuid: string, dir: string, ephemeral: boolean): Promise<void> {
    c.ephemeral.delete(uuid);
    try {
      // The run may have failed because libvirtd restarted; wait for it rather than leave a domain.
      await retryWhileUnavailable(CLEANUP.timeoutMs, async () => {
        try {
          const dom = await c.client.domainLookupByUuid(uuid, CLEANUP);
          await ignoring(['FAILED_PRECONDITION', 'NOT_FOUND'], () => c.client.domainDestroy(dom, 0, CLEANUP));
          if (!ephemeral) await ignoring(['NOT_FOUND'], () => c.client.domainUndefine(dom, 0, CLEANUP));
        } catch (err) {
          if (!(isVmrError(err) && err.code === 'NOT_FOUND')) throw err;
        }
      });
    } finally {
      await this.removeFiles(c, dir);
    }
  }

  private async ensureNetwork(c: Conn, name: string, activate: boolean, ctx: CallContext): Promise<void> {
    const opt = { signal: ctx.signal };
    let net;
    try {
      net = await c.client.networkLookupByName(name, opt);
    } catch (err) {
      if (isVmrError(err) && err.code === 'NOT_FOUND') {
        throw new NotFoundError(`network "${name}" does not exist; create it first or pick another network`, {
          field: 'network_name',
          cause: err,
        });
      }
      throw err;
    }
    if (await c.client.networkIsActive(net, opt)) return;
    if (!activate) {
      throw new FailedPreconditionError(
        `network "${name}" is not active; activate it first or run with activate_network`, { field: 'network_name' });
    }
    try {
      await c.client.networkCreate(net, opt);
    } catch (err) {
      // Another run may have activated it meanwhile.
      if (!(await c.client.networkIsActive(net, opt))) throw err;
    }
  }

  // ---- lifecycle helpers ----

  /** Graceful ACPI shutdown, then a hard stop after the timeout; immediately hard with force. */
  private async shutdown(c: Conn, f: Found, opts: StopOptions, ctx: CallContext): Promise<void> {
    const opt = { signal: ctx.signal };
    if (!opts.force) {
      const type = await this.domainType(c);
      const stopped = await ignoring(['FAILED_PRECONDITION', 'NOT_FOUND'], () =>
        c.client.domainShutdown(f.dom, type === 'test' ? 0 : DomainShutdownFlags.ACPI_POWER_BTN, opt))
        .then((r) => r === IGNORED);
      if (stopped) return;
      // Bounded: a timer past 2^31-1 ms fires at once, which would turn a long wait into a hard stop.
      const seconds = Math.min(MAX_STOP_TIMEOUT_SECONDS,
        opts.timeoutSeconds > 0 ? opts.timeoutSeconds : (this.opts.defaultStopTimeoutSeconds ?? 60));
      if (await this.waitInactive(c, f.dom, seconds * 1000, ctx.signal)) return;
      this.log.info({ vm: f.facts.name, seconds }, 'VM did not power off after the ACPI request; stopping it hard');
    }
    await ignoring(['FAILED_PRECONDITION', 'NOT_FOUND'], () => c.client.domainDestroy(f.dom, 0, opt));
  }

  /**
   * Resolves true once the domain is off (lifecycle event, or a slow safety check for a missed one),
   * false after `ms`; rejects CancelledError when the signal fires.
   */
  private waitInactive(c: Conn, dom: DomainRef, ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (v: boolean | Error) => {
        if (done) return;
        done = true;
        c.client.off('domainLifecycle', onEvent);
        signal.removeEventListener('abort', onAbort);
        clearInterval(iv);
        clearTimeout(to);
        if (v instanceof Error) reject(v);
        else resolve(v);
      };
      const onEvent = (e: DomainLifecycleEvent) => {
        if (e.dom.uuid === dom.uuid && (e.event === DomainEventType.STOPPED || e.event === DomainEventType.UNDEFINED)) {
          finish(true);
        }
      };
      const onAbort = () => finish(new CancelledError('stopping the VM was cancelled', { cause: signal.reason }));
      const check = () => {
        c.client.domainIsActive(dom, { timeoutMs: 5000 }).then(
          (a) => { if (!a) finish(true); },
          (err) => { if (isVmrError(err) && err.code === 'NOT_FOUND') finish(true); },
        );
      };
      c.client.on('domainLifecycle', onEvent);
      signal.addEventListener('abort', onAbort, { once: true });
      const iv = setInterval(check, 1000);
      const to = setTimeout(() => finish(false), ms);
      if (signal.aborted) onAbort();
      else check();
    });
  }

  /** Records the start time in the live definition only, so it vanishes when the domain stops. */
  private async markStarted(c: Conn, dom: DomainRef, meta: VmMetadata): Promise<void> {
    try {
      await c.client.domainSetMetadata(
        dom,
        DomainMetadataType.ELEMENT,
        metadataForSet({ ...meta, startedAt: new Date().toISOString() }),
        VM_XMLNS_PREFIX,
        VM_XMLNS,
        DomainModificationImpact.LIVE,
        CLEANUP,
      );
    } catch (err) {
      this.log.warn({ err, vm: dom.name }, 'could not record the start time; uptime will be unknown');
    }
  }

  private async waitForLease(c: Conn, f: Found, ctx: CallContext): Promise<string[]> {
    if ((await this.domainType(c)) === 'test') {
      throw new NotImplementedError(`libvirt's test driver (${c.uri}) hands out no DHCP leases; cannot wait for an IP`);
    }
    const macs = f.facts.interfaces.map((i) => i.mac);
    for (;;) {
      throwIfAborted(ctx.signal);
      try {
        const leases = await addressesByMac(c.client, f.dom, f.facts, ctx.signal);
        const ips = macs.flatMap((m) => leases.get(m) ?? []);
        if (ips.length) return ips;
        if (!(await this.isActive(c, f.dom, ctx))) {
          throw new FailedPreconditionError(`VM "${f.facts.name}" stopped before it got an IP address`);
        }
      } catch (err) {
        // A libvirtd restart does not stop the guest; keep waiting while the client reconnects.
        if (!(isVmrError(err) && err.code === 'UNAVAILABLE')) throw err;
      }
      await sleep(500, ctx.signal);
    }
  }

  // ---- lookup and records ----

  private async withVm<T>(c: Conn, vm: string, ctx: CallContext, fn: (f: Found) => Promise<T>): Promise<T> {
    // Lock by name (ids resolve to one) so lifecycle calls and runs of one VM do not interleave.
    const name = isUuid(vm) ? (await this.find(c, vm, ctx)).facts.name : vm;
    return this.locks.run(`${c.uri}\0${name}`, async () => fn(await this.find(c, name, ctx)), ctx.signal);
  }

  /** Our VM by name or UUID; NOT_FOUND for a missing domain and for one vmregistry did not create. */
  private async find(c: Conn, vm: string, ctx: CallContext): Promise<Found> {
    let dom: DomainRef;
    try {
      dom = isUuid(vm)
        ? await c.client.domainLookupByUuid(vm.toLowerCase(), { signal: ctx.signal })
        : await c.client.domainLookupByName(vm, { signal: ctx.signal });
    } catch (err) {
      if (isVmrError(err) && err.code === 'NOT_FOUND') throw notOurs(vm, err);
      throw err;
    }
    try {
      return await this.read(c, dom, ctx);
    } catch (err) {
      if (isVmrError(err) && err.code === 'NOT_FOUND') throw notOurs(vm, err);
      throw err;
    }
  }

  private async read(c: Conn, dom: DomainRef, ctx: CallContext): Promise<Found> {
    const facts = parseDomainXml(await c.client.domainGetXmlDesc(dom, 0, { signal: ctx.signal }));
    if (!facts.metadata) throw notOurs(dom.name);
    this.owned.add(dom.uuid);
    if (facts.metadata.ephemeral) c.ephemeral.set(dom.uuid, facts.metadata.filesDir);
    return { dom, facts, meta: facts.metadata };
  }

  private async record(c: Conn, f: Found, ctx: CallContext): Promise<VMRecord> {
    let state: number;
    let fresh = f;
    try {
      state = (await c.client.domainGetState(f.dom, { signal: ctx.signal })).state;
      // Re-read: the start time and MACs live in the live definition.
      fresh = await this.read(c, f.dom, ctx);
    } catch (err) {
      if (!(isVmrError(err) && err.code === 'NOT_FOUND')) throw err;
      state = DomainState.SHUTOFF;
    }
    const leases = state === DomainState.SHUTOFF
      ? new Map<string, string[]>()
      : await addressesByMac(c.client, fresh.dom, fresh.facts, ctx.signal);
    return this.withPlace(c, toRecord(fresh, state, leases));
  }

  private async isActive(c: Conn, dom: DomainRef, ctx: CallContext): Promise<boolean> {
    try {
      return await c.client.domainIsActive(dom, { signal: ctx.signal });
    } catch (err) {
      if (isVmrError(err) && err.code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  private async domainExists(c: Conn, name: string, ctx: CallContext): Promise<boolean> {
    try {
      await c.client.domainLookupByName(name, { signal: ctx.signal });
      return true;
    } catch (err) {
      if (isVmrError(err) && err.code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  // ---- connections, events, files ----

  private conn(ctx: CallContext): Conn {
    const uri = resolveUri(ctx, this.defaultUri);
    let c = this.conns.get(uri);
    if (!c) {
      const conn: Conn = {
        uri,
        client: this.opts.clientFor(uri),
        files: new VmFiles(path.join(this.opts.stateDir, uriSlug(uri)), {
          modes: () => fileModesFor(uri),
          ownRoots: this.opts.ownedDirs ?? [this.opts.stateDir],
        }),
        ephemeral: new Map(),
        inFlight: RUNS_IN_FLIGHT,
      };
      conn.client.on('domainLifecycle', (e: DomainLifecycleEvent) => this.onLifecycle(conn, e));
      // After a daemon restart, learn which ephemeral VMs own which directories before their stop
      // events arrive (they carry only the domain, whose XML is gone by then).
      conn.files.ephemeralDirs().then(
        (dirs) => { for (const e of dirs) if (!conn.ephemeral.has(e.uuid)) conn.ephemeral.set(e.uuid, e.dir); },
        () => {},
      );
      this.conns.set(uri, conn);
      c = conn;
    }
    this.subscribe(c);
    return c;
  }

  private subscribe(c: Conn): void {
    c.subscribed ??= c.client.subscribeDomainEvents(DomainEventId.LIFECYCLE).then(
      () => undefined,
      (err) => {
        c.subscribed = undefined;
        this.log.warn({ err, uri: c.uri }, 'could not subscribe to libvirt domain events; will retry on the next call');
      },
    );
  }

  /** An ephemeral (transient) domain that stops is gone from libvirt; its files go with it. */
  /** Lifecycle events of the daemon's own VMs (the core forwards them to the Events RPC). */
  onEvent(listener: (e: HypervisorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emitEvent(c: Conn, e: DomainLifecycleEvent): void {
    if (!this.listeners.size) return;
    const action = EVENT_ACTIONS[e.event] ?? `event-${e.event}`;
    const send = () => {
      for (const l of this.listeners) {
        try { l({ vm: e.dom.name, id: e.dom.uuid, action, attributes: { uri: c.uri, detail: String(e.detail) } }); } catch { /* a listener's problem */ }
      }
    };
    if (this.owned.has(e.dom.uuid)) {
      if (e.event === DomainEventType.UNDEFINED) this.owned.delete(e.dom.uuid);
      send();
      return;
    }
    if (e.event === DomainEventType.UNDEFINED) return;
    // A domain not seen yet (created by this or another daemon since): forward only if it carries our metadata.
    c.client.domainGetXmlDesc(e.dom, 0).then((xml) => {
      if (!parseDomainXml(xml).metadata) return;
      this.owned.add(e.dom.uuid);
      send();
    }, () => undefined);
  }

  private onLifecycle(c: Conn, e: DomainLifecycleEvent): void {
    this.emitEvent(c, e);
    if (e.event !== DomainEventType.STOPPED && e.event !== DomainEventType.UNDEFINED) return;
    const dir = c.ephemeral.get(e.dom.uuid);
    if (!dir || c.inFlight.has(dir)) return;
    c.ephemeral.delete(e.dom.uuid);
    this.removeFiles(c, dir).catch((err) =>
      this.log.warn({ err, vm: e.dom.name, dir }, 'could not remove the files of a stopped ephemeral VM'));
  }

  private async forgetEphemeral(c: Conn, uuid: string, dir: string): Promise<void> {
    c.ephemeral.delete(uuid);
    await this.removeFiles(c, dir);
  }

  /** Removes VM directories no domain owns (see sweep.ts); `owned` are the filesDirs of every domain listed after the plan. */
  private async finishSweep(c: Conn, plan: SweepPlan, owned: string[]): Promise<void> {
    for (const dir of await plan.finish(owned)) {
      for (const [uuid, d] of c.ephemeral) if (d === dir) c.ephemeral.delete(uuid);
      this.log.info({ dir, uri: c.uri }, 'removed the files of a VM no domain owns (an interrupted run or a VM gone while no daemon watched)');
    }
  }

  /**
   * Sweeps the default URI's VM directories once libvirtd answers (daemon start-up): a run cut by a
   * crash leaves files no domain owns. Later sweeps ride on every list (ListVMs, GC).
   */
  async sweepAtStart(ctx: CallContext): Promise<void> {
    try {
      const c = this.conn(ctx);
      await c.client.ready({ signal: ctx.signal });
      await this.list(ctx);
    } catch (err) {
      this.log.warn({ err }, 'could not sweep leftover VM files at start-up; the next VM listing will');
    }
  }

  private async removeFiles(c: Conn, dir: string): Promise<void> {
    if (!c.files.owns(dir)) {
      this.log.warn({ dir, stateDir: c.files.root }, 'not removing VM files outside the state directory');
      return;
    }
    await c.files.remove(dir);
  }

  private domainType(c: Conn): Promise<DomainType> {
    c.domainType ??= (async () => chooseDomainType({
      setting: this.opts.domainType ?? 'auto',
      driverType: await c.client.getType(),
      local: parseLibvirtUri(c.uri).transport === 'unix',
      capabilitiesHaveKvm: async () => /<domain\s+type=['"]kvm['"]/.test(await c.client.getCapabilities()),
    }))();
    return c.domainType.catch((err) => {
      c.domainType = undefined;
      throw err;
    });
  }
}

const EVENT_ACTIONS: Record<number, string> = {
  [DomainEventType.DEFINED]: 'defined',
  [DomainEventType.UNDEFINED]: 'undefined',
  [DomainEventType.STARTED]: 'started',
  [DomainEventType.SUSPENDED]: 'paused',
  [DomainEventType.RESUMED]: 'resumed',
  [DomainEventType.STOPPED]: 'stopped',
  [DomainEventType.SHUTDOWN]: 'shutdown',
  [DomainEventType.PMSUSPENDED]: 'suspended',
  [DomainEventType.CRASHED]: 'crashed',
};

function toRecord(f: Found, state: number, leases: Map<string, string[]>): VMRecord {
  const status = statusOf(state);
  const active = state !== DomainState.SHUTOFF;
  return {
    id: f.dom.uuid,
    name: f.facts.name,
    status,
    image: f.meta.image,
    imageDigest: f.meta.imageDigest,
    created: f.meta.created,
    startedAt: active ? f.meta.startedAt : undefined,
    memoryMb: f.facts.memoryMb,
    vcpuCount: f.facts.vcpuCount,
    ephemeral: f.meta.ephemeral,
    labels: f.meta.labels,
    compose: f.meta.compose,
    defaultUser: f.meta.defaultUser,
    cloudInit: f.meta.cloudInit,
    disks: f.facts.disks,
    consoleLog: f.facts.console.logFile,
    networks: f.facts.interfaces.map((i) => ({ ...i, ipAddresses: active ? (leases.get(i.mac) ?? []) : [] })),
  };
}

function statusOf(state: number): VMStatus {
  switch (state) {
    case DomainState.RUNNING:
    case DomainState.BLOCKED:
      return 'running';
    case DomainState.PAUSED:
      return 'paused';
    case DomainState.SHUTDOWN:
      return 'shutting-down';
    case DomainState.SHUTOFF:
      return 'stopped';
    case DomainState.CRASHED:
      return 'crashed';
    case DomainState.PMSUSPENDED:
      return 'suspended';
    default:
      return 'unknown';
  }
}

function stoppedCopy(r: VMRecord): VMRecord {
  return { ...r, status: 'stopped', startedAt: undefined, networks: r.networks.map((n) => ({ ...n, ipAddresses: [] })) };
}

function notOurs(vm: string, cause?: unknown): VmrError {
  return new NotFoundError(`no VM "${vm}" (vmregistry lists only the VMs it created)`, { field: 'vm', cause });
}

const IGNORED = Symbol('ignored');

/** Runs fn, turning errors with one of `codes` into IGNORED (e.g. "domain is not running" on destroy). */
async function ignoring<T>(codes: string[], fn: () => Promise<T>): Promise<T | typeof IGNORED> {
  try {
    return await fn();
  } catch (err) {
    if (isVmrError(err) && codes.includes(err.code)) return IGNORED;
    throw err;
  }
}

/** Retries fn while libvirtd is unreachable (UNAVAILABLE), for at most `ms`. */
async function retryWhileUnavailable<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(isVmrError(err) && err.code === 'UNAVAILABLE') || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(new CancelledError('cancelled while waiting', { cause: signal.reason }));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
