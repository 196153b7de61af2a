// The compose plugin: multi-VM projects from one VMCompose file (up, down, ps, restart, validate).
// It creates VMs through the core's VM service (image resolution as RunVM does it) and reads project
// state back from the hypervisor, so it keeps nothing of its own.
import { definePlugin } from '../../core/plugins/definePlugin.js';
import { composePort, hypervisorPort, imagesPort, networksPort, vmsPort } from '../../core/plugins/refs.js';
import { ComposeService } from './ComposeService.js';

export interface ComposeConfig {
  parallelism: number;
  defaultTimeoutSeconds: number;
  stopTimeoutSeconds: number;
}

export const composePlugin = definePlugin<ComposeConfig>({
  id: 'compose',
  description: 'VMCompose projects: networks and VMs from one file, in dependency order',
  apiVersion: '^1.0.0',
  provides: [composePort],
  requires: [vmsPort, hypervisorPort, networksPort],
  optional: [imagesPort],
  configSchema: {
    type: 'object',
    properties: {
      parallelism: { type: 'integer', minimum: 1, maximum: 64, default: 4, description: 'VM operations in flight at once' },
      defaultTimeoutSeconds: {
        type: 'integer', minimum: 1, default: 300,
        description: 'How long up waits for a dependency condition (ip_assigned) when neither the request nor the file says',
      },
      stopTimeoutSeconds: { type: 'integer', minimum: 0, default: 30, description: 'Graceful stop time on restart' },
    },
  },
  init({ config, deps, log }) {
    const runner = new ComposeService({
      vms: deps.get(vmsPort),
      hypervisor: deps.get(hypervisorPort),
      networks: deps.get(networksPort),
      images: deps.maybe(imagesPort),
      log,
      parallelism: config.parallelism ?? 4,
      defaultTimeoutSeconds: config.defaultTimeoutSeconds ?? 300,
      stopTimeoutSeconds: config.stopTimeoutSeconds ?? 30,
    });
    return { implementations: { [composePort.id]: runner }, shutdown: () => runner.stop() };
  },
});

export default composePlugin;
