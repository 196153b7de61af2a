import os from 'node:os';
import path from 'node:path';
import { tmpSocketDir } from '../grpc/socketDir.js';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** `/run/vmregistry/vmregistry.sock` for root, `$XDG_RUNTIME_DIR/vmregistry/vmregistry.sock` for a user. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (!isRoot() && env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'vmregistry', 'vmregistry.sock');
  if (!isRoot()) return path.join(tmpSocketDir(process.getuid?.() ?? 0), 'vmregistry.sock');
  return '/run/vmregistry/vmregistry.sock';
}

/** `/var/lib/vmregistry` for root, `$XDG_DATA_HOME/vmregistry` (~/.local/share/vmregistry) for a user. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return '/var/lib/vmregistry';
  const base = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'vmregistry');
}

/** Default libvirt URI: the system daemon for root, the session daemon for a user outside the libvirt group. */
export function defaultLibvirtUri(): string {
  return isRoot() ? 'qemu:///system' : 'qemu:///system';
}
