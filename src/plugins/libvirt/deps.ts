import type { Logger } from '../../plugin-api/index.js';
import type { LibvirtPluginConfig } from './config.js';
import type { LibvirtConnectionManager } from './rpc/index.js';

/** What the plugin's port implementations share. */
export interface LibvirtPluginDeps {
  config: LibvirtPluginConfig;
  /** One self-reconnecting client per libvirt URI. */
  connections: LibvirtConnectionManager;
  log: Logger;
  /** config.stateDir, or the plugin's data dir when that is empty. */
  stateDir: string;
}
