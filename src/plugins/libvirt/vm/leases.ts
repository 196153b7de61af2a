// IP addresses come from the DHCP leases of the networks a VM is attached to, matched by MAC.
import { hasCode } from '../../../plugin-api/index.js';
import type { LibvirtClient } from '../rpc/index.js';

/** MAC (lowercase) → addresses, for the given networks; networks without leases support give none. */
export async function leasesByMac(
  client: LibvirtClient,
  networks: Iterable<string>,
  signal?: AbortSignal,
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const now = BigInt(Math.floor(Date.now() / 1000));
  await Promise.all([...new Set(networks)].map(async (name) => {
    let leases;
    try {
      const net = await client.networkLookupByName(name, { signal });
      leases = await client.networkGetDhcpLeases(net, null, { signal });
    } catch (err) {
      // The test driver has no leases; a missing network simply has none.
      if (hasCode(err, 'UNIMPLEMENTED', 'NOT_FOUND')) return;
      throw err;
    }
    for (const l of leases) {
      if (!l.mac) continue;
      // dnsmasq keeps expired entries until it rewrites its file; expirytime 0 means infinite.
      if (l.expirytime !== 0n && l.expirytime < now) continue;
      const mac = l.mac.toLowerCase();
      const list = out.get(mac) ?? [];
      if (!list.includes(l.ipaddr)) list.push(l.ipaddr);
      out.set(mac, list);
    }
  }));
  return out;
}
