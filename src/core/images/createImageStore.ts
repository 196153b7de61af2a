// Placeholder until the OCI image store lands: every image RPC fails with a precise status.
import { FailedPreconditionError } from '../errors.js';
import type { DaemonConfig } from '../config/DaemonConfig.js';
import type { Logger } from '../ports/common.js';
import type { ImageStore } from '../ports/images.js';

export function createImageStore(_config: DaemonConfig, _log: Logger): ImageStore {
  const fail = () => { throw new FailedPreconditionError('the local image store is not available in this build'); };
  return new Proxy({}, { get: (_t, p) => (p === 'then' ? undefined : fail) }) as ImageStore;
}
