// Debian's docker-registry behind a recording proxy, and image stores and registry clients that are disposed of
// after the suite. Call inside a describe: its before() starts the registry, its after() stops everything.
import { after, before } from 'node:test';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { requireService } from '../../support/services.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { startRegistryProxy, type RegistryProxy } from '../../support/registryProxy.js';
import { TempImageStore } from '../../support/tempImageStore.js';

export type ClientConfig = Partial<typeof defaultConfig>;

export interface RegistryRig {
  reg: TestRegistry;
  proxy: RegistryProxy;
  newStore(): Promise<TempImageStore>;
  /** A client of `store` with the plugin's defaults, then the suite's `base`, then `over`. */
  newClient(store: TempImageStore, over?: ClientConfig): OciRegistryClient;
}

export function registryRig(base: ClientConfig = {}): RegistryRig {
  const stores: TempImageStore[] = [];
  const clients: OciRegistryClient[] = [];
  const rig: RegistryRig = {
    reg: undefined as unknown as TestRegistry,
    proxy: undefined as unknown as RegistryProxy,
    newStore: async () => { const s = await TempImageStore.create(); stores.push(s); return s; },
    newClient: (store, over = {}) => {
      const c = new OciRegistryClient(store, { ...defaultConfig, ...base, ...over });
      clients.push(c);
      return c;
    },
  };
  before(async () => {
    await requireService('packages');
    rig.reg = await startRegistry();
    rig.proxy = await startRegistryProxy(rig.reg.host);
  });
  after(async () => {
    for (const c of clients) await c.close();
    await rig.proxy?.stop();
    await rig.reg?.stop();
    for (const s of stores) await s.dispose();
  });
  return rig;
}
