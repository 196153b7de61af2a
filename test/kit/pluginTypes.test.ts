// The plugin kit's types hold a plugin author to the ports at compile time (the `@ts-expect-error` lines
// below fail the build if they ever compile), and the loader holds JavaScript plugins to them at startup.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import {
  authPort, composePort, definePlugin, registryPort, UnauthenticatedError, NotFoundError, VmrError,
  type AuthProvider, type PluginDefinition, type PluginInstance,
} from '../../src/plugin-api/index.js';
import { PluginHost } from '../../src/core/plugins/PluginHost.js';
import { silentLogger } from '../../src/core/log/logger.js';
import { InMemoryAuthProvider } from '../../src/testing/index.js';

const auth: AuthProvider = new InMemoryAuthProvider();

// Compile-time: a right id with the right shape compiles.
export const good: PluginInstance = { implementations: { [authPort.id]: auth } };
// @ts-expect-error — a port id that does not exist
export const wrongId: PluginInstance = { implementations: { 'vmregistry.auht.v1': auth } };
// @ts-expect-error — the auth port's id with an empty object
export const wrongShape: PluginInstance = { implementations: { 'vmregistry.auth.v1': {} } };
// @ts-expect-error — an auth provider given for the registry port
export const wrongPort: PluginInstance = { implementations: { [registryPort.id]: auth } };
export const inInit = definePlugin({
  id: 'typed', apiVersion: '^1.0.0', provides: [composePort],
  // @ts-expect-error — init's returned implementations are checked the same way
  init: () => ({ implementations: { [composePort.id]: { health: auth.health } } }),
});

// Error classes are types as well as values.
export function describeError(e: unknown): string {
  let unauth: UnauthenticatedError | undefined;
  if (e instanceof UnauthenticatedError) unauth = e;
  const nf: NotFoundError = new NotFoundError('x');
  const base: VmrError = nf;
  return `${unauth?.code ?? ''}${base.code}`;
}

function host(def: PluginDefinition) {
  return new PluginHost({
    plugins: { [def.id]: {} }, required: [], bindings: {}, baseDir: process.cwd(), dataDir: os.tmpdir(), version: '0.0.0-test',
    log: silentLogger(), corePorts: new Map(), definitions: { [def.id]: def },
  });
}

describe('plugin kit: implementations checked at load', () => {
  it('refuses an implementation that lacks methods of its port, naming the plugin, port and methods', async () => {
    let stopped = false;
    const js = definePlugin({
      id: 'half-auth', apiVersion: '^1.0.0', provides: [authPort],
      init: () => ({ implementations: { [authPort.id]: { health: auth.health, login: auth.login } } as never, shutdown: () => { stopped = true; } }),
    });
    await assert.rejects(host(js).start(), (e: any) => {
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, /plugin "half-auth"/);
      assert.match(e.message, /vmregistry\.auth\.v1 lacks methods logout, register, registryCredentials/);
      return true;
    });
    assert.equal(stopped, true, 'the half-started plugin is shut down');
  });

  it('refuses an implementation that is not an object', async () => {
    const js = definePlugin({ id: 'null-auth', apiVersion: '^1.0.0', provides: [authPort], init: () => ({ implementations: { [authPort.id]: null } as never }) });
    await assert.rejects(host(js).start(), /plugin "null-auth".*vmregistry\.auth\.v1 is null, not an object/);
  });

  it('accepts a complete implementation', async () => {
    const ok = definePlugin({ id: 'ok-auth', apiVersion: '^1.0.0', provides: [authPort], init: () => ({ implementations: { [authPort.id]: auth } }) });
    const h = host(ok);
    await h.start();
    assert.equal(h.get(authPort), auth);
    await h.stop();
  });
});
