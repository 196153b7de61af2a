// The local image store: public face for the core's wiring.
export { OciImageStore, DEFAULT_WINDOW_SIZE, type OciImageStoreOptions } from './OciImageStore.js';
export { OciContentStore } from './OciContentStore.js';
export { validateVMFile, parseVMFile, checkVMFile, assertValidVMFile, type VMFileValidation } from './validateVMFile.js';
export { parseReference, type ParsedReference } from './reference.js';
export { diskWindows } from './coverage.js';
export type { GcResult } from './gc.js';
export * from './mediaTypes.js';
