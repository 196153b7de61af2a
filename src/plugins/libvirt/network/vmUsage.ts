// Which running domains use which network: read from the live XML of every active domain.
import { ConnectListDomainsFlags, type LibvirtClient, type CallOptions } from '../rpc/index.js';
import { attr, child, findAll, parseXml } from '../xml/index.js';
import { hasCode } from '../../../plugin-api/index.js';

export interface DomainNetworkUse {
  /** network name → running domains attached through `<interface type='network'>`. */
  byNetwork: Map<string, Set<string>>;
  /** bridge → running domains attached through `<interface type='bridge'>`. */
  byBridge: Map<string, Set<string>>;
}

export async function runningDomainNetworkUse(client: LibvirtClient, opts?: CallOptions): Promise<DomainNetworkUse> {
  const doms = await client.listAllDomains(ConnectListDomainsFlags.ACTIVE, opts);
  const use: DomainNetworkUse = { byNetwork: new Map(), byBridge: new Map() };
  const add = (m: Map<string, Set<string>>, k: string | undefined, dom: string) => {
    if (!k) return;
    let s = m.get(k);
    if (!s) m.set(k, (s = new Set()));
    s.add(dom);
  };
  await Promise.all(doms.map(async (d) => {
    let xml: string;
    try {
      xml = await client.domainGetXmlDesc(d, 0, opts);
    } catch (err) {
      // A domain that stopped or vanished since the listing no longer counts.
      if (hasCode(err, 'NOT_FOUND', 'FAILED_PRECONDITION')) return;
      throw err;
    }
    for (const iface of findAll(parseXml(xml), 'devices/interface')) {
      const src = child(iface, 'source');
      if (iface.attrs.type === 'network') add(use.byNetwork, attr(src, 'network'), d.name);
      else if (iface.attrs.type === 'bridge') add(use.byBridge, attr(src, 'bridge'), d.name);
    }
  }));
  return use;
}

/** Running domains on network `name` whose bridge is `bridge`. */
export function domainsOn(use: DomainNetworkUse, name: string, bridge: string): Set<string> {
  const out = new Set(use.byNetwork.get(name) ?? []);
  if (bridge) for (const d of use.byBridge.get(bridge) ?? []) out.add(d);
  return out;
}
