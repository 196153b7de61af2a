// registry-oci: moves VM images between the local image store and OCI registries.
import { authPort, definePlugin, imagesPort, registryPort } from '../../plugin-api/index.js';
import { configSchema, type RegistryOciConfig } from './config.js';
import { OciRegistryClient } from './OciRegistryClient.js';

export { OciRegistryClient, type PushResult } from './OciRegistryClient.js';
export type { RegistryOciConfig } from './config.js';

const registryOciPlugin = definePlugin<RegistryOciConfig>({
  id: 'registry-oci',
  description: 'OCI distribution client: pull, push (chunked, resumable), token and basic auth',
  apiVersion: '^1.0.0',
  provides: [registryPort],
  requires: [imagesPort],
  optional: [authPort],
  configSchema,
  init({ config, deps }) {
    const client = new OciRegistryClient(deps.get(imagesPort), config, deps.maybe(authPort));
    return {
      implementations: { [registryPort.id]: client },
      shutdown: () => client.close(),
    };
  },
});

export default registryOciPlugin;
