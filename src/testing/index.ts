// Test helpers for the daemon and for plugin authors: `import { startTestDaemon } from 'vmregistry/testing'`.
export { startTestDaemon, type TestDaemon, type TestDaemonOptions } from './startTestDaemon.js';
export { VmClient } from './client.js';
export { fakeAuthPlugin, fakeRegistryPlugin } from './fakePlugins.js';
export { InMemoryAuthProvider } from './fakes/InMemoryAuthProvider.js';
export { InMemoryRegistry } from './fakes/InMemoryRegistry.js';
