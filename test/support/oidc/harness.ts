// Boots the auth-oidc plugin through its definePlugin() contract (schema defaults, deps, dataDir) against
// a test IdP, with an in-memory state store and a logger that records everything (so tests can assert
// that no secret was ever logged).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkConfig } from '../../../src/core/plugins/configSchema.js';
import { authPort, statePort, type PortRef } from '../../../src/core/plugins/refs.js';
import type { AuthProvider } from '../../../src/core/ports/auth.js';
import type { CallContext, ContextInfo, Logger } from '../../../src/core/ports/common.js';
import authOidcPlugin from '../../../src/plugins/auth-oidc/index.js';
import type { OidcAuthProvider } from '../../../src/plugins/auth-oidc/OidcAuthProvider.js';
import { MemoryStateStore } from './memoryState.js';

export class RecordingLogger implements Logger {
  constructor(readonly lines: string[] = [], private readonly bindings: Record<string, unknown> = {}) {}
  private rec(level: string, obj: object | string, msg?: string) {
    this.lines.push(JSON.stringify({ level, ...this.bindings, obj, msg }));
  }
  debug(obj: object | string, msg?: string) { this.rec('debug', obj, msg); }
  info(obj: object | string, msg?: string) { this.rec('info', obj, msg); }
  warn(obj: object | string, msg?: string) { this.rec('warn', obj, msg); }
  error(obj: object | string, msg?: string) { this.rec('error', obj, msg); }
  child(b: Record<string, unknown>): Logger { return new RecordingLogger(this.lines, { ...this.bindings, ...b }); }
}

export interface AuthHarness {
  auth: AuthProvider;
  /** The concrete provider, for white-box counters (refreshes per session). */
  impl: OidcAuthProvider;
  state: MemoryStateStore;
  dataDir: string;
  log: RecordingLogger;
  ctx(context?: Partial<ContextInfo>, signal?: AbortSignal): CallContext;
  close(): Promise<void>;
}

export async function startAuthPlugin(
  context: Partial<ContextInfo>, config: Record<string, unknown> = {}, state = new MemoryStateStore(), dataDir?: string,
): Promise<AuthHarness> {
  const dir = dataDir ?? await mkdtemp(path.join(tmpdir(), 'vmr-auth-'));
  const log = new RecordingLogger();
  const checked = checkConfig(authOidcPlugin.configSchema!, config);
  if (checked.errors.length) throw new Error(`bad test config: ${JSON.stringify(checked.errors)}`);
  const deps = {
    get<T>(ref: PortRef<T>): T {
      if (ref.id === statePort.id) return state as T;
      throw new Error(`unexpected dependency ${ref.id}`);
    },
    maybe<T>(ref: PortRef<T>): T | undefined {
      return ref.id === statePort.id ? (state as T) : undefined;
    },
  };
  const inst = await Promise.resolve().then(() => authOidcPlugin.init({
    config: checked.value as never,
    deps,
    log,
    dataDir: path.join(dir, 'auth-oidc'),
    host: { version: 'test', apiVersion: '1.0.0' },
  })).catch(async (err: unknown) => {
    if (!dataDir) await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const impl = inst.implementations[authPort.id] as OidcAuthProvider;
  const base: ContextInfo = {
    name: 'test', description: '', registryUrl: '', authServer: '', authClientId: 'vmr', libvirtUri: '',
    insecureRegistry: true, current: true, created: new Date().toISOString(), ...context,
  };
  return {
    auth: impl,
    impl,
    state,
    dataDir: path.join(dir, 'auth-oidc'),
    log,
    ctx: (over = {}, signal = new AbortController().signal) => ({ signal, context: { ...base, ...over }, log }),
    close: async () => {
      await inst.shutdown?.();
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
