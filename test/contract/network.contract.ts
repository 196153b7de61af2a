// Moved to src/testing/contracts (exported as vmregistry/testing); kept so existing imports still work.
export * from '../../src/testing/contracts/network.js';
