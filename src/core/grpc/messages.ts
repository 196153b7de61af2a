// The contract's message types by RPC name, from the types `npm run build` generates from proto/
// (src/generated/proto, see scripts/gen-proto-types.mjs). Type-only: nothing here exists at run time.
import type { MethodDefinition } from '@grpc/proto-loader';
import type { Progress } from '../../generated/proto/vmregistry/v1/Progress.js';
import type { VMServiceDefinition } from '../../generated/proto/vmregistry/v1/VMService.js';

type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };

/** Every RPC of VMService. */
export type RpcName = KnownKeys<VMServiceDefinition> & string;

type Def<M extends RpcName> = VMServiceDefinition[M];

/** What a handler receives: decoded with the loader's options (camelCase, int64 as strings, enum names, defaults, oneof names). */
export type RequestOf<M extends RpcName> = Def<M> extends MethodDefinition<object, object, infer O, object> ? O : never;
/** What a handler returns (or emits, for a server stream): any field may be left out, int64 as number or string. */
export type ResponseOf<M extends RpcName> = Def<M> extends MethodDefinition<object, infer I, object, object> ? I : never;
/** What a client sends. */
export type ClientRequestOf<M extends RpcName> = Def<M> extends MethodDefinition<infer I, object, object, object> ? I : never;
/** What a client receives, decoded like RequestOf. */
export type ClientResponseOf<M extends RpcName> = Def<M> extends MethodDefinition<object, object, object, infer O> ? O : never;

/** The progress event every streaming image RPC sends (its `progress` oneof member). */
export interface ProgressEvent {
  progress: Progress;
}
