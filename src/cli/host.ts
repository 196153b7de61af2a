// Where the daemon listens: --host, then VMR_HOST, then the daemon's own default socket.
import path from 'node:path';
import { socketDirProblem, tmpSocketDir } from '../core/grpc/socketDir.js';
import { DaemonUnreachableError, UsageError } from './errors.js';

export interface DaemonAddress {
  /** gRPC target, e.g. unix:///run/vmregistry/vmregistry.sock */
  target: string;
  /** Filesystem path of the socket. */
  socketPath: string;
}

/**
 * Mirrors the daemon's default (src/core/config/defaults.ts; a test keeps them equal): root uses /run,
 * a user $XDG_RUNTIME_DIR, or a per-uid directory under the temp dir when that is unset.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (uid === 0) return '/run/vmregistry/vmregistry.sock';
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'vmregistry', 'vmregistry.sock');
  return path.join(tmpSocketDir(uid), 'vmregistry.sock');
}

/**
 * Refuses a socket in the per-uid temp directory unless that directory is ours and private: anyone can
 * create `/tmp/vmregistry-<uid>` first and put their own socket there to collect what we send (passwords).
 */
export function checkSocketDir(address: DaemonAddress, uid = process.getuid?.() ?? 0): void {
  const dir = path.dirname(address.socketPath);
  if (dir !== tmpSocketDir(uid)) return;
  const problem = socketDirProblem(dir, [uid]);
  if (problem) {
    throw new DaemonUnreachableError(address.target, `refusing to use it: ${problem}, so the socket there may not ` +
      `be your daemon's. Remove ${dir} and restart the daemon, or set XDG_RUNTIME_DIR`);
  }
}

export function resolveAddress(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): DaemonAddress {
  const raw = flag || env.VMR_HOST || `unix://${defaultSocketPath(env)}`;
  let socketPath: string;
  if (raw.startsWith('unix://')) socketPath = raw.slice('unix://'.length);
  else if (raw.startsWith('unix:')) socketPath = raw.slice('unix:'.length);
  else if (raw.startsWith('/')) socketPath = raw;
  else throw new UsageError(`unsupported daemon address "${raw}": the daemon listens on a Unix socket; use unix:///path/to/vmregistry.sock`);
  if (!socketPath) throw new UsageError(`daemon address "${raw}" has no socket path; use unix:///path/to/vmregistry.sock`);
  socketPath = path.resolve(socketPath);
  return { target: `unix://${socketPath}`, socketPath };
}
