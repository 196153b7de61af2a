// The messages the CLI sends and renders, typed from the types `npm run build` generates from proto/
// (src/generated/proto, @grpc/proto-loader's generator with the daemon's loader options). Type-only: nothing
// here exists at run time, so the bundle and the CLI's start time do not grow. The CLI's codec
// (wire/codec.ts) decodes exactly as proto-loader does — camelCase fields, int64 as decimal strings, enums
// as names, defaults filled in, oneof names set — so responses are the generated `__Output` types;
// test/cli/wireTypes.test.ts holds it to them.
import type { ClientRequestOf, ClientResponseOf, RpcName } from '../core/grpc/messages.js';
import type * as pb from '../generated/proto/messages.js';

export type { RpcName };
/** What the CLI may send for RPC `M` (int64 as number or string, enums as names or numbers). */
export type Req<M extends RpcName> = ClientRequestOf<M>;
/** What the CLI receives for RPC `M` (per message, for a stream). */
export type Res<M extends RpcName> = ClientResponseOf<M>;

export type Progress = pb.Progress__Output;
export type PullImageResponse = pb.PullImageResponse__Output;
export type PushImageResponse = pb.PushImageResponse__Output;
export type ExportImageResponse = pb.ExportImageResponse__Output;
export type ImportImageResponse = pb.ImportImageResponse__Output;
export type ImageOperationEvent = pb.ImageOperationEvent__Output;
export type ExportImageStreamEvent = pb.ExportImageStreamEvent__Output;
export type ImageInfo = pb.ImageInfo__Output;
export type ValidationIssue = pb.ValidationIssue__Output;
export type ContextInfo = pb.ContextInfo__Output;
export type VMNetworkInfo = pb.VMNetworkInfo__Output;
export type VMProcessInfo = pb.VMProcessInfo__Output;
export type VMInfo = pb.VMInfo__Output;
export type NetworkInfo = pb.NetworkInfo__Output;
export type ComposeServiceStatus = pb.ComposeServiceStatus__Output;
export type ComponentHealth = pb.ComponentHealth__Output;
export type HealthCheckResponse = pb.HealthCheckResponse__Output;
export type LoginResponse = pb.LoginResponse__Output;
export type ExportFormat = pb.ExportFormat__Output;
export type PushFormat = pb.PushFormat__Output;
/** A VMFile as sent (every field optional): the CLI passes the user's YAML on, the daemon validates it. */
export type VMFile = pb.VMFile;
