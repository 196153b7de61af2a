// Media types and annotation keys of the vmregistry VM image (see shared/docs/ANCHORS.md §4.2).
// The layer media type names the exact encoding (raw bytes + codec), never a container format.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const VM_ARTIFACT = 'application/vnd.vmregistry.vm.v1';
export const VM_CONFIG = 'application/vnd.vmregistry.vm.config.v1+json';
export const DISK_LAYER_PREFIX = 'application/vnd.vmregistry.disk.v1.raw+';

export const ANN_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANN_CREATED = 'org.opencontainers.image.created';
export const ANN_TITLE = 'org.opencontainers.image.title';
export const ANN_DESCRIPTION = 'org.opencontainers.image.description';
export const ANN_AUTHORS = 'org.opencontainers.image.authors';
export const ANN_SOURCE = 'org.opencontainers.image.source';
export const ANN_DISK_NAME = 'io.vmregistry.disk.name';
export const ANN_OFFSET = 'io.vmregistry.chunk.offset';
export const ANN_USIZE = 'io.vmregistry.chunk.uncompressed-size';
export const ANN_UDIGEST = 'io.vmregistry.chunk.uncompressed-digest';
export const ANN_TOTAL_USIZE = 'io.vmregistry.uncompressed-size';

export function diskLayerMediaType(codec: string): string {
  return DISK_LAYER_PREFIX + codec;
}

/** The codec of a disk layer, or undefined when the media type is not one of ours. */
export function codecOfMediaType(mediaType: string): string | undefined {
  return mediaType.startsWith(DISK_LAYER_PREFIX) ? mediaType.slice(DISK_LAYER_PREFIX.length) : undefined;
}
