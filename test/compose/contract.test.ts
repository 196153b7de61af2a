// The compose runner on the in-memory fakes, built directly and through the plugin's init, holds to the
// compose contract (src/testing/contracts/compose.ts).
import { runComposeContract } from '../../src/testing/contracts/index.js';
import { checkConfig } from '../../src/core/plugins/configSchema.js';
import { hypervisorPort, imagesPort, networksPort, vmsPort, type PortRef } from '../../src/core/plugins/refs.js';
import { composePlugin } from '../../src/plugins/compose/index.js';
import { quietLogger } from '../../src/testing/callContext.js';
import { IMAGE, makeEnv } from './support.js';

runComposeContract('ComposeService on the fakes', () => ({ runner: makeEnv().runner }), { image: IMAGE });

runComposeContract('compose plugin (init) on the fakes', async () => {
  const env = makeEnv();
  const bound = new Map<string, unknown>([[vmsPort.id, env.vms], [hypervisorPort.id, env.hv], [networksPort.id, env.nm], [imagesPort.id, undefined]]);
  const deps = { get: <T>(ref: PortRef<T>) => bound.get(ref.id) as T, maybe: <T>(ref: PortRef<T>) => bound.get(ref.id) as T | undefined };
  const inst = await composePlugin.init({
    config: checkConfig(composePlugin.configSchema!, {}).value as never, deps, log: quietLogger, dataDir: '/nonexistent',
    host: { version: 'test', apiVersion: '1.0.0' },
  });
  return { runner: inst.implementations['vmregistry.compose.v1']!, dispose: () => inst.shutdown?.() };
}, { image: IMAGE });
