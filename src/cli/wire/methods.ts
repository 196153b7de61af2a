// VMService's methods with their (de)serialisers (codec.ts: proto-loader's semantics, no protobufjs).
import { decodeMessage, encodeMessage } from './codec.js';
import { SERVICE, loadContract } from './descriptor.js';

export interface MethodDef {
  name: string;
  /** HTTP/2 path, `/vmregistry.v1.VMService/Name`. */
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  serialize(message: object): Buffer;
  deserialize(bytes: Buffer): Record<string, unknown>;
}

let cached: Map<string, MethodDef> | undefined;

/** Every VMService method by name, built once per process. */
export function vmServiceMethods(): Map<string, MethodDef> {
  if (cached) return cached;
  const contract = loadContract();
  const methods = new Map<string, MethodDef>();
  for (const m of contract.methods) {
    methods.set(m.name, {
      name: m.name,
      path: `/${SERVICE}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      serialize: (message) => encodeMessage(contract, m.requestType, message as Record<string, unknown>),
      deserialize: (bytes) => decodeMessage(contract, m.responseType, bytes),
    });
  }
  cached = methods;
  return methods;
}
