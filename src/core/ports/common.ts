// Types shared by every port. Ports are the only thing plugins and core services agree on.

/** A named place the daemon's registry, auth and hypervisor calls go (see ContextInfo in proto/defs/context.proto). */
export interface ContextInfo {
  name: string;
  description: string;
  /** Registry base, e.g. `localhost:5000` or `https://registry.example`. Empty: none configured. */
  registryUrl: string;
  /** OIDC issuer URL. Empty: no auth server. */
  authServer: string;
  authClientId: string;
  /** libvirt URI, e.g. `qemu:///system`, `test+unix:///default`, `qemu+ssh://host/system`. */
  libvirtUri: string;
  /** Plain HTTP (and unverified TLS) allowed for this context's registry. */
  insecureRegistry: boolean;
  current: boolean;
  /** RFC 3339. */
  created: string;
}

/** Progress of long work, rendered by the CLI for pull, push, import, export and run. */
export interface Progress {
  /** e.g. `resolve`, `download`, `upload`, `verify`, `assemble`, `boot`. */
  phase: string;
  /** What is moving: a blob digest, a VM name … */
  item?: string;
  /** So far for this phase and item (not across items): the core counts transfer bytes from its increments. */
  current: number;
  /** 0 when unknown. */
  total: number;
  unit: 'bytes' | 'items';
  message?: string;
}

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * Passed as the last argument to every port method. `signal` fires on client cancel, deadline and
 * daemon shutdown; `context` is the context current when the RPC arrived.
 */
export interface CallContext {
  signal: AbortSignal;
  context: ContextInfo;
  log: Logger;
  progress?: (p: Progress) => void;
  requestId?: string;
}

export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'NOT_CONFIGURED';

export interface ComponentHealth {
  name: string;
  status: HealthStatus;
  message: string;
  latencyMs: number;
  /** Extra facts, e.g. `{ libvirtVersion: "9.0.0" }`. */
  details?: Record<string, string>;
}

/** Anything with a health probe. Every port implementation has one. */
export interface HealthProbe {
  health(ctx: CallContext): Promise<ComponentHealth>;
}
