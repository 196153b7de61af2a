// The plugin contract third parties write against. A plugin is a plain, branded data object:
// no classes to extend, no tsyringe, no decorators.
import type { Logger } from '../ports/common.js';
import type { PortRef, PortTypes } from './refs.js';
import type { ConfigSchema } from './configSchema.js';

export const PLUGIN_BRAND = 'vmregistry.plugin/v1';
/** The plugin API version this host implements; plugins declare a semver range against it. */
export const PLUGIN_API_VERSION = '1.0.0';

export interface PluginDeps {
  /** A required or optional port's implementation; throws for an optional one that is unbound. */
  get<T>(ref: PortRef<T>): T;
  /** An optional port's implementation, or undefined. */
  maybe<T>(ref: PortRef<T>): T | undefined;
}

export interface PluginEnv<C> {
  /** The plugin's config after schema defaults were applied. */
  config: C;
  deps: PluginDeps;
  log: Logger;
  /** A directory reserved for this plugin under the daemon's data dir (created on demand by the plugin). */
  dataDir: string;
  host: { version: string; apiVersion: string };
}

/**
 * Implementations keyed by port id, each typed by its port: a wrong id or a wrong shape fails to compile
 * (write `[authPort.id]: impl`); the loader checks the same at startup for plugins written in JavaScript.
 */
export type PortImplementations = { [K in keyof PortTypes]?: PortTypes[K] };

export interface PluginInstance {
  /** Implementations keyed by port id; must cover exactly `provides`. */
  implementations: PortImplementations;
  /** Called in reverse init order at daemon shutdown. */
  shutdown?: () => Promise<void> | void;
}

export interface PluginDefinition<C = Record<string, unknown>> {
  readonly brand: typeof PLUGIN_BRAND;
  /** kebab-case, unique: `libvirt`, `registry-oci`, `acme-hyperv`. */
  readonly id: string;
  readonly description?: string;
  /** Semver range of the host plugin API this plugin works with, e.g. `^1.0.0`. */
  readonly apiVersion: string;
  readonly provides: readonly PortRef<unknown>[];
  /** Ports that must be bound before init (startup fails otherwise). */
  readonly requires?: readonly PortRef<unknown>[];
  /** Ports used when bound; ordering still honours them. */
  readonly optional?: readonly PortRef<unknown>[];
  readonly configSchema?: ConfigSchema;
  init(env: PluginEnv<C>): Promise<PluginInstance> | PluginInstance;
}

/** Thrown from `init` when the plugin cannot run here (e.g. no libvirtd): the port stays unbound unless the plugin is required. */
export class SkipPluginError extends Error {
  readonly skipPlugin = true;
  constructor(message: string) {
    super(message);
    this.name = 'SkipPluginError';
  }
}

export function definePlugin<C = Record<string, unknown>>(
  def: Omit<PluginDefinition<C>, 'brand'>,
): PluginDefinition<C> {
  return Object.freeze({ ...def, brand: PLUGIN_BRAND });
}

export function isPluginDefinition(x: unknown): x is PluginDefinition {
  return typeof x === 'object' && x !== null && (x as { brand?: unknown }).brand === PLUGIN_BRAND;
}
