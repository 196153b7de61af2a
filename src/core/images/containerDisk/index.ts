// KubeVirt containerDisks (issue 20): what the registry plugin needs to pull and push them.
export { extractDisk, type DiskLayer, type ExtractedDisk } from './extractDisk.js';
export { decompressLayer, layerCompression, type LayerCompression } from './decompress.js';
export { tarHeader, tarPadding, TAR_BLOCK } from '../tar.js';
