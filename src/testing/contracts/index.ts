// Contract suites for every pluggable port: run one against your implementation to show it behaves as the
// daemon expects (`import { runAuthContract } from 'vmregistry/testing'`). They use node:test.
export * from './support.js';
export * from './hypervisor.js';
export * from './network.js';
export * from './registry.js';
export * from './auth.js';
export * from './compose.js';
