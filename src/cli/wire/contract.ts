// The contract as plain data: what the CLI's codec needs of each message, enum and method, compiled from
// a protobufjs Root (build time, or the slow path at start) so the CLI never loads protobufjs to talk.
import type * as pb from 'protobufjs';

export interface FieldDesc {
  name: string;
  id: number;
  /** Scalar type name (`string`, `int64` …), or the full name of a message or enum. */
  type: string;
  kind: 'scalar' | 'enum' | 'message';
  repeated?: true;
  packed?: true;
  /** Map field: the key's scalar type (`type`/`kind` describe the value). */
  keyType?: string;
  /** Name of the oneof this field is a member of (proto3 `optional` is a synthetic one). */
  oneof?: string;
}

export interface MessageDesc {
  /** Sorted by id. */
  fields: FieldDesc[];
}

export interface MethodDesc {
  name: string;
  requestType: string;
  responseType: string;
  requestStream: boolean;
  responseStream: boolean;
}

export interface Contract {
  messages: Record<string, MessageDesc>;
  /** Enum full name → value name → number, in declaration order (the first is the default). */
  enums: Record<string, Record<string, number>>;
  methods: MethodDesc[];
}

const fullName = (t: pb.ReflectionObject) => t.fullName.replace(/^\./, '');

/** Reads what the codec needs out of a resolved protobufjs Root. */
export function compileContract(root: pb.Root, service: string, protobuf: Pick<typeof pb, 'Type' | 'Enum' | 'MapField' | 'Namespace'>): Contract {
  const contract: Contract = { messages: {}, enums: {}, methods: [] };
  const visit = (ns: pb.NamespaceBase) => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) {
        const fields = obj.fieldsArray.slice().sort((a, b) => a.id - b.id).map((f): FieldDesc => {
          f.resolve();
          const target = f.resolvedType;
          const d: FieldDesc = {
            name: f.name,
            id: f.id,
            type: target ? fullName(target) : f.type,
            kind: target instanceof protobuf.Enum ? 'enum' : target ? 'message' : 'scalar',
          };
          if (f.repeated) d.repeated = true;
          if (f.repeated && f.packed) d.packed = true;
          if (f instanceof protobuf.MapField) d.keyType = f.keyType;
          if (f.partOf) d.oneof = f.partOf.name;
          return d;
        });
        contract.messages[fullName(obj)] = { fields };
      } else if (obj instanceof protobuf.Enum) {
        contract.enums[fullName(obj)] = { ...obj.values };
      }
      if (obj instanceof protobuf.Namespace) visit(obj);
    }
  };
  visit(root);
  for (const m of root.lookupService(service).methodsArray) {
    m.resolve();
    contract.methods.push({
      name: m.name,
      requestType: fullName(m.resolvedRequestType!),
      responseType: fullName(m.resolvedResponseType!),
      requestStream: Boolean(m.requestStream),
      responseStream: Boolean(m.responseStream),
    });
  }
  return contract;
}
