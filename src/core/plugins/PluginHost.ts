// Loads the plugins named in the config, checks them, initialises them in dependency order and
// shuts them down in reverse (containerd's plugin graph + Backstage's initializer, in small).
import path from 'node:path';
import semver from 'semver';
import { FailedPreconditionError, InvalidArgumentError, UnavailableError, type Issue } from '../errors.js';
import type { Logger } from '../ports/common.js';
import type { PluginEntry } from '../config/DaemonConfig.js';
import { checkConfig } from './configSchema.js';
import { PLUGIN_API_VERSION, type PluginDefinition, type PluginDeps, type PluginInstance } from './definePlugin.js';
import { buildPluginGraph } from './pluginGraph.js';
import { implementationProblem } from './portMethods.js';
import { PLUGGABLE_PORTS, type PortRef } from './refs.js';
import { PortBindings } from './PortBindings.js';
import { loadPluginModule } from './resolvePluginModule.js';

export type PluginState = 'loaded' | 'ready' | 'skipped' | 'failed' | 'stopped';

export interface PluginStatus {
  id: string;
  from: string;
  state: PluginState;
  /** Why it skipped or failed. */
  reason?: string;
  provides: string[];
}

export interface PluginHostOptions {
  plugins: Record<string, PluginEntry>;
  required: string[];
  bindings: Record<string, string>;
  baseDir: string;
  dataDir: string;
  version: string;
  log: Logger;
  /** Ports the core provides, by id. */
  corePorts: Map<string, unknown>;
  /** Definitions given directly (tests, embedders), used instead of loading a module for that id. */
  definitions?: Record<string, PluginDefinition>;
  shutdownTimeoutMs?: number;
  /** The table the host binds ports into; given when services need their slots before the host exists. */
  ports?: PortBindings;
}

export class PluginHost {
  readonly ports: PortBindings;
  private readonly statuses = new Map<string, PluginStatus>();
  private readonly started: Array<{ id: string; instance: PluginInstance }> = [];
  private stopping?: Promise<void>;

  constructor(private readonly opts: PluginHostOptions) {
    this.ports = opts.ports ?? new PortBindings();
    this.ports.explainUnbound = (ref) => this.unboundError(ref);
    for (const [id, impl] of opts.corePorts) this.ports.bind(id, impl, 'core');
  }

