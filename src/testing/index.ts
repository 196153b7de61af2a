// Test helpers for the daemon and for plugin authors: `import { startTestDaemon } from 'vmregistry/testing'`.
export { startTestDaemon, type TestDaemon, type TestDaemonOptions } from './startTestDaemon.js';
export { VmClient } from './client.js';
// The contract's message types by RPC name (generated from proto/), as VmClient.unary uses them.
export type { ClientRequestOf, ClientResponseOf, RpcName } from '../core/grpc/messages.js';
export { fakeAuthPlugin, fakeLibvirtPlugin, fakeRegistryPlugin } from './fakePlugins.js';
export { InMemoryAuthProvider } from './fakes/InMemoryAuthProvider.js';
export { InMemoryRegistry } from './fakes/InMemoryRegistry.js';
// Strict fakes of the ports (they pass the contract suites in ./contracts), and RunVM without an image store.
export * from './callContext.js';
export * from './fakes/fakeControls.js';
export * from './fakes/InMemoryNetworkManager.js';
export * from './fakes/InMemoryHypervisor.js';
export * from './fakes/FakeVmService.js';
// Contract suites for every pluggable port, and the gRPC status codes the daemon answers with.
export * from './contracts/index.js';
export { status as GrpcStatus } from '@grpc/grpc-js';
export { GRPC_STATUS_OF } from '../core/grpc/statusMapping.js';
