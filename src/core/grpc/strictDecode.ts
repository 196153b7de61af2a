// Strict request decoding. protobufjs reads what it can: a length prefix longer than the rest of the
// message is decoded as whatever remains, a string field sent as a number is read as a length, and a
// corrupted request can still act. Reference implementations (Go, C++, Python) refuse such bytes; so do
// we, before any handler runs: each request's wire format is walked against its message descriptor
// (every length within its parent, wire types as declared, strings valid UTF-8, bounded nesting).
import type * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { InvalidArgumentError } from '../errors.js';

/** Nesting of messages inside messages; ours nest a few levels (Go allows 10 000, C++ 100). */
const MAX_NESTING = 100;
const MALFORMED = Symbol.for('vmregistry.grpc.malformed.v1');

interface FieldDesc { number: number; type: string; typeName: string; label: string }
interface MessageDesc { name?: string; field?: FieldDesc[]; nestedType?: MessageDesc[] }
interface Scope { desc: MessageDesc; fullName: string; parent?: Scope }

/** A request that did not decode exactly: what the handler runtime gets instead of the message. */
export interface Malformed { readonly [MALFORMED]: true; readonly reason: string }

export function malformedReason(req: unknown): string | undefined {
  return typeof req === 'object' && req !== null && (req as Record<symbol, unknown>)[MALFORMED] === true ? (req as Malformed).reason : undefined;
}

const malformed = (reason: string): Malformed => ({ [MALFORMED]: true, reason });

/** Refuses a malformed request before its handler runs. */
export function assertWellFormed(req: unknown): void {
  const reason = malformedReason(req);
  if (reason !== undefined) throw new InvalidArgumentError(`malformed request: ${reason}`);
}

/** The messages of a client stream, refusing the first malformed one. */
export async function* wellFormed<T>(messages: AsyncIterable<T>): AsyncGenerator<T> {
  for await (const m of messages) {
    assertWellFormed(m);
    yield m;
  }
}

const SCALAR_WIRE: Record<string, number> = {
  TYPE_DOUBLE: 1, TYPE_FIXED64: 1, TYPE_SFIXED64: 1,
  TYPE_FLOAT: 5, TYPE_FIXED32: 5, TYPE_SFIXED32: 5,
  TYPE_INT32: 0, TYPE_INT64: 0, TYPE_UINT32: 0, TYPE_UINT64: 0, TYPE_SINT32: 0, TYPE_SINT64: 0, TYPE_BOOL: 0, TYPE_ENUM: 0,
  TYPE_STRING: 2, TYPE_BYTES: 2, TYPE_MESSAGE: 2,
};

class WireError extends Error {}

/**
 * Replaces every method's request deserializer with one that checks the bytes first. A bad request
 * becomes a Malformed value (not an exception: grpc-js would answer INTERNAL), which the RpcRuntime
 * refuses with INVALID_ARGUMENT.
 */
