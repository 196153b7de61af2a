// The daemon's configuration: defaults < YAML/JSON file < environment < flags. With no file at all,
// every built-in plugin is enabled with its defaults.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { InvalidArgumentError, type Issue } from '../errors.js';
import { checkConfig, type ConfigSchema } from '../plugins/configSchema.js';
import { defaultDataDir, defaultSocketPath } from './defaults.js';

export interface PluginEntry {
  /** Module to load: a built-in id (default: the entry's key), an npm package name, or a path. */
  module?: string;
  config?: Record<string, unknown>;
  /** false disables a plugin that would otherwise load (e.g. a built-in under `plugins: { … }`). */
  enabled?: boolean;
}

export interface DaemonConfig {
  version: 1;
  socket: string;
  /** Group that owns the socket (mode 0660); empty: the daemon's primary group. */
  socketGroup: string;
  dataDir: string;
  state: { url: string };
  logLevel: string;
  /** Largest gRPC message accepted, bytes. */
  maxMessageBytes: number;
  /** In-flight calls get this long to finish at SIGTERM before they are cancelled. */
  shutdownTimeoutSeconds: number;
  /** Plugins by id; presence = enabled. */
  plugins: Record<string, PluginEntry>;
  /** Plugin ids whose failure or skip fails startup. */
  required: string[];
  /** Which plugin provides a port when several could: { "vmregistry.hypervisor.v1": "libvirt" }. */
  bindings: Record<string, string>;
  /** The local image store. */
  images: { windowSizeMiB: number; compressionLevel: number; maxDiskGiB: number };
  /** Directory for relative `module:` paths (the config file's directory). */
  baseDir: string;
  /** Prometheus text endpoint (GET /metrics); off by default, loopback only unless `allowRemote`. */
  metrics: { enabled: boolean; listen: string; allowRemote: boolean };
  /** Events stream: per-subscriber queue bound and how many recent events a new subscriber may replay. */
  events: { queueSize: number; history: number };
  /**
   * Host directories socket clients may make the daemon read (ImportImageFile, compose `*_file` by path)
   * or write (ExportImage to a path). Empty: only `<dataDir>/import` and `<dataDir>/export`.
   */
  paths: { import: string[]; export: string[] };
}

export const BUILTIN_PLUGINS = ['libvirt', 'registry-oci', 'auth-oidc', 'compose'] as const;

const schema: ConfigSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer', minimum: 1, maximum: 1, default: 1 },
    socket: { type: 'string' },
    socketGroup: { type: 'string', default: '' },
    dataDir: { type: 'string' },
    state: { type: 'object', properties: { url: { type: 'string' } } },
    logLevel: { type: 'string', enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info' },
    maxMessageBytes: { type: 'integer', minimum: 1 << 20, maximum: 1 << 30, default: 64 << 20 },
    shutdownTimeoutSeconds: { type: 'number', minimum: 0, default: 30 },
    plugins: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: {
          module: { type: 'string' },
          config: { type: 'object', additionalProperties: { type: 'string' } as never },
          enabled: { type: 'boolean', default: true },
        },
      },
    },
    required: { type: 'array', items: { type: 'string' }, default: [] },
    bindings: { type: 'object', additionalProperties: { type: 'string' } },
    images: {
      type: 'object',
      properties: {
        windowSizeMiB: { type: 'integer', minimum: 1, maximum: 4096, default: 512 },
        compressionLevel: { type: 'integer', minimum: 1, maximum: 19, default: 2 }, // zstd; measured in bench/README.md
        // Largest virtual disk an import, load or pull may bring (a VMFile's disk_size_gb allows up to 64 TiB).
        maxDiskGiB: { type: 'integer', minimum: 1, maximum: 64 * 1024, default: 2048 },
      },
    },
    metrics: {
      type: 'object',
      properties: {
        enabled: { type: 'boolean', default: false },
        listen: { type: 'string', default: '127.0.0.1:9464' },
        allowRemote: { type: 'boolean', default: false },
      },
    },
    events: {
      type: 'object',
      properties: {
        queueSize: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1024 },
        history: { type: 'integer', minimum: 0, maximum: 100_000, default: 256 },
      },
    },
    paths: {
      type: 'object',
      properties: {
        import: { type: 'array', items: { type: 'string' }, default: [] },
        export: { type: 'array', items: { type: 'string' }, default: [] },
      },
    },
  },
};

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<Pick<DaemonConfig, 'socket' | 'dataDir' | 'logLevel' | 'socketGroup'>> & { stateUrl?: string };
  /** An already parsed object (tests). */
  object?: Record<string, unknown>;
}

