// The daemon's metrics. RpcRuntime records calls and transfer bytes; VM counts, process and event-bus
// numbers are computed when Prometheus scrapes, so nothing runs between scrapes.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { inject, injectable } from 'tsyringe';
import type { ContextService } from '../contexts/ContextService.js';
import type { EventBus } from '../events/EventBus.js';
import type { Logger } from '../ports/common.js';
import type { PluginHost } from '../plugins/PluginHost.js';
import { hypervisorPort } from '../plugins/refs.js';
import { TOKENS } from '../tokens.js';
import { Counter, Gauge, Histogram, MetricRegistry } from './MetricRegistry.js';

/** Seconds; spans a cached ContextList (sub-ms) to a multi-GiB pull (minutes). */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const VM_SCRAPE_TIMEOUT_MS = 2000;

@injectable()
export class DaemonMetrics {
  readonly registry = new MetricRegistry();
  readonly rpcRequests: Counter;
  readonly rpcDuration: Histogram;
  readonly transferBytes: Counter;
  private readonly loopDelay: IntervalHistogram;
  private inflight: () => number = () => 0;

  constructor(
    @inject(TOKENS.Logger) private readonly log: Logger,
    @inject(TOKENS.Plugins) private readonly plugins: PluginHost,
    @inject(TOKENS.Contexts) private readonly contexts: ContextService,
    @inject(TOKENS.Events) private readonly events: EventBus,
  ) {
    const r = this.registry;
    this.rpcRequests = r.register(new Counter('vmregistry_rpc_requests_total', 'Completed VMService calls by method and gRPC status code.'));
    this.rpcDuration = r.register(new Histogram('vmregistry_rpc_duration_seconds', 'VMService call latency by method and gRPC status code.', RPC_BUCKETS));
    r.register(new Gauge('vmregistry_rpc_inflight', 'VMService calls in progress.', () => [[{}, this.inflight()]]));
    this.transferBytes = r.register(new Counter('vmregistry_transfer_bytes_total',
      'Bytes moved by pull, push, import and export, from their progress reports, by method and phase.'));
    r.register(new Gauge('vmregistry_vms', 'VMs the hypervisor reports, by status (computed at scrape; absent when no hypervisor is bound).', () => this.vmCounts()));
    r.register(new Gauge('vmregistry_events_published_total', 'Events published on the event bus.', () => [[{}, this.events.publishedTotal]], 'counter'));
    r.register(new Gauge('vmregistry_events_dropped_total', 'Events dropped for subscribers that read too slowly.', () => [[{}, this.events.droppedTotal]], 'counter'));
    r.register(new Gauge('vmregistry_events_subscribers', 'Open Events streams.', () => [[{}, this.events.subscriberCount]]));

    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.loopDelay.enable();
    r.register(new Gauge('process_resident_memory_bytes', 'Resident set size.', () => [[{}, process.memoryUsage.rss()]]));
    r.register(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use.', () => [[{}, process.memoryUsage().heapUsed]]));
    r.register(new Gauge('nodejs_heap_total_bytes', 'V8 heap reserved.', () => [[{}, process.memoryUsage().heapTotal]]));
    r.register(new Gauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JS (Buffers included).', () => [[{}, process.memoryUsage().external]]));
    r.register(new Gauge('process_cpu_seconds_total', 'User and system CPU time.', () => {
      const u = process.cpuUsage();
      return [[{}, (u.user + u.system) / 1e6]];
    }, 'counter'));
    r.register(new Gauge('process_start_time_seconds', 'Start time since the Unix epoch.', () => [[{}, Math.round(Date.now() / 1000 - process.uptime())]]));
    r.register(new Gauge('nodejs_eventloop_lag_seconds', 'Event-loop delay since the previous scrape (quantile 0.5, 0.99 and 1 = max).', () => {
      const h = this.loopDelay;
      const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
      const out: Array<[Record<string, string>, number]> = [
        [{ quantile: '0.5' }, s(h.percentile(50))], [{ quantile: '0.99' }, s(h.percentile(99))], [{ quantile: '1' }, s(h.max)],
      ];
      h.reset();
      return out;
    }));
  }

  /** RpcRuntime registers its in-flight count (it owns the set). */
  trackInflight(fn: () => number): void {
    this.inflight = fn;
  }

  observeRpc(method: string, code: string, seconds: number): void {
    const l = { method, code };
    this.rpcRequests.inc(l);
    this.rpcDuration.observe(l, seconds);
  }

  render(): Promise<string> {
    return this.registry.render((name, err) => this.log.warn({ err, metric: name }, 'metric collection failed; left out of this scrape'));
  }

  dispose(): void {
    this.loopDelay.disable();
  }

  private async vmCounts(): Promise<Array<[Record<string, string>, number]>> {
    const hv = this.plugins.maybe(hypervisorPort);
    if (!hv) return [];
    const signal = AbortSignal.timeout(VM_SCRAPE_TIMEOUT_MS);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hypervisor did not list VMs within ${VM_SCRAPE_TIMEOUT_MS} ms`)), VM_SCRAPE_TIMEOUT_MS);
    });
    try {
      const context = await this.contexts.current();
      const vms = await Promise.race([hv.list({ signal, context, log: this.log, requestId: 'metrics-scrape' }), timeout]);
      const counts = new Map<string, number>();
      for (const vm of vms) counts.set(vm.status, (counts.get(vm.status) ?? 0) + 1);
      return [...counts].map(([status, n]) => [{ status }, n]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Byte deltas from a stream of cumulative progress reports (per phase and item; a restart counts from 0). */
export function progressDeltas(onBytes: (phase: string, delta: number) => void): (p: { phase: string; item?: string; current: number; unit: string }) => void {
  const last = new Map<string, number>();
  return (p) => {
    if (p.unit !== 'bytes' || !Number.isFinite(p.current)) return;
    const key = `${p.phase}\0${p.item ?? ''}`;
    const prev = last.get(key) ?? 0;
    const delta = p.current >= prev ? p.current - prev : p.current;
    last.set(key, p.current);
    if (delta > 0) onBytes(p.phase, delta);
  };
}
