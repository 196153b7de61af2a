// What the host already has: interface addresses and bridges. Injected into the network manager so
// tests can present a different host.
import os from 'node:os';
import { access } from 'node:fs/promises';

export interface HostAddress {
  iface: string;
  address: string;
  prefix: number;
}

export interface HostNetwork {
  /** IPv4 addresses of the host's interfaces. */
  addresses(): HostAddress[];
  /** Whether `name` is an existing Linux bridge (/sys/class/net/<name>/bridge). */
  isBridge(name: string): Promise<boolean>;
  /** Whether a network interface `name` exists. */
  interfaceExists(name: string): Promise<boolean>;
}

const exists = (p: string) => access(p).then(() => true, () => false);

export const systemHostNetwork: HostNetwork = {
  addresses() {
    const out: HostAddress[] = [];
    for (const [iface, addrs] of Object.entries(os.networkInterfaces())) {
      for (const a of addrs ?? []) {
        if (a.family !== 'IPv4' || a.internal) continue;
        const prefix = Number(a.cidr?.split('/')[1] ?? 32);
        out.push({ iface, address: a.address, prefix });
      }
    }
    return out;
  },
  isBridge: (name) => exists(`/sys/class/net/${name}/bridge`),
  interfaceExists: (name) => exists(`/sys/class/net/${name}`),
};
