// The composition root: one child container per daemon; the core's services, the plugin host and
// the gRPC server are wired here and nowhere else.
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { mkdir } from 'node:fs/promises';
import type { DaemonConfig } from './config/DaemonConfig.js';
import { ContextService } from './contexts/ContextService.js';
import { GrpcServer } from './grpc/GrpcServer.js';
import { RpcRuntime } from './grpc/RpcRuntime.js';
import { actionHandlers } from './grpc/handlers/actionHandlers.js';
import { authHandlers } from './grpc/handlers/authHandlers.js';
import { composeHandlers } from './grpc/handlers/composeHandlers.js';
import { contextHandlers } from './grpc/handlers/contextHandlers.js';
import { imageHandlers } from './grpc/handlers/imageHandlers.js';
import { networkHandlers } from './grpc/handlers/networkHandlers.js';
import { HealthService } from './health/HealthService.js';
import { createLogger } from './log/logger.js';
import type { Logger } from './ports/common.js';
import type { ImageStore } from './ports/images.js';
import type { PluginDefinition } from './plugins/definePlugin.js';
import { PluginHost } from './plugins/PluginHost.js';
import { PortBindings } from './plugins/PortBindings.js';
import { authPort, composePort, contextsPort, hypervisorPort, imagesPort, networksPort, registryPort, statePort, vmsPort } from './plugins/refs.js';
import { ImageService } from './images/ImageService.js';
import { KeyvStateStore } from './state/KeyvStateStore.js';
import { TOKENS } from './tokens.js';
import { VERSION } from './version.js';
import { VmActions } from './vms/VmActions.js';
import { createImageStore } from './images/createImageStore.js';
import { hostPathsOf } from './hostfs/HostPaths.js';
import { EventBus } from './events/EventBus.js';
import { eventHandlers } from './grpc/handlers/eventHandlers.js';
import { vmAccessHandlers } from './grpc/handlers/vmAccessHandlers.js';
import { missingHostTools, missingToolLine } from './health/hostTools.js';
import { DaemonMetrics } from './metrics/DaemonMetrics.js';
import { MetricsServer } from './metrics/MetricsServer.js';

/** Operational parts the daemon stops first: the event bus, hypervisor event forwarding, metrics. */
interface DaemonOps {
  events: EventBus;
  metrics: DaemonMetrics;
  metricsServer?: MetricsServer;
  unwatchHypervisor?: () => void;
}

export interface DaemonOptions {
  config: DaemonConfig;
  log?: Logger;
  /** Plugin definitions to use instead of loading modules for these ids (tests, embedders). */
  definitions?: Record<string, PluginDefinition>;
  /** Replace the local image store (tests). */
  imageStore?: (config: DaemonConfig, log: Logger) => Promise<ImageStore> | ImageStore;
}

export class Daemon {
  private stopping?: Promise<void>;

  private constructor(
    readonly config: DaemonConfig,
    readonly container: DependencyContainer,
    readonly plugins: PluginHost,
    private readonly server: GrpcServer,
    private readonly runtime: RpcRuntime,
    private readonly state: KeyvStateStore,
    readonly log: Logger,
    private readonly ops: DaemonOps,
  ) {}

  /** The event bus (embedders and tests publish or follow events in-process). */
  get events(): EventBus {
    return this.ops.events;
  }

  /** http://host:port/metrics when the metrics endpoint is enabled. */
  get metricsUrl(): string | undefined {
    return this.ops.metricsServer?.url;
  }

