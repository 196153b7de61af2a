// The libvirt plugin: VMs (hypervisor port) and networks (networks port) through libvirtd, spoken to
// with our own remote-protocol client (./rpc), so no native addon is needed.
import path from 'node:path';
import { definePlugin, hypervisorPort, networksPort } from '../../plugin-api/index.js';
import { libvirtConfigSchema, type LibvirtPluginConfig } from './config.js';
import type { LibvirtPluginDeps } from './deps.js';
import { LibvirtNetworkManager } from './network/LibvirtNetworkManager.js';
import { LibvirtConnectionManager } from './rpc/index.js';
import { LibvirtHypervisor } from './vm/index.js';
import { checkContextUri, type UriPolicy } from './uriPolicy.js';

export const libvirtPlugin = definePlugin<LibvirtPluginConfig>({
  id: 'libvirt',
  description: 'VMs and networks on libvirt (qemu:///system, qemu+ssh://…, test+unix:///default)',
  apiVersion: '^1.0.0',
  provides: [networksPort, hypervisorPort],
  configSchema: libvirtConfigSchema,
  init({ config, log, dataDir }) {
    const uriPolicy: UriPolicy = { allowedParams: config.contextUriParams ?? [], trusted: [config.uri] };
    const connections = new LibvirtConnectionManager({
      keepaliveIntervalMs: config.keepaliveIntervalMs,
      connectTimeoutMs: config.connectTimeoutMs,
      callTimeoutMs: config.callTimeoutMs,
      // Checked again here, not only at ContextCreate: contexts stored before the policy, or by a
      // daemon with a looser config sharing the state store, must not get through either.
      checkUri: (uri) => checkContextUri(uri, uriPolicy),
      log: log.child({ component: 'libvirt-rpc' }),
    });
    const deps: LibvirtPluginDeps = { config, connections, log, stateDir: config.stateDir || dataDir };
    // Connect to the default URI early so the first RPC does not pay for the handshake; a daemon
    // that is down is reported by health() and retried in the background.
    connections.get(config.uri);
    const hypervisor = new LibvirtHypervisor({
      clientFor: (uri) => connections.get(uri),
      stateDir: path.join(deps.stateDir, 'vms'),
      domainType: config.domainType,
      defaultUri: config.uri,
      uriPolicy,
      // The daemon's data dir (plugin data dirs are <data>/plugins/<id>) and the VM state dir are its own.
      ownedDirs: [path.dirname(path.dirname(dataDir)), deps.stateDir],
      log: log.child({ component: 'libvirt-vm' }),
    });
    // Files of runs a crash cut short: swept once libvirtd answers, in the background.
    const stopSweep = new AbortController();
    void hypervisor.sweepAtStart({ signal: stopSweep.signal, log, context: {
      name: '', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: '',
      insecureRegistry: false, current: false, created: '' } });
    return {
      implementations: {
        [networksPort.id]: new LibvirtNetworkManager({ connections, defaultUri: config.uri }),
        [hypervisorPort.id]: hypervisor,
      },
      shutdown: () => {
        stopSweep.abort();
        return connections.closeAll();
      },
    };
  },
});

export default libvirtPlugin;
