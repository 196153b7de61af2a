// Test kit for plugin authors and our own suites: strict in-memory fakes of the hypervisor and network ports.
export * from './callContext.js';
export * from './fakes/fakeControls.js';
export * from './fakes/InMemoryNetworkManager.js';
export * from './fakes/InMemoryHypervisor.js';
export * from './fakes/FakeVmService.js';
