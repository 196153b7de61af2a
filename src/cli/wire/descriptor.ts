// The CLI's view of the contract without parsing .proto text at every start: `npm run build` writes
// vmservice.json (the compiled contract of proto/, with camelCase fields as proto-loader makes them) beside
// this file; at start it is checked against a hash of proto/ and, when missing or stale (a plain `tsc` build,
// an edited .proto), the .proto files are parsed instead — same result, just slower.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileContract, type Contract } from './contract.js';

export const SERVICE = 'vmregistry.v1.VMService';
const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/src/cli/wire → <repo>/proto (src/cli/wire → <repo>/proto when run from source). */
export const protoDir = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../../../proto' : '../../../proto');
export const descriptorFile = path.join(here, 'vmservice.json');

export interface ContractJson extends Contract {
  /** sha256 over proto/'s files (names and contents); tells a stale descriptor. */
  protoHash: string;
}

/** Hash of every .proto under `dir`, in name order. */
export function hashProtoDir(dir = protoDir): string {
  const h = process.getBuiltinModule('node:crypto').createHash('sha256');
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.proto')).sort();
  for (const f of files) h.update(`${f}\0`).update(readFileSync(path.join(dir, f))).update('\0');
  return h.digest('hex');
}

/** Parses proto/vm.proto the way @grpc/proto-loader does (include dir = proto/, keepCase false). */
export function parseContract(dir = protoDir): ContractJson {
  // The full protobufjs (with its .proto parser) only on this slow path.
  const protobuf = process.getBuiltinModule('node:module').createRequire(import.meta.url)('protobufjs') as typeof import('protobufjs');
  const root = new protobuf.Root();
  // proto-loader's include dir: imports are relative to proto/, not to the importing file.
  root.resolvePath = (origin: string, target: string) =>
    path.isAbsolute(target) || !existsSync(path.join(dir, target)) ? protobuf.util.path.resolve(origin, target) : path.join(dir, target);
  root.loadSync(path.join(dir, 'vm.proto'), { keepCase: false });
  root.resolveAll();
  return { protoHash: hashProtoDir(dir), ...compileContract(root, SERVICE, protobuf) };
}

// The contract as JSON text, baked in by the CLI bundle (scripts/bundle-cli.mjs) from loadContract() at
// build time; undefined in the unbundled build.
declare const VMR_BUNDLE_CONTRACT: string | undefined;

/** The generated descriptor when it matches proto/, else a freshly parsed one. */
export function loadContract(): ContractJson {
  if (typeof VMR_BUNDLE_CONTRACT === 'string') return JSON.parse(VMR_BUNDLE_CONTRACT) as ContractJson;
  try {
    const json = JSON.parse(readFileSync(descriptorFile, 'utf8')) as ContractJson;
    if (json.protoHash === hashProtoDir()) return json;
  } catch {
    // not generated (plain tsc build): parse below
  }
  return parseContract();
}
