// How the daemon decides a service meets a depends_on condition, for every VM of the service:
//   ip_assigned      an address (the hypervisor's waitForIp, else polling its record);
//   ssh_ready        an address, then port 22 answers with the "SSH-" banner (as `vmr ssh` waits);
//   cloud_init_done  `cloud-init status --wait` exits 0 (or 2: done with recoverable errors) in the guest;
//   service_healthy  the service's healthcheck passes in the guest.
// The last two run through the guest agent (Hypervisor.guestExec): the daemon holds no SSH private key
// (the client keeps it), so it has no other way in. An agent that does not answer yet is "starting",
// not a failed test: under TCG it comes up a minute or more after boot. Everything is bounded by the
// caller's timeout and signal. Last known health per VM is kept for ps (in memory: a hint, not state).
import { setTimeout as delay } from 'node:timers/promises';
import {
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  hasCode, isVmrError,
  sshBanner,
  VmrError,
} from '../../plugin-api/index.js';
import type { CallContext, Hypervisor } from '../../plugin-api/index.js';
import type { Condition, Healthcheck } from './model.js';

export type Health = 'starting' | 'healthy' | 'unhealthy';

export interface HealthState {
  health: Health;
  /** Date.now() of the last test. */
  at: number;
  /** Why, for unhealthy: the test's exit code and output. */
  detail: string;
}

export interface ReadinessDeps {
  hypervisor: Hypervisor;
  pollMs: number;
  /** Replaces the banner check (tests: fake VMs have no sshd). */
  sshProbe?: (ip: string) => Promise<boolean>;
}

/** What is waited for: the service's VMs and, for service_healthy, its test. */
export interface ReadinessTarget {
  service: string;
  vmNames: string[];
  healthcheck?: Healthcheck;
}

const SSH_PORT = 22;

export class Readiness {
  /** VM name → last health seen (by a wait or by ps). */
  readonly health = new Map<string, HealthState>();

  constructor(private readonly d: ReadinessDeps) {}

