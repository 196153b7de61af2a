// The plugin's own tests, as its author runs them (`npm test`): the port's contract suite from
// vmregistry/testing against the plugin's auth provider, then a real daemon that loads the plugin and
// answers gRPC calls (camelCase fields, errors as gRPC status codes).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authPort, statePort } from 'vmregistry/plugin-api';
import { GRPC_STATUS_OF, GrpcStatus, runAuthContract, startTestDaemon, quietLogger } from 'vmregistry/testing';
import hello from '../index.js';

/** A state store in memory, standing in for the daemon's (port vmregistry.state.v1). */
function memoryState() {
  const spaces = new Map();
  return {
    namespace(name) {
      const m = spaces.get(name) ?? new Map();
      spaces.set(name, m);
      return {
        get: async (k) => m.get(k),
        set: async (k, v) => { m.set(k, v); },
        delete: async (k) => m.delete(k),
        keys: async (prefix = '') => [...m.keys()].filter((k) => k.startsWith(prefix)),
      };
    },
  };
}

runAuthContract('hello', async () => {
  const deps = { get: (ref) => { assert.equal(ref.id, statePort.id); return memoryState(); }, maybe: () => undefined };
  const inst = await hello.init({ config: { greeting: 'hi', secret: 'open-sesame' }, deps, log: quietLogger, dataDir: '/nonexistent', host: { version: 't', apiVersion: '1.0.0' } });
  return { auth: inst.implementations[authPort.id], user: { username: 'alice', password: 'open-sesame' }, dispose: () => inst.shutdown?.() };
});

describe('hello in a daemon', () => {
  let td;
  before(async () => { td = await startTestDaemon({ plugins: [hello], pluginConfig: { hello: { greeting: 'good day', secret: 'pw' } } }); });
  after(async () => { await td?.stop(); });

  it('logs in over gRPC and refuses a wrong password as UNAUTHENTICATED', async () => {
    const r = await td.client.call('Login', { username: 'bob', password: 'pw' });
    assert.equal(r.message, 'good day, bob!');
    assert.equal(r.accessToken, 'not-a-real-token');   // camelCase, as the daemon's proto loader gives fields
    await assert.rejects(td.client.call('Login', { username: 'bob', password: 'no' }),
      (e) => e.code === GrpcStatus.UNAUTHENTICATED && e.code === GRPC_STATUS_OF.UNAUTHENTICATED);
  });
});
