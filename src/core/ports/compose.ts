import type { Issue } from '../errors.js';
import type { CallContext, HealthProbe } from './common.js';

export type ComposeAction = 'created' | 'started' | 'unchanged' | 'recreated' | 'stopped' | 'removed' | 'restarted';

export interface ComposeServiceStatus {
  service: string;
  vmName: string;
  status: string;
  action: ComposeAction | string;
  ipAddresses: string[];
  image: string;
  /** starting | healthy | unhealthy for a service with a healthcheck (ps); '' otherwise. */
  health?: string;
}

export interface ComposeSource {
  /** The VMCompose YAML text. */
  content: string;
  /** Directory that relative `*_file` paths resolve against (the compose file's directory). */
  baseDir: string;
  /** Contents of `*_file` files the client read and sent, keyed by the path as written in the file. */
  files?: Record<string, string>;
  /**
   * Reads a `*_file` the client did not send from the daemon's host (relative to baseDir, confined to the
   * daemon's paths.import; PERMISSION_DENIED otherwise). Provided by the core; absent: not allowed.
   */
  readFile?: (rel: string, field: string, maxBytes: number) => Promise<string>;
  /** Variables for `${VAR}` interpolation, sent by the client. */
  env: Record<string, string>;
  /** Overrides the file's `name`. */
  projectName: string;
}

/** Port `vmregistry.compose.v1`. */
export interface ComposeRunner extends HealthProbe {
  validate(src: ComposeSource, ctx: CallContext): Promise<{ valid: boolean; errors: Issue[]; warnings: Issue[]; services: string[]; project: string }>;
  up(src: ComposeSource, opts: { services: string[]; forceRecreate: boolean; timeoutSeconds: number; sshAuthorizedKeys?: string[];
    /** Return only once every service meets its condition (its healthcheck when it has one). */
    wait?: boolean }, ctx: CallContext): Promise<{ project: string; services: ComposeServiceStatus[] }>;
  down(project: string, opts: { removeNetworks: boolean }, ctx: CallContext): Promise<{ project: string; services: ComposeServiceStatus[]; removedNetworks: string[] }>;
  ps(project: string, ctx: CallContext): Promise<{ project: string; services: ComposeServiceStatus[] }>;
  restart(project: string, opts: { services: string[] }, ctx: CallContext): Promise<{ project: string; services: ComposeServiceStatus[] }>;
}
