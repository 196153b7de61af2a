// VMService's methods with their (de)serialisers (codec.ts: proto-loader's semantics, no protobufjs).
import { decodeMessage, encodeMessage, encodeMessageParts } from './codec.js';
import { SERVICE, loadContract, type ContractJson } from './descriptor.js';

export interface MethodDef {
  name: string;
  /** HTTP/2 path, `/vmregistry.v1.VMService/Name`. */
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  serialize(message: object): Buffer;
  /** serialize as pieces to send in order (a large bytes field is not copied). */
  serializeParts(message: object): Buffer[];
  deserialize(bytes: Buffer): Record<string, unknown>;
}

let contract: ContractJson | undefined;
const built = new Map<string, MethodDef>();

/** One VMService method by name, built on first use: a command calls one or two of ~50 (issue 17: less to allocate at start). */
export function vmServiceMethod(name: string): MethodDef | undefined {
  const known = built.get(name);
  if (known) return known;
  const c = (contract ??= loadContract());
  const m = c.methods.find((x) => x.name === name);
  if (!m) return undefined;
  const def: MethodDef = {
    name: m.name,
    path: `/${SERVICE}/${m.name}`,
    requestStream: m.requestStream,
    responseStream: m.responseStream,
    serialize: (message) => encodeMessage(c, m.requestType, message as Record<string, unknown>),
    serializeParts: (message) => encodeMessageParts(c, m.requestType, message as Record<string, unknown>),
    deserialize: (bytes) => decodeMessage(c, m.responseType, bytes),
  };
  built.set(name, def);
  return def;
}

/** Every VMService method by name. */
export function vmServiceMethods(): Map<string, MethodDef> {
  const c = (contract ??= loadContract());
  return new Map(c.methods.map((m) => [m.name, vmServiceMethod(m.name)!]));
}
