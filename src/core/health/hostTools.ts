// The host programs the daemon runs or libvirt needs, checked at startup and by HealthCheck, so a
// daemon on a bare machine says what to install (one line per missing piece) instead of failing
// later inside an RPC. `scripts/host-setup.sh` installs all of them.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ComponentHealth } from '../ports/common.js';

export interface HostTool {
  tool: string;
  /** Debian package that provides it. */
  debianPackage: string;
  /** What breaks without it. */
  neededFor: string;
  /** Where it lives when not on PATH (dnsmasq is in /usr/sbin, which a user's PATH may lack). */
  alsoAt?: string[];
}

export const HOST_TOOLS: readonly HostTool[] = [
  { tool: 'qemu-img', debianPackage: 'qemu-utils', neededFor: 'importing and exporting qcow2 disks' },
  { tool: 'zstd', debianPackage: 'zstd', neededFor: 'compressing and decompressing image layers' },
  { tool: 'prlimit', debianPackage: 'util-linux', neededFor: 'bounding each layer\'s decompression to its window' },
  { tool: 'qemu-system-x86_64', debianPackage: 'qemu-system-x86', neededFor: 'running x86_64 VMs (libvirt starts it)' },
  { tool: 'dnsmasq', debianPackage: 'dnsmasq-base', neededFor: 'DHCP and DNS on libvirt NAT networks', alsoAt: ['/usr/sbin/dnsmasq'] },
];

async function executable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The tools that are nowhere to be found. */
export async function missingHostTools(env: NodeJS.ProcessEnv = process.env, tools: readonly HostTool[] = HOST_TOOLS): Promise<HostTool[]> {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const found = await Promise.all(tools.map(async (t) => {
    for (const f of [...dirs.map((d) => path.join(d, t.tool)), ...(t.alsoAt ?? [])]) if (await executable(f)) return true;
    return false;
  }));
  return tools.filter((_, i) => !found[i]);
}

export function missingToolLine(t: HostTool): string {
  return `${t.tool} is missing (needed for ${t.neededFor}): apt-get install ${t.debianPackage}`;
}

/** The `host` component of HealthCheck. */
export async function hostToolsHealth(env: NodeJS.ProcessEnv = process.env): Promise<ComponentHealth> {
  const t0 = Date.now();
  const missing = await missingHostTools(env);
  if (!missing.length) {
    return { name: 'host', status: 'SERVING', message: `host tools present: ${HOST_TOOLS.map((t) => t.tool).join(', ')}`, latencyMs: Date.now() - t0 };
  }
  return {
    name: 'host',
    status: 'NOT_SERVING',
    message: `${missing.map(missingToolLine).join('; ')} (or run scripts/host-setup.sh)`,
    latencyMs: Date.now() - t0,
    details: Object.fromEntries(missing.map((t) => [t.tool, `apt-get install ${t.debianPackage}`])),
  };
}
