// The daemon's image store, built from its config (the composition root calls this).
import type { DaemonConfig } from '../config/DaemonConfig.js';
import type { Logger } from '../ports/common.js';
import type { ImageStore } from '../ports/images.js';
import { hostPathsOf } from '../hostfs/HostPaths.js';
import { OciImageStore } from './OciImageStore.js';

export async function createImageStore(config: DaemonConfig, log: Logger): Promise<ImageStore> {
  const store = new OciImageStore({
    dataDir: config.dataDir,
    log: log.child({ component: 'images' }),
    windowSize: config.images.windowSizeMiB * 1024 * 1024,
    level: config.images.compressionLevel,
    maxDiskSize: config.images.maxDiskGiB * 1024 ** 3,
    hostPaths: hostPathsOf(config),
  });
  await store.init();
  return store;
}
