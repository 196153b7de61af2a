import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfig } from '../../src/core/plugins/configSchema.js';
import { isPluginDefinition, PLUGIN_API_VERSION } from '../../src/core/plugins/definePlugin.js';
import { composePort, hypervisorPort, imagesPort, networksPort, vmsPort, type PortRef } from '../../src/core/plugins/refs.js';
import type { ComposeRunner } from '../../src/core/ports/compose.js';
import composePlugin from '../../src/plugins/compose/index.js';
import { quietLogger } from '../../src/testing/callContext.js';
import { makeEnv, source, upOpts, webStack } from './support.js';

describe('compose plugin definition', () => {
  it('declares what it provides and needs', () => {
    assert.ok(isPluginDefinition(composePlugin));
    assert.equal(composePlugin.id, 'compose');
    assert.deepEqual(composePlugin.provides.map((r) => r.id), [composePort.id]);
    assert.deepEqual(composePlugin.requires?.map((r) => r.id), [vmsPort.id, hypervisorPort.id, networksPort.id]);
    assert.deepEqual(composePlugin.optional?.map((r) => r.id), [imagesPort.id]);
  });

  it('inits from schema defaults and provides a working runner', async () => {
    const env = makeEnv();
    const ports = new Map<string, unknown>([[vmsPort.id, env.vms], [hypervisorPort.id, env.hv], [networksPort.id, env.nm]]);
    const { value, errors } = checkConfig(composePlugin.configSchema!, {});
    assert.deepEqual(errors, []);
    assert.deepEqual(value, { parallelism: 4, defaultTimeoutSeconds: 300, stopTimeoutSeconds: 30 });
    const inst = await composePlugin.init({
      config: value as never,
      deps: { get: <T>(r: PortRef<T>) => ports.get(r.id) as T, maybe: <T>(r: PortRef<T>) => ports.get(r.id) as T | undefined },
      log: quietLogger, dataDir: '/nonexistent', host: { version: 'test', apiVersion: PLUGIN_API_VERSION },
    });
    assert.deepEqual(Object.keys(inst.implementations), [composePort.id]);
    const runner = inst.implementations[composePort.id] as ComposeRunner;
    assert.equal((await runner.health(env.ctx())).status, 'SERVING');
    const r = await runner.up(source(webStack()), upOpts(), env.ctx());
    assert.equal(r.services.length, 4);
  });
});
