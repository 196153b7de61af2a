// A running VM's addresses: what qemu-guest-agent reports when it answers (it knows static and
// bridge-network addresses, where libvirt sees no DHCP lease), the networks' DHCP leases otherwise.
import type { DomainRef, LibvirtClient } from '../rpc/index.js';
import { InterfaceAddressesSource } from '../rpc/index.js';
import { leasesByMac } from './leases.js';

// An agent that is connected but busy (early boot under TCG) must not stall `ps`.
const AGENT_TIMEOUT_MS = 3000;

/** MAC (lowercase) → IPv4 addresses the guest agent reports; empty when there is no agent or it does not answer. */
export async function agentAddressesByMac(client: LibvirtClient, dom: DomainRef, signal?: AbortSignal): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let ifaces;
  try {
    ifaces = await client.domainInterfaceAddresses(dom, InterfaceAddressesSource.AGENT, { signal, timeoutMs: AGENT_TIMEOUT_MS });
  } catch {
    // No agent channel, agent not running yet, or unresponsive: the leases answer instead.
    return out;
  }
  for (const i of ifaces) {
    if (!i.hwaddr) continue;
    // type 0 = IPv4; loopback and link-local addresses are of no use to reach the VM.
    const ips = i.addrs.filter((a) => a.type === 0 && !a.addr.startsWith('127.') && !a.addr.startsWith('169.254.')).map((a) => a.addr);
    if (ips.length) out.set(i.hwaddr.toLowerCase(), ips);
  }
  return out;
}

/** Per MAC: the agent's addresses when it reported any for that MAC, else the DHCP leases. */
export async function addressesByMac(
  client: LibvirtClient,
  dom: DomainRef,
  facts: { interfaces: { name: string }[]; guestAgent: boolean },
  signal?: AbortSignal,
): Promise<Map<string, string[]>> {
  const [agent, leases] = await Promise.all([
    facts.guestAgent ? agentAddressesByMac(client, dom, signal) : Promise.resolve(new Map<string, string[]>()),
    leasesByMac(client, facts.interfaces.map((i) => i.name), signal),
  ]);
  for (const [mac, ips] of agent) leases.set(mac, ips);
  return leases;
}
