// Powering a domain off (ACPI, then hard after a timeout), recording its start, and waiting for its lease.
import {
  type CallContext, CancelledError, FailedPreconditionError, hasCode, type Logger, MAX_STOP_TIMEOUT_SECONDS,
  NotImplementedError, sleep, type StopOptions, throwIfAborted,
} from '../../../plugin-api/index.js';
import {
  DomainEventType, DomainMetadataType, DomainModificationImpact, DomainShutdownFlags,
  type DomainLifecycleEvent, type DomainRef,
} from '../rpc/index.js';
import { addressesByMac } from './addresses.js';
import { CLEANUP, type Conn, type Connections, type Found } from './connections.js';
import type { Domains } from './domains.js';
import { IGNORED, ignoring } from './records.js';
import { metadataForSet, VM_XMLNS, VM_XMLNS_PREFIX, type VmMetadata } from './vmMetadata.js';

export class Power {
  constructor(
    private readonly conns: Connections,
    private readonly domains: Domains,
    private readonly log: Logger,
    private readonly defaultStopTimeoutSeconds: number,
  ) {}

  /** Graceful ACPI shutdown, then a hard stop after the timeout; immediately hard with force. */
  async shutdown(c: Conn, f: Found, opts: StopOptions, ctx: CallContext): Promise<void> {
    const opt = { signal: ctx.signal };
    if (!opts.force) {
      const type = await this.conns.domainType(c);
      const stopped = await ignoring(['FAILED_PRECONDITION', 'NOT_FOUND'], () =>
        c.client.domainShutdown(f.dom, type === 'test' ? 0 : DomainShutdownFlags.ACPI_POWER_BTN, opt))
        .then((r) => r === IGNORED);
      if (stopped) return;
      // Bounded: a timer past 2^31-1 ms fires at once, which would turn a long wait into a hard stop.
      const seconds = Math.min(MAX_STOP_TIMEOUT_SECONDS, opts.timeoutSeconds > 0 ? opts.timeoutSeconds : this.defaultStopTimeoutSeconds);
      if (await waitInactive(c, f.dom, seconds * 1000, ctx.signal)) return;
      this.log.info({ vm: f.facts.name, seconds }, 'VM did not power off after the ACPI request; stopping it hard');
    }
    await ignoring(['FAILED_PRECONDITION', 'NOT_FOUND'], () => c.client.domainDestroy(f.dom, 0, opt));
  }

  /** Records the start time in the live definition only, so it vanishes when the domain stops. */
  async markStarted(c: Conn, dom: DomainRef, meta: VmMetadata): Promise<void> {
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

  async waitForLease(c: Conn, f: Found, ctx: CallContext): Promise<string[]> {
    if ((await this.conns.domainType(c)) === 'test') {
      throw new NotImplementedError(`libvirt's test driver (${c.uri}) hands out no DHCP leases; cannot wait for an IP`);
    }
    const macs = f.facts.interfaces.map((i) => i.mac);
    for (;;) {
      throwIfAborted(ctx.signal);
      try {
        const leases = await addressesByMac(c.client, f.dom, f.facts, ctx.signal);
        const ips = macs.flatMap((m) => leases.get(m) ?? []);
        if (ips.length) return ips;
        if (!(await this.domains.isActive(c, f.dom, ctx))) {
          throw new FailedPreconditionError(`VM "${f.facts.name}" stopped before it got an IP address`);
        }
      } catch (err) {
        // A libvirtd restart does not stop the guest; keep waiting while the client reconnects.
        if (!hasCode(err, 'UNAVAILABLE')) throw err;
      }
      await sleep(500, ctx.signal, 'cancelled while waiting');
    }
  }
}

/**
 * Resolves true once the domain is off (lifecycle event, or a slow safety check for a missed one),
 * false after `ms`; rejects CancelledError when the signal fires.
 */
function waitInactive(c: Conn, dom: DomainRef, ms: number, signal: AbortSignal): Promise<boolean> {
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
        (err) => { if (hasCode(err, 'NOT_FOUND')) finish(true); },
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
