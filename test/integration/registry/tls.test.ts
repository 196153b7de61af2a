import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { callContext } from '../../support/callContext.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { optedOut } from '../../support/services.js';
import { makeTestImage, TempImageStore } from '../../support/tempImageStore.js';

describe('registry-oci over HTTPS with a private CA', { skip: optedOut('registry') }, () => {
  let reg: TestRegistry;
  const stores: TempImageStore[] = [];
  const clients: OciRegistryClient[] = [];
  const newStore = async () => { const s = await TempImageStore.create(); stores.push(s); return s; };
  const newClient = (s: TempImageStore, over: Partial<typeof defaultConfig> = {}) => {
    const c = new OciRegistryClient(s, { ...defaultConfig, retries: 1, minBackoffMs: 10, ...over });
    clients.push(c);
    return c;
  };
  before(async () => { reg = await startRegistry({ kind: 'none' }, { tls: true }); });
  after(async () => {
    for (const c of clients) await c.close();
    await reg?.stop();
    for (const s of stores) await s.dispose();
  });

  it('trusts the registry through caFile, and refuses it without (FAILED_PRECONDITION) unless the context is insecure', async () => {
    const src = await newStore();
    const { digest } = await makeTestImage(src, 'vm/tls:1', [1 << 20], 61);
    const ctx = () => callContext({ registryUrl: reg.host });
    const pushed = await newClient(src, { caFile: reg.caFile! }).push('vm/tls:1', '', ctx());
    assert.equal(pushed.digest, digest);
    const h = await newClient(src, { caFile: reg.caFile! }).health(ctx());
    assert.equal(h.status, 'SERVING');
    assert.equal(h.details?.url, `https://${reg.host}`);

    await assert.rejects(newClient(await newStore()).pull('vm/tls:1', ctx()),
      (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /caFile/.test(e.message));
    const pulled = await newClient(await newStore()).pull('vm/tls:1', callContext({ registryUrl: reg.host, insecureRegistry: true }));
    assert.equal(pulled.digest, digest);
  });
});
