// The libvirt plugin: VMs (hypervisor port) and networks (networks port) through libvirtd, spoken to
// with our own remote-protocol client (./rpc), so no native addon is needed.
import path from 'node:path';
import { definePlugin, hypervisorPort, networksPort } from '../../plugin-api/index.js';
import { libvirtConfigSchema, type LibvirtPluginConfig } from './config.js';
import type { LibvirtPluginDeps } from './deps.js';
import { LibvirtNetworkManager } from './network/LibvirtNetworkManager.js';
import { LibvirtConnectionManager } from './rpc/index.js';
import { LibvirtHypervisor } from './vm/index.js';

export const libvirtPlugin = definePlugin<LibvirtPluginConfig>({
  id: 'libvirt',
  description: 'VMs and networks on libvirt (qemu:///system, qemu+ssh://…, test+unix:///default)',
  apiVersion: '^1.0.0',
  provides: [networksPort, hypervisorPort],
  configSchema: libvirtConfigSchema,
  init({ config, log, dataDir }) {
    const connections = new LibvirtConnectionManager({
      keepaliveIntervalMs: config.keepaliveIntervalMs,
      connectTimeoutMs: config.connectTimeoutMs,
      log: log.child({ component: 'libvirt-rpc' }),
    });
    const deps: LibvirtPluginDeps = { config, connections, log, stateDir: config.stateDir || dataDir };
    // Connect to the default URI early so the first RPC does not pay for the handshake; a daemon
    // that is down is reported by health() and retried in the background.
    connections.get(config.uri);
    return {
      implementations: {
        [networksPort.id]: new LibvirtNetworkManager({ connections, defaultUri: config.uri }),
        [hypervisorPort.id]: new LibvirtHypervisor({
          clientFor: (uri) => connections.get(uri),
          stateDir: path.join(deps.stateDir, 'vms'),
          domainType: config.domainType,
          defaultUri: config.uri,
          log: log.child({ component: 'libvirt-vm' }),
        }),
      },
      shutdown: () => connections.closeAll(),
    };
  },
});

export default libvirtPlugin;
