// The CLI's own view of the contract: proto/vm.proto loaded at runtime, with the same loader options
// as the daemon, so both sides agree on field casing (camelCase), int64 (strings) and enums (names).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** dist/src/cli/proto.js → <repo>/proto (also src/cli/proto.ts → <repo>/proto when run from source). */
export const protoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../proto');
const fromSource = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto');

export const loaderOptions = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

let cached: grpc.ServiceClientConstructor | undefined;

/** The VMService client constructor, loaded once per process. */
export function vmServiceClient(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const dir = import.meta.url.includes('/dist/') ? protoDir : fromSource;
  const def = protoLoader.loadSync(path.join(dir, 'vm.proto'), { ...loaderOptions, includeDirs: [dir] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } };
  };
  cached = pkg.vmregistry.v1.VMService;
  return cached;
}
