// A strict in-memory Hypervisor with the semantics the libvirt one must have (test/contract/hypervisor.contract.ts).
// VMs attach to networks of an InMemoryNetworkManager when one is given, take a lease from its DHCP range on
// start (after `delays.ip`), and count towards its vmCount while running.
import { randomUUID, randomBytes } from 'node:crypto';
import {
  AlreadyExistsError,
  CancelledError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from '../../core/errors.js';
import type { CallContext, ComponentHealth } from '../../core/ports/common.js';
import type { GuestExecRequest, GuestExecResult, Hypervisor, RunVMSpec, StopOptions, VMRecord } from '../../core/ports/hypervisor.js';
import { checkVmName } from '../../core/names.js';
import { FakeControls, type FailMatcher } from './fakeControls.js';
import type { InMemoryNetworkManager } from './InMemoryNetworkManager.js';

/** `ip` is not a call: it is the time from start until the VM's DHCP lease appears. */
export type HypervisorOp = 'run' | 'start' | 'stop' | 'restart' | 'delete' | 'get' | 'list' | 'waitForIp' | 'guestExec';

/**
 * Scripts what a guest's agent answers to guest-exec (the VM is running when it is called). Throw an
 * UnavailableError for "the agent does not answer yet". Without a script the guest has no agent.
 */
export type GuestScript = (vm: string, argv: string[], spec: RunVMSpec) => GuestExecResult | Promise<GuestExecResult>;

export interface InMemoryHypervisorOptions {
  /** VMs attach to its networks; without it networks are not checked and leases come from 192.168.122.0/24. */
  networks?: InMemoryNetworkManager;
  delays?: Partial<Record<HypervisorOp | 'ip', number>>;
  /** e.g. `{ run: 'web-1' }`, `{ start: /^db-/ }`. */
  failOn?: Partial<Record<HypervisorOp, FailMatcher>>;
  failWith?: (op: HypervisorOp, target: string) => Error;
  /** Default true: a started VM gets an address. False models a guest that never asks for DHCP. */
  assignIps?: boolean;
  guest?: GuestScript;
}

interface VmState {
  rec: VMRecord;
  spec: RunVMSpec;
  ipTimer?: NodeJS.Timeout;
  ipWaiters: Set<() => void>;
}

const nowIso = () => new Date().toISOString();

export class InMemoryHypervisor implements Hypervisor {
  readonly controls: FakeControls<HypervisorOp>;
  private readonly vms = new Map<string, VmState>();
  /** Names reserved by runs in flight, so concurrent runs of one name yield exactly one VM. */
  private readonly reserved = new Set<string>();
  private readonly networks?: InMemoryNetworkManager;
  private readonly ipDelay: () => number;
  private readonly assignIps: boolean;
  private fallbackLease = 2;
  /** Replaceable at any time (a test may make a guest healthy later). */
  guest?: GuestScript;

  constructor(opts: InMemoryHypervisorOptions = {}) {
    this.controls = new FakeControls<HypervisorOp>(
      'hypervisor',
      opts.delays ?? {},
      opts.failOn ?? {},
      opts.failWith ?? ((op, t) => new UnavailableError(`injected failure: ${op} "${t}"`)),
    );
    this.networks = opts.networks;
    this.ipDelay = () => (this.controls.delays as Record<string, number | undefined>).ip ?? 0;
    this.assignIps = opts.assignIps ?? true;
    this.guest = opts.guest;
    this.networks?.setUsageProbe((net) =>
      [...this.vms.values()].filter((v) => v.rec.status === 'running' && v.rec.networks.some((n) => n.name === net)).length);
  }

  /** Stops accepting calls, as a closed libvirt connection would. VMs keep their state. */
  shutdown(): void {
    this.controls.shutdown();
    for (const v of this.vms.values()) clearTimeout(v.ipTimer);
  }

  async health(_ctx: CallContext): Promise<ComponentHealth> {
    return this.controls.isShutdown
      ? { name: 'hypervisor', status: 'NOT_SERVING', message: 'shut down', latencyMs: 0 }
      : { name: 'hypervisor', status: 'SERVING', message: 'in-memory', latencyMs: 0, details: { vms: String(this.vms.size) } };
  }

  async run(spec: RunVMSpec, ctx: CallContext): Promise<VMRecord> {
    this.controls.guard(ctx);
    this.validate(spec);
    // Checked and reserved before the first await, so concurrent runs of one name yield one VM.
    if (this.vms.has(spec.name) || this.reserved.has(spec.name)) {
      throw new AlreadyExistsError(`VM "${spec.name}" already exists; delete it first or choose another name`);
    }
    this.reserved.add(spec.name);
    return this.controls
      .call('run', spec.name, ctx, async () => {
        const networkName = spec.networkName || 'default';
        await this.ensureNetwork(networkName, spec.activateNetwork, ctx);
        const st: VmState = {
          spec: structuredClone(spec),
          ipWaiters: new Set(),
          rec: {
            id: randomUUID(),
            name: spec.name,
            status: 'stopped',
            image: spec.image.reference,
            imageDigest: spec.image.digest,
            created: nowIso(),
            memoryMb: spec.memoryMb,
            vcpuCount: spec.vcpuCount,
            ephemeral: spec.ephemeral,
            labels: { ...spec.labels },
            ...(spec.compose ? { compose: { ...spec.compose } } : {}),
            networks: [{ name: networkName, mac: spec.macAddress ?? mac(), interfaceType: 'network', ipAddresses: [] }],
          },
        };
        this.vms.set(spec.name, st);
        if (spec.start) this.boot(st);
        if (spec.waitForIp && spec.start) await this.untilIp(st, ctx);
        return this.copy(st);
      })
      .finally(() => this.reserved.delete(spec.name));
  }

  start(vm: string, ctx: CallContext): Promise<VMRecord> {
    return this.controls.call('start', vm, ctx, async () => {
      const st = this.must(vm);
      if (st.rec.status !== 'running') {
        await this.ensureNetwork(st.rec.networks[0]!.name, false, ctx);
        this.boot(st);
      }
      return this.copy(st);
    });
  }

  stop(vm: string, _opts: StopOptions, ctx: CallContext): Promise<VMRecord> {
    return this.controls.call('stop', vm, ctx, () => {
      const st = this.must(vm);
      this.halt(st);
      const out = this.copy(st);
      if (st.rec.ephemeral) this.remove(st);
      return out;
    });
  }

  restart(vm: string, _opts: StopOptions, ctx: CallContext): Promise<VMRecord> {
    return this.controls.call('restart', vm, ctx, async () => {
      const st = this.must(vm);
      await this.ensureNetwork(st.rec.networks[0]!.name, false, ctx);
      // A restart keeps the domain (even an ephemeral one) and its lease.
      clearTimeout(st.ipTimer);
      st.rec.status = 'stopped';
      this.boot(st);
      return this.copy(st);
    });
  }

  delete(vm: string, opts: { force: boolean }, ctx: CallContext): Promise<void> {
    return this.controls.call('delete', vm, ctx, () => {
      const st = this.must(vm);
      if (st.rec.status === 'running' && !opts.force) {
        throw new FailedPreconditionError(`VM "${st.rec.name}" is running; stop it first or delete with force`);
      }
      this.halt(st);
      this.remove(st);
    });
  }

  get(vm: string, ctx: CallContext): Promise<VMRecord> {
    return this.controls.call('get', vm, ctx, () => this.copy(this.must(vm)));
  }

  list(ctx: CallContext): Promise<VMRecord[]> {
    return this.controls.call('list', '', ctx, () =>
      [...this.vms.values()].sort((a, b) => a.rec.name.localeCompare(b.rec.name)).map((v) => this.copy(v)));
  }

  waitForIp(vm: string, ctx: CallContext): Promise<string[]> {
    return this.controls.call('waitForIp', vm, ctx, async () => {
      const st = this.must(vm);
      await this.untilIp(st, ctx);
      return st.rec.networks.flatMap((n) => n.ipAddresses);
    });
  }

  guestExec(vm: string, req: GuestExecRequest, ctx: CallContext): Promise<GuestExecResult> {
    return this.controls.call('guestExec', vm, ctx, async () => {
      const st = this.must(vm);
      if (st.rec.status !== 'running') throw new FailedPreconditionError(`VM "${vm}" is not running`);
      if (!this.guest) throw new UnavailableError(`the guest agent of VM "${vm}" does not answer`);
      if (!req.argv.length) throw new InvalidArgumentError('guest exec needs a command', { field: 'argv' });
      return this.guest(vm, [...req.argv], structuredClone(st.spec));
    });
  }

  // ---- test helpers (not part of the port) ----

  /** Simulates the guest powering itself off (or crashing): no call, no log entry. */
  powerOff(vm: string, status: 'stopped' | 'crashed' = 'stopped'): void {
    const st = this.must(vm);
    this.halt(st);
    st.rec.status = status;
    if (st.rec.ephemeral) this.remove(st);
  }

  /** The spec a VM was run with (what the caller asked for). */
  specOf(vm: string): RunVMSpec {
    return structuredClone(this.must(vm).spec);
  }

  get size(): number {
    return this.vms.size;
  }

  private validate(spec: RunVMSpec): void {
    checkVmName(spec.name ?? '');
    if (!spec.image?.reference || !spec.image.baseDiskPath) {
      throw new InvalidArgumentError('image reference and base disk path are required', { field: 'image' });
    }
    if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < 16) {
      throw new InvalidArgumentError(`memory_mb must be an integer >= 16, got ${spec.memoryMb}`, { field: 'memory_mb' });
    }
    if (!Number.isInteger(spec.vcpuCount) || spec.vcpuCount < 1) {
      throw new InvalidArgumentError(`vcpu_count must be an integer >= 1, got ${spec.vcpuCount}`, { field: 'vcpu_count' });
    }
    if (!Number.isInteger(spec.diskSizeGb) || spec.diskSizeGb < 0) {
      throw new InvalidArgumentError(`disk_size_gb must be an integer >= 0, got ${spec.diskSizeGb}`, { field: 'disk_size_gb' });
    }
    if (spec.ephemeral && !spec.start) {
      throw new InvalidArgumentError('an ephemeral VM is transient and must be started when run', { field: 'start' });
    }
  }

  private async ensureNetwork(name: string, activate: boolean, ctx: CallContext): Promise<void> {
    if (!this.networks) return;
    const net = this.networks.peek(name);
    if (!net) throw new NotFoundError(`network "${name}" not found; create it first (see "vmr network ls")`);
    if (net.active) return;
    if (!activate) {
      throw new FailedPreconditionError(`network "${name}" is not active; activate it or pass activate_network`);
    }
    await this.networks.activate(name, ctx);
  }

  private boot(st: VmState): void {
    st.rec.status = 'running';
    st.rec.startedAt = nowIso();
    if (!this.assignIps) return;
    const assign = () => {
      st.ipTimer = undefined;
      if (st.rec.status !== 'running') return;
      for (const n of st.rec.networks) {
        const ip = this.networks ? this.networks.lease(n.name, n.mac) : `192.168.122.${this.fallbackLease++ % 250 + 2}`;
        n.ipAddresses = ip ? [ip] : [];
      }
      for (const w of st.ipWaiters) w();
    };
    const d = this.ipDelay();
    if (d > 0) {
      st.ipTimer = setTimeout(assign, d);
    } else assign();
  }

  private halt(st: VmState): void {
    clearTimeout(st.ipTimer);
    st.ipTimer = undefined;
    st.rec.status = 'stopped';
    delete st.rec.startedAt;
    for (const n of st.rec.networks) n.ipAddresses = [];
    for (const w of st.ipWaiters) w();
  }

  private remove(st: VmState): void {
    for (const n of st.rec.networks) this.networks?.release(n.name, n.mac);
    this.vms.delete(st.rec.name);
  }

  private untilIp(st: VmState, ctx: CallContext): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (st.rec.networks.some((n) => n.ipAddresses.length > 0)) return done(resolve);
        if (st.rec.status !== 'running') {
          return done(() => reject(new FailedPreconditionError(`VM "${st.rec.name}" is not running; it will not get an address`)));
        }
      };
      const onAbort = () => done(() => reject(new CancelledError(`waiting for an address of "${st.rec.name}" cancelled`)));
      const done = (f: () => void) => {
        st.ipWaiters.delete(check);
        ctx.signal.removeEventListener('abort', onAbort);
        f();
      };
      st.ipWaiters.add(check);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  private must(vm: string): VmState {
    const st = this.vms.get(vm) ?? [...this.vms.values()].find((v) => v.rec.id === vm);
    if (!st) throw new NotFoundError(`VM "${vm}" not found; see "vmr ls"`);
    return st;
  }

  private copy(st: VmState): VMRecord {
    return structuredClone(st.rec);
  }
}

function mac(): string {
  const b = randomBytes(3);
  return `52:54:00:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}
