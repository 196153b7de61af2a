// The public face for plugin authors: `import { definePlugin, hypervisorPort } from 'vmregistry/plugin-api'`.
// Everything a third-party plugin needs, and nothing that ties it to the host's internals (no tsyringe).
export * from '../core/plugins/definePlugin.js';
export * from '../core/plugins/refs.js';
export type { ConfigSchema } from '../core/plugins/configSchema.js';
export * from '../core/errors.js';
export { assertDigest, isDigest, sha256Of } from '../core/images/digest.js';
export {
  DEFAULT_TAG, parseReference, splitReference, type ParsedReference, type ReferenceParts,
} from '../core/images/reference.js';
export * from '../core/names.js';
export * from '../core/yaml/loadYaml.js';
export * from '../core/net/ipv4.js';
export { sleep } from '../core/async/sleep.js';
export { Limiter } from '../core/async/limiter.js';
export { silentLogger } from '../core/log/silentLogger.js';
export type * from '../core/ports/index.js';
export { MAX_STOP_TIMEOUT_SECONDS } from '../core/vms/stopOptions.js';
export * from '../core/net/hostEntries.js';
export { metaDataWithDefaults } from '../core/vms/metaData.js';
export * from '../core/images/containerDisk/index.js';
export { sshBanner } from '../core/net/sshBanner.js';