export function strictRequests(service: grpc.ServiceDefinition, pkgDef: PackageDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const reqType = (method as { requestType?: { type?: MessageDesc } }).requestType;
    const fullName = Object.keys(pkgDef).find((k) => (pkgDef[k] as { type?: unknown }).type === reqType?.type)
      ?? Object.keys(pkgDef).find((k) => reqType?.type?.name && k.endsWith(`.${reqType.type.name}`));
    const scope: Scope | undefined = reqType?.type && fullName ? { desc: reqType.type, fullName } : undefined;
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (buf: Buffer) => {
        try {
          if (scope) checkMessage(buf, 0, buf.length, scope, pkgDef, 0);
          return decode(buf);
        } catch (err) {
          return malformed(err instanceof WireError ? err.message : `the request cannot be decoded: ${(err as Error).message}`);
        }
      },
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return out as grpc.ServiceDefinition;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function checkMessage(buf: Buffer, start: number, end: number, scope: Scope, pkgDef: PackageDefinition, depth: number): void {
  if (depth > MAX_NESTING) throw new WireError(`the request nests messages deeper than ${MAX_NESTING} levels`);
  const where = (f: number) => `field ${f} of ${scope.fullName}`;
  let pos = start;
  const varint = (what: string): number => {
    let v = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new WireError(`truncated varint in ${what}`);
      const b = buf[pos++]!;
      if (i < 7) v += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return v;
    }
    throw new WireError(`varint longer than 10 bytes in ${what}`);
  };
  while (pos < end) {
    const tag = varint(`a field tag of ${scope.fullName}`);
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (number < 1 || number > 536_870_911) throw new WireError(`invalid field number ${number} in ${scope.fullName}`);
    const field = scope.desc.field?.find((f) => f.number === number);
    const expected = field ? SCALAR_WIRE[field.type] : undefined;
    // A repeated scalar may come packed (length-delimited) as well as one value per tag.
    const packable = field && field.label === 'LABEL_REPEATED' && expected !== undefined && expected !== 2;
    if (field && expected !== undefined && wire !== expected && !(packable && wire === 2)) {
      throw new WireError(`${where(number)} (${field.type.slice(5).toLowerCase()}) has wire type ${wire}, not ${expected}`);
    }
    switch (wire) {
      case 0: varint(where(number)); break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const len = varint(where(number));
        if (len > end - pos) throw new WireError(`${where(number)} claims ${len} bytes but only ${end - pos} remain`);
        const s = pos;
        pos += len;
        if (!field) break;
        if (field.type === 'TYPE_STRING') {
          try {
            utf8.decode(buf.subarray(s, pos));
          } catch {
            throw new WireError(`${where(number)} is not valid UTF-8`);
          }
        } else if (field.type === 'TYPE_MESSAGE') {
          const sub = resolve(field.typeName, scope, pkgDef);
          if (sub) checkMessage(buf, s, pos, sub, pkgDef, depth + 1);
        } else if (packable) {
          checkPacked(buf, s, pos, expected!, where(number));
        }
        break;
      }
      default:
        throw new WireError(`${where(number)} has wire type ${wire}, which proto3 does not use`);
    }
    if (pos > end) throw new WireError(`${where(number)} runs past the end of its message`);
  }
}

function checkPacked(buf: Buffer, start: number, end: number, wire: number, what: string): void {
  if (wire === 1 || wire === 5) {
    if ((end - start) % (wire === 1 ? 8 : 4) !== 0) throw new WireError(`packed ${what} has a partial value`);
    return;
  }
  let pos = start;
  while (pos < end) {
    for (let i = 0; ; i++) {
      if (pos >= end) throw new WireError(`truncated varint in packed ${what}`);
      if (i >= 10) throw new WireError(`varint longer than 10 bytes in packed ${what}`);
      if ((buf[pos++]! & 0x80) === 0) break;
    }
  }
}

/** A field's message type: nested in the message (or its parents) first, then by package name. */
const resolved = new WeakMap<PackageDefinition, Map<string, Scope | undefined>>();

function resolve(typeName: string, scope: Scope, pkgDef: PackageDefinition): Scope | undefined {
  let cache = resolved.get(pkgDef);
  if (!cache) resolved.set(pkgDef, (cache = new Map()));
  const key = `${scope.fullName}|${typeName}`;
  if (!cache.has(key)) cache.set(key, lookup(typeName, scope, pkgDef));
  return cache.get(key);
}

function lookup(typeName: string, scope: Scope, pkgDef: PackageDefinition): Scope | undefined {
  const name = typeName.replace(/^\./, '');
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const nested = s.desc.nestedType?.find((n) => n.name === name);
    if (nested) return { desc: nested, fullName: `${s.fullName}.${name}`, parent: s };
  }
  const key = pkgDef[name] ? name : Object.keys(pkgDef).find((k) => k.endsWith(`.${name}`));
  const t = key ? (pkgDef[key] as { type?: MessageDesc }).type : undefined;
  return t && key ? { desc: t, fullName: key } : undefined;
}