  /** Loads, checks, orders and initialises every configured plugin. Throws on any startup error. */
  async start(): Promise<{ warnings: Issue[] }> {
    const { log } = this.opts;
    const warnings: Issue[] = [];
    const defs: PluginDefinition[] = [];
    const configs = new Map<string, unknown>();
    for (const [id, entry] of Object.entries(this.opts.plugins)) {
      const given = this.opts.definitions?.[id];
      const { def, from } = given ? { def: given, from: 'definition' } : await loadPluginModule(id, entry.module, this.opts.baseDir);
      if (!semver.validRange(def.apiVersion)) {
        throw new InvalidArgumentError(`plugin "${id}" declares an invalid apiVersion range "${def.apiVersion}"`);
      }
      if (!semver.satisfies(PLUGIN_API_VERSION, def.apiVersion)) {
        throw new InvalidArgumentError(`plugin "${id}" needs plugin API ${def.apiVersion}, but this daemon implements ${PLUGIN_API_VERSION}; upgrade the plugin or the daemon`);
      }
      const check = def.configSchema ? checkConfig(def.configSchema, entry.config ?? {}, '') : { value: entry.config ?? {}, errors: [], warnings: [] };
      if (check.errors.length) {
        throw new InvalidArgumentError(`plugin "${id}" config: ${check.errors.map((e) => `plugins.${id}.config.${e.path} ${e.message}`).join('; ')}`,
          { issues: check.errors.map((e) => ({ ...e, path: `plugins.${id}.config.${e.path}` })) });
      }
      for (const w of check.warnings) {
        const issue = { ...w, path: `plugins.${id}.config.${w.path}` };
        warnings.push(issue);
        log.warn({ plugin: id, path: issue.path }, `plugin config: ${w.message}`);
      }
      configs.set(id, check.value);
      defs.push(def);
      this.statuses.set(id, { id, from, state: 'loaded', provides: def.provides.map((r) => r.id) });
    }
    const graph = buildPluginGraph({ plugins: defs, corePorts: new Set(this.opts.corePorts.keys()), bindings: this.opts.bindings });

    for (const def of graph.order) {
      const status = this.statuses.get(def.id)!;
      const required = this.opts.required.includes(def.id);
      const missing = (def.requires ?? []).filter((r) => !this.ports.has(r.id));
      if (missing.length) {
        const reason = `required port ${missing.map((m) => m.id).join(', ')} is unavailable (its plugin skipped or failed)`;
        if (required) throw new FailedPreconditionError(`required plugin "${def.id}" cannot start: ${reason}`);
        Object.assign(status, { state: 'skipped', reason });
        log.warn({ plugin: def.id }, `plugin skipped: ${reason}`);
        continue;
      }
      const allowed = new Set([...(def.requires ?? []), ...(def.optional ?? [])].map((r) => r.id));
      const deps: PluginDeps = {
        get: <T>(ref: PortRef<T>) => {
          if (!allowed.has(ref.id)) throw new Error(`plugin "${def.id}" asked for ${ref.id} without declaring it in requires/optional`);
          const impl = this.ports.maybe(ref);
          if (impl === undefined) throw new FailedPreconditionError(`plugin "${def.id}": ${ref.id} is not available`);
          return impl;
        },
        maybe: <T>(ref: PortRef<T>) => (allowed.has(ref.id) ? this.ports.maybe(ref) : undefined),
      };
      let instance: PluginInstance;
      try {
        instance = await def.init({
          config: configs.get(def.id) as never,
          deps,
          log: log.child({ plugin: def.id }),
          dataDir: path.join(this.opts.dataDir, 'plugins', def.id),
          host: { version: this.opts.version, apiVersion: PLUGIN_API_VERSION },
        });
      } catch (err) {
        const skip = (err as { skipPlugin?: boolean }).skipPlugin === true;
        const reason = (err as Error).message ?? String(err);
        if (required) {
          throw new FailedPreconditionError(`required plugin "${def.id}" ${skip ? 'skipped' : 'failed to start'}: ${reason}`, { cause: err });
        }
        Object.assign(status, { state: skip ? 'skipped' : 'failed', reason });
        if (skip) log.info({ plugin: def.id }, `plugin skipped: ${reason}`);
        else log.error({ plugin: def.id, err }, `plugin failed to start; its ports stay unbound: ${reason}`);
        continue;
      }
      const provided = Object.keys(instance?.implementations ?? {});
      const declared = def.provides.map((r) => r.id);
      const missingImpl = declared.filter((id) => !provided.includes(id));
      const extra = provided.filter((id) => !declared.includes(id));
      if (missingImpl.length || extra.length) {
        await instance.shutdown?.();
        throw new InvalidArgumentError(`plugin "${def.id}" init returned implementations for [${provided.join(', ')}] but declares provides [${declared.join(', ')}]`);
      }
      const impls = instance.implementations as Record<string, unknown>;
      const wrong = declared.map((id) => ({ id, problem: implementationProblem(id, impls[id]) })).filter((w) => w.problem);
      if (wrong.length) {
        await instance.shutdown?.();
        throw new InvalidArgumentError(`plugin "${def.id}" init returned an implementation that does not fit its port: ` +
          wrong.map((w) => `${w.id} ${w.problem}`).join('; '));
      }
      this.started.push({ id: def.id, instance });
      for (const id of declared) {
        if (graph.providers.get(id) === def.id) this.ports.bind(id, impls[id], def.id);
      }
      status.state = 'ready';
      log.info({ plugin: def.id, provides: declared }, 'plugin ready');
    }
    return { warnings };
  }

  /** The implementation of a port, or undefined when no plugin provides it. */
  maybe<T>(ref: PortRef<T>): T | undefined {
    return this.ports.maybe(ref);
  }

  /** The implementation of a port; FAILED_PRECONDITION naming the plugin to configure when unbound. */
  get<T>(ref: PortRef<T>): T {
    return this.ports.get(ref);
  }

  unboundError(ref: PortRef<unknown>): Error {
    const provider = [...this.statuses.values()].find((s) => s.provides.includes(ref.id));
    if (provider && provider.state !== 'ready') {
      return new UnavailableError(`the ${ref.title} is unavailable: plugin "${provider.id}" ${provider.state}${provider.reason ? ` (${provider.reason})` : ''}`);
    }
    const hint = PLUGGABLE_PORTS.find((x) => x.ref.id === ref.id)?.suggest;
    return new FailedPreconditionError(`no ${ref.title} is configured: enable a plugin that provides ${ref.id}` +
      `${hint ? ` (e.g. "${hint}" under plugins in the daemon config)` : ''}`);
  }

  /** Which plugin provides a port ('core' for the core's own), if any. */
  providerOf(portId: string): string | undefined {
    return this.ports.providerOf(portId);
  }

  status(): PluginStatus[] {
    return [...this.statuses.values()];
  }

  /** Idempotent; shuts plugins down in reverse init order, each bounded by a timeout, collecting errors. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const errors: unknown[] = [];
      const timeout = this.opts.shutdownTimeoutMs ?? 10_000;
      for (const { id, instance } of [...this.started].reverse()) {
        try {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            Promise.resolve(instance.shutdown?.()),
            new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`plugin "${id}" shutdown timed out after ${timeout} ms`)), timeout); }),
          ]).finally(() => clearTimeout(timer));
        } catch (err) {
          errors.push(err);
          this.opts.log.error({ plugin: id, err }, 'plugin shutdown failed');
        }
        const st = this.statuses.get(id);
        if (st) st.state = 'stopped';
      }
      this.ports.clear();
      if (errors.length) throw new AggregateError(errors, `${errors.length} plugin(s) failed to shut down`);
    })();
    return this.stopping;
  }
}