  get socketPath(): string {
    return this.config.socket;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config } = opts;
    const log = opts.log ?? createLogger({ level: config.logLevel });
    await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
    const c = rootContainer.createChildContainer();
    const state = await KeyvStateStore.open(config.state.url);
    let host: PluginHost | undefined;
    let ops: DaemonOps | undefined;
    try {
      c.register(TOKENS.Config, { useValue: config });
      c.register(TOKENS.Logger, { useValue: log });
      c.register(TOKENS.Version, { useValue: VERSION });
      c.register(TOKENS.StateStore, { useValue: state });
      c.registerSingleton(TOKENS.Contexts, ContextService);
      const images = await (opts.imageStore ?? createImageStore)(config, log);
      c.register(TOKENS.Images, { useValue: images });
      // The core's services take slots of the plugin ports they use; the host binds the plugins into the
      // same table later. So VmActions (itself a port plugins require) exists before the host: no cycle.
      const ports = new PortBindings();
      c.register(TOKENS.Ports, { useValue: ports });
      c.register(TOKENS.HypervisorSlot, { useValue: ports.slot(hypervisorPort) });
      c.register(TOKENS.RegistrySlot, { useValue: ports.slot(registryPort) });
      c.registerSingleton(TOKENS.ImageService, ImageService);
      c.registerSingleton(TOKENS.Vms, VmActions);
      host = new PluginHost({
        plugins: config.plugins, required: config.required, bindings: config.bindings, baseDir: config.baseDir,
        dataDir: config.dataDir, version: VERSION, log, definitions: opts.definitions,
        shutdownTimeoutMs: Math.max(1000, config.shutdownTimeoutSeconds * 1000), ports,
        corePorts: new Map<string, unknown>([
          [imagesPort.id, images],
          [statePort.id, state],
          [contextsPort.id, c.resolve(TOKENS.Contexts)],
          [vmsPort.id, c.resolve<VmActions>(TOKENS.Vms)],
        ]),
      });
      c.register(TOKENS.Plugins, { useValue: host });
      c.registerSingleton(TOKENS.Health, HealthService);
      c.registerSingleton(TOKENS.Events, EventBus);
      c.registerSingleton(TOKENS.Metrics, DaemonMetrics);
      c.registerSingleton(RpcRuntime, RpcRuntime);
      await host.start();
      ops = { events: c.resolve<EventBus>(TOKENS.Events), metrics: c.resolve<DaemonMetrics>(TOKENS.Metrics) };
      ops.unwatchHypervisor = forwardHypervisorEvents(host, ops.events, log);

      const rt = c.resolve(RpcRuntime);
      const hostPaths = hostPathsOf(config);
      const contexts = c.resolve<ContextService>(TOKENS.Contexts);
      contexts.addValidator((ctxInfo) => ports.maybe(hypervisorPort)?.validateContext?.(ctxInfo) ?? []);
      const handlers = {
        ...authHandlers(rt, ports.slot(authPort), c.resolve<HealthService>(TOKENS.Health)),
        ...imageHandlers(rt, c.resolve<ImageService>(TOKENS.ImageService), ports.slot(registryPort), hostPaths),
        ...contextHandlers(rt, contexts),
        ...actionHandlers(rt, ports.slot(hypervisorPort), c.resolve<VmActions>(TOKENS.Vms)),
        ...vmAccessHandlers(rt, ports.slot(hypervisorPort)),
        ...networkHandlers(rt, ports.slot(networksPort)),
        ...composeHandlers(rt, ports.slot(composePort), hostPaths),
        ...eventHandlers(rt, ops.events),
      } as UntypedServiceImplementation;
      const server = new GrpcServer(handlers, { maxMessageBytes: config.maxMessageBytes });
      if (config.metrics.enabled) ops.metricsServer = await MetricsServer.listen(config.metrics.listen, ops.metrics, log);
      // Not fatal: images can be listed and pushed without them; the RPCs that need one say so too.
      for (const t of await missingHostTools()) log.warn({ tool: t.tool, package: t.debianPackage }, missingToolLine(t));
      await server.listen(config.socket, config.socketGroup);
      // Last before returning: callers (and tests) take this line to mean the daemon is up and handles signals.
      log.info({ socket: config.socket, dataDir: config.dataDir, version: VERSION, plugins: host.status() }, 'vmregistryd listening');
      return new Daemon(config, c, host, server, rt, state, log, ops);
    } catch (err) {
      ops?.unwatchHypervisor?.();
      await ops?.metricsServer?.close().catch(() => undefined);
      ops?.metrics.dispose();
      await host?.stop().catch(() => undefined);
      await state.close().catch(() => undefined);
      await c.dispose();
      throw err;
    }
  }

  /** Graceful: stop accepting, let in-flight calls finish for `graceMs`, cancel the rest, stop plugins. Idempotent. */
  stop(graceMs = this.config.shutdownTimeoutSeconds * 1000): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ inflight: this.runtime.inflightCount }, 'shutting down');
      this.server.setServing(false);
      // Events streams never end on their own: end them now so they don't hold up the grace period.
      this.ops.unwatchHypervisor?.();
      this.ops.events.close();
      const closed = this.server.shutdown();
      await this.runtime.drain(graceMs);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
      this.server.forceStop();
      await this.server.removeSocket(this.config.socket);
      const errors: unknown[] = [];
      await this.ops.metricsServer?.close().catch((e: unknown) => errors.push(e));
      this.ops.metrics.dispose();
      await this.plugins.stop().catch((e: unknown) => errors.push(e));
      await this.state.close().catch((e: unknown) => errors.push(e));
      await this.container.dispose();
      this.log.info('stopped');
      if (errors.length) throw new AggregateError(errors, 'errors during shutdown');
    })();
    return this.stopping;
  }
}

/** Hypervisor lifecycle changes → `vm` events, when the bound hypervisor can report them. */
function forwardHypervisorEvents(host: PluginHost, bus: EventBus, log: Logger): (() => void) | undefined {
  const hv = host.maybe(hypervisorPort);
  if (!hv?.onEvent) return undefined;
  try {
    return hv.onEvent((e) => {
      bus.publish({ type: 'vm', action: e.action, name: e.vm, attributes: { ...(e.attributes ?? {}), ...(e.id ? { id: e.id } : {}), source: 'hypervisor' } });
    });
  } catch (err) {
    log.warn({ err }, 'the hypervisor plugin could not report VM lifecycle events; Events will only show API changes');
    return undefined;
  }
}
