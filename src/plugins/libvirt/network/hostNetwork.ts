// What the host already has: interface addresses and bridges. Injected into the network manager so
// tests can present a different host.
import os from 'node:os';
import { access } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const pexec = promisify(execFile);

export interface HostAddress {
  iface: string;
  address: string;
  prefix: number;
}

export interface HostNetwork {
  /** IPv4 addresses of the host's interfaces (down ones included). */
  addresses(): Promise<HostAddress[]>;
  /** Whether `name` is an existing Linux bridge (/sys/class/net/<name>/bridge). */
  isBridge(name: string): Promise<boolean>;
  /** Whether a network interface `name` exists. */
  interfaceExists(name: string): Promise<boolean>;
}

const exists = (p: string) => access(p).then(() => true, () => false);

export const systemHostNetwork: HostNetwork = {
  async addresses() {
    // os.networkInterfaces() leaves out interfaces that are not RUNNING (e.g. a bridge without
    // ports), whose subnets would still clash once they come up; ip(8) lists them all.
    try {
      const { stdout } = await pexec('ip', ['-j', '-4', 'addr', 'show'], { timeout: 5000 });
      const links = JSON.parse(stdout) as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
      const out = links.flatMap((l) => (l.addr_info ?? []).map((a) => ({ iface: l.ifname, address: a.local, prefix: a.prefixlen })));
      return out.filter((a) => !a.address.startsWith('127.'));
    } catch {
      return nodeAddresses();
    }
  },
  isBridge: (name) => exists(`/sys/class/net/${name}/bridge`),
  interfaceExists: (name) => exists(`/sys/class/net/${name}`),
};

function nodeAddresses(): HostAddress[] {
  const out: HostAddress[] = [];
  for (const [iface, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      out.push({ iface, address: a.address, prefix: Number(a.cidr?.split('/')[1] ?? 32) });
    }
  }
  return out;
}