  /**
   * Resolves once every VM of `t` meets `condition`. `waiter` says who waits, for the messages
   * (`service "web" waits for it`). DEADLINE_EXCEEDED names the service and the condition.
   */
  async wait(t: ReadinessTarget, condition: Condition, waiter: string, timeoutMs: number, ctx: CallContext): Promise<void> {
    if (condition === 'started') return;
    // Not AbortSignal.timeout: its timer is unref'd, and nothing else may keep the process alive meanwhile.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout.signal]);
    const sub: CallContext = { ...ctx, signal };
    try {
      await Promise.all(t.vmNames.map((vm) => this.one(t, vm, condition, sub)));
    } catch (e) {
      if (ctx.signal.aborted) throw new CancelledError(`waiting for service "${t.service}" (${condition}) was cancelled`);
      if (timeout.signal.aborted) throw this.late(t, condition, waiter, timeoutMs);
      if (isVmrError(e)) throw new VmrError(e.code, `service "${t.service}" ${e.message}`, { cause: e });
      throw new InternalError(`service "${t.service}": ${(e as Error).message}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  /** One run of the healthcheck (ps): at most `boundMs`; an agent that does not answer is "starting". */
  async checkOnce(vm: string, h: Healthcheck, boundMs: number, ctx: CallContext): Promise<HealthState> {
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(boundMs)]);
    let state: HealthState;
    try {
      const r = await this.exec(vm, h.test, Math.min(h.timeoutSeconds, boundMs / 1000), { ...ctx, signal });
      state = r.exitCode === 0
        ? { health: 'healthy', at: Date.now(), detail: '' }
        : { health: 'unhealthy', at: Date.now(), detail: describe(h.test, r) };
    } catch (e) {
      state = { health: agentNotUp(e) || signal.aborted ? 'starting' : 'unhealthy', at: Date.now(), detail: (e as Error).message };
    }
    this.health.set(vm, state);
    return state;
  }

  private async one(t: ReadinessTarget, vm: string, condition: Condition, ctx: CallContext): Promise<void> {
    const ips = await this.address(vm, ctx);
    if (condition === 'ip_assigned') return;
    if (condition === 'ssh_ready') return this.sshd(ips, ctx);
    if (condition === 'cloud_init_done') return this.cloudInit(vm, ctx);
    if (!t.healthcheck) throw new FailedPreconditionError(`has no healthcheck, so nothing can say it is healthy`);
    return this.healthy(vm, t.healthcheck, ctx);
  }

  /** Fresh addresses (a restarted VM's old record still shows its old lease). */
  private async address(vm: string, ctx: CallContext): Promise<string[]> {
    for (;;) {
      try {
        if (this.d.hypervisor.waitForIp) return await this.d.hypervisor.waitForIp(vm, ctx);
        const rec = await this.d.hypervisor.get(vm, ctx);
        const ips = rec.networks.flatMap((n) => n.ipAddresses);
        if (ips.length) return ips;
      } catch (e) {
        // A hypervisor that is reconnecting (libvirtd restarted) is no reason to give up a long wait.
        if (!(hasCode(e, 'UNAVAILABLE')) || ctx.signal.aborted) throw e;
        ctx.log.warn({ vm, err: e.message }, 'hypervisor unavailable while waiting for an address; retrying');
      }
      await this.pause(ctx);
    }
  }

  private async sshd(ips: string[], ctx: CallContext): Promise<void> {
    const probe = this.d.sshProbe ?? ((ip: string) => sshBanner(ip, SSH_PORT, 5000));
    while (!(await probe(ips[0]!))) await this.pause(ctx);
  }

  private async cloudInit(vm: string, ctx: CallContext): Promise<void> {
    const argv = ['cloud-init', 'status', '--wait'];
    for (;;) {
      try {
        const r = await this.exec(vm, argv, 3600, ctx);
        if (r.exitCode === 0 || r.exitCode === 2) return;
        throw new FailedPreconditionError(`cloud-init finished with errors in VM ${vm}: ${describe(argv, r)}`);
      } catch (e) {
        if (!agentNotUp(e) || ctx.signal.aborted) throw e;
      }
      await this.pause(ctx);
    }
  }

  /** docker's rule: passes once; fails after `retries` consecutive failures past start_period. */
  private async healthy(vm: string, h: Healthcheck, ctx: CallContext): Promise<void> {
    const graceUntil = Date.now() + h.startPeriodSeconds * 1000;
    let failures = 0;
    for (;;) {
      let state: HealthState;
      try {
        const r = await this.exec(vm, h.test, h.timeoutSeconds, ctx);
        state = r.exitCode === 0
          ? { health: 'healthy', at: Date.now(), detail: '' }
          : { health: 'starting', at: Date.now(), detail: describe(h.test, r) };
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        if (!agentNotUp(e) && !(hasCode(e, 'DEADLINE_EXCEEDED'))) throw e;
        // A test that timed out is a failed test; an agent not up yet is not a test at all.
        state = { health: 'starting', at: Date.now(), detail: (e as Error).message };
        if (agentNotUp(e)) {
          this.health.set(vm, state);
          await this.pause(ctx);
          continue;
        }
      }
      if (state.health === 'healthy') {
        this.health.set(vm, state);
        return;
      }
      if (Date.now() >= graceUntil) failures++;
      if (failures >= h.retries) {
        this.health.set(vm, { ...state, health: 'unhealthy' });
        throw new FailedPreconditionError(`is unhealthy: VM ${vm} failed its healthcheck ${h.retries} time(s) in a row; last: ${state.detail}`);
      }
      this.health.set(vm, state);
      await delay(h.intervalSeconds * 1000, undefined, { signal: ctx.signal });
    }
  }

  private exec(vm: string, argv: string[], timeoutSeconds: number, ctx: CallContext) {
    if (!this.d.hypervisor.guestExec) {
      throw new FailedPreconditionError('cannot be checked: the hypervisor plugin cannot run commands in guests (no guest agent support)');
    }
    return this.d.hypervisor.guestExec(vm, { argv, timeoutSeconds }, ctx);
  }

  private pause(ctx: CallContext): Promise<void> {
    return delay(this.d.pollMs, undefined, { signal: ctx.signal });
  }

  private late(t: ReadinessTarget, condition: Condition, waiter: string, timeoutMs: number): VmrError {
    const s = Math.round(timeoutMs / 1000);
    const hint: Record<Condition, string> = {
      started: '',
      ip_assigned: 'check that its network has DHCP and the guest asks for a lease, or raise timeout_seconds',
      ssh_ready: 'check that the image runs sshd on port 22 and the daemon can reach the VM\'s network, or raise timeout_seconds',
      cloud_init_done: 'check that the image has cloud-init and qemu-guest-agent running ("vmr compose logs" shows the boot), or raise timeout_seconds',
      service_healthy: 'check its healthcheck and that qemu-guest-agent runs in the guest, or raise timeout_seconds',
    };
    const what = condition === 'ip_assigned' ? 'got no IP address' : `did not meet ${condition}`;
    const last = t.vmNames.map((vm) => this.health.get(vm)?.detail).find(Boolean);
    return new DeadlineExceededError(
      `service "${t.service}" ${what} within ${s} s (${waiter}: condition ${condition}); ${hint[condition]}${last ? `; last: ${last}` : ''}`);
  }
}

const agentNotUp = (e: unknown): boolean => hasCode(e, 'UNAVAILABLE');

function describe(argv: string[], r: { exitCode: number; stdout: string; stderr: string }): string {
  const out = `${r.stderr.trim() || r.stdout.trim()}`.split('\n').slice(-3).join(' | ').slice(0, 300);
  return `${argv.join(' ').slice(0, 120)} exited ${r.exitCode}${out ? `: ${out}` : ''}`;
}
