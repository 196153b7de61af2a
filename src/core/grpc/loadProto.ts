import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { PACKAGE_ROOT } from '../version.js';

export const PROTO_DIR = path.join(PACKAGE_ROOT, 'proto');
export const SERVICE_NAME = 'vmregistry.v1.VMService';

/** The daemon and the CLI load the contract with the same options: camelCase fields, int64 as strings, enums as names. */
export const PROTO_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export function loadVmProto(): protoLoader.PackageDefinition {
  return protoLoader.loadSync('vm.proto', PROTO_OPTIONS);
}