export async function loadConfig(src: ConfigSources = {}): Promise<{ config: DaemonConfig; warnings: Issue[] }> {
  const env = src.env ?? process.env;
  const file = src.file ?? env.VMR_CONFIG;
  let raw: Record<string, unknown> = {};
  let baseDir = process.cwd();
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read config file ${file}: ${(err as Error).message}`, { cause: err, field: 'config' });
    }
    const doc = YAML.parseDocument(text, { prettyErrors: true });
    if (doc.errors.length) {
      throw new InvalidArgumentError(`config file ${file} is not valid YAML: ${doc.errors[0]!.message}`);
    }
    const parsed = doc.toJS() as unknown;
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new InvalidArgumentError(`config file ${file} must be a mapping at the top level`);
    }
    raw = (parsed ?? {}) as Record<string, unknown>;
    baseDir = path.dirname(path.resolve(file));
  } else if (src.object) {
    raw = structuredClone(src.object);
  }
  // Plugin configs are free-form here; each plugin's own schema checks them at load time.
  const pluginsRaw = raw.plugins;
  const checked = checkConfig(schema, { ...raw, plugins: undefined }, '');
  if (checked.errors.length) {
    const where = file ? `config file ${file}` : 'config';
    throw new InvalidArgumentError(`${where}: ${checked.errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, { issues: checked.errors });
  }
  const c = checked.value as Record<string, unknown>;
  const pluginWarnings: Issue[] = [];
  const plugins = normalisePlugins(pluginsRaw, pluginWarnings);
  const dataDir = path.resolve(src.flags?.dataDir ?? env.VMR_DATA_DIR ?? (c.dataDir as string | undefined) ?? defaultDataDir(env));
  const config: DaemonConfig = {
    version: 1,
    socket: path.resolve(src.flags?.socket ?? env.VMR_SOCKET ?? (c.socket as string | undefined) ?? defaultSocketPath(env)),
    socketGroup: src.flags?.socketGroup ?? env.VMR_SOCKET_GROUP ?? (c.socketGroup as string),
    dataDir,
    state: { url: src.flags?.stateUrl ?? env.VMR_STATE_URL ?? ((c.state as { url?: string }).url) ?? `sqlite://${path.join(dataDir, 'state.sqlite')}` },
    logLevel: src.flags?.logLevel ?? env.VMR_LOG_LEVEL ?? (c.logLevel as string),
    maxMessageBytes: c.maxMessageBytes as number,
    shutdownTimeoutSeconds: c.shutdownTimeoutSeconds as number,
    plugins,
    required: c.required as string[],
    bindings: (c.bindings ?? {}) as Record<string, string>,
    images: c.images as DaemonConfig['images'],
    baseDir,
    metrics: c.metrics as DaemonConfig['metrics'],
    events: c.events as DaemonConfig['events'],
    paths: checkPaths((c.paths ?? {}) as Partial<DaemonConfig['paths']>),
  };
  checkMetricsListen(config.metrics);
  for (const r of config.required) {
    if (!config.plugins[r]) throw new InvalidArgumentError(`required plugin "${r}" is not configured under plugins`, { field: 'required' });
  }
  return { config, warnings: [...checked.warnings, ...pluginWarnings] };
}

const ENTRY_KEYS = new Set(['module', 'config', 'enabled']);

function normalisePlugins(v: unknown, warnings: Issue[]): Record<string, PluginEntry> {
  if (v === undefined || v === null) {
    return Object.fromEntries(BUILTIN_PLUGINS.map((id) => [id, {}]));
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new InvalidArgumentError('config: plugins must be a mapping of plugin id to { module, config }', { field: 'plugins' });
  }
  const out: Record<string, PluginEntry> = {};
  for (const [id, entry] of Object.entries(v as Record<string, unknown>)) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(id)) throw new InvalidArgumentError(`config: plugin id "${id}" must be kebab-case`, { field: `plugins.${id}` });
    if (entry === null || entry === undefined || entry === true) { out[id] = {}; continue; }
    if (entry === false) continue;
    if (typeof entry !== 'object' || Array.isArray(entry)) {
      throw new InvalidArgumentError(`config: plugins.${id} must be a mapping ({ module, config })`, { field: `plugins.${id}` });
    }
    const e = entry as Record<string, unknown>;
    // A plugin's own settings belong under `config:`; put beside `module:` they would be silently ignored.
    for (const key of Object.keys(e).filter((k) => !ENTRY_KEYS.has(k))) {
      warnings.push({ path: `plugins.${id}.${key}`, severity: 'warning',
        message: `unknown key, ignored (a plugin's settings go under plugins.${id}.config.${key})` });
    }
    if (e.module !== undefined && typeof e.module !== 'string') throw new InvalidArgumentError(`config: plugins.${id}.module must be a string`, { field: `plugins.${id}.module` });
    if (e.config !== undefined && (typeof e.config !== 'object' || e.config === null || Array.isArray(e.config))) {
      throw new InvalidArgumentError(`config: plugins.${id}.config must be a mapping`, { field: `plugins.${id}.config` });
    }
    if (e.enabled === false) continue;
    out[id] = { module: e.module as string | undefined, config: (e.config ?? {}) as Record<string, unknown> };
  }
  return out;
}

/** `host:port` or `[v6]:port`; a non-loopback host needs `allowRemote: true` (the endpoint has no auth). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`config: metrics.listen "${listen}" must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464`, { field: 'metrics.listen' });
  return { host: (m[1] ?? m[2])!, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || /^::ffff:127\./i.test(host);
}

function checkMetricsListen(m: DaemonConfig['metrics']): void {
  const { host } = parseListen(m.listen);
  if (!m.allowRemote && !isLoopback(host)) {
    throw new InvalidArgumentError(`config: metrics.listen "${m.listen}" is not a loopback address; the metrics endpoint has no authentication — keep it on 127.0.0.1 or set metrics.allowRemote: true`, { field: 'metrics.listen' });
  }
}

/** `paths.import` / `paths.export`: absolute directories, never `/` (that would grant the whole host). */
function checkPaths(p: Partial<DaemonConfig['paths']>): DaemonConfig['paths'] {
  const out = { import: p.import ?? [], export: p.export ?? [] };
  for (const key of ['import', 'export'] as const) {
    out[key].forEach((d, i) => {
      const field = `paths.${key}[${i}]`;
      if (!path.isAbsolute(d) || d.includes('\0')) throw new InvalidArgumentError(`config: ${field} "${d}" must be an absolute directory`, { field });
      if (path.resolve(d) === '/') throw new InvalidArgumentError(`config: ${field} is "/", which would let every socket user reach the whole host; name the directories meant for images`, { field });
    });
    out[key] = out[key].map((d) => path.resolve(d));
  }
  return out;
}
