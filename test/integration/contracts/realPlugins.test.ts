// The real plugins against the port contracts the fakes pass (test/fakes/contracts.test.ts):
// registry-oci on Debian's docker-registry, auth-oidc on the in-process OpenID Provider.
import { after, before, describe } from 'node:test';
import { runAuthContract, runRegistryContract } from '../../../src/testing/contracts/index.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { testCallContext, defaultContextInfo } from '../../../src/testing/callContext.js';
import { optedOut, requireService } from '../../support/services.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { makeTestImage, TempImageStore } from '../../support/tempImageStore.js';
import { startAuthPlugin, type AuthHarness } from '../../support/oidc/harness.js';
import { startTestIdp, type TestIdp } from '../../support/oidc/provider.js';
import { uniqueName } from '../../support/unique.js';

describe('registry-oci on docker-registry', { skip: optedOut('registry') }, () => {
  let reg: TestRegistry;
  before(async () => {
    await requireService('packages');
    reg = await startRegistry();
  });
  after(async () => { await reg?.stop(); });

  runRegistryContract('registry-oci', async () => {
    const images = await TempImageStore.create();
    const client = new OciRegistryClient(images, { ...defaultConfig });
    return {
      registry: client, images,
      seed: async (ref: string) => ({ digest: (await makeTestImage(images, ref, [64 << 10, 3000])).digest }),
      dispose: async () => { await client.close(); await images.dispose(); },
    };
  }, { callContext: () => testCallContext({ context: defaultContextInfo({ registryUrl: reg.host, insecureRegistry: true }) }) });
});

describe('auth-oidc on the in-process provider', () => {
  let idp: TestIdp;
  let h: AuthHarness | undefined;
  const user = { username: uniqueName('ct'), password: 'contract-pass-42' };
  before(async () => {
    idp = await startTestIdp();
    idp.accounts.add(user.username, user.password);
  });
  after(async () => { await idp?.stop(); });

  runAuthContract('auth-oidc', async () => {
    h = await startAuthPlugin({ authServer: idp.issuer }, {
      allowPasswordGrant: true, resource: idp.audience, scim: { url: idp.scimUrl, token: idp.scimToken },
    });
    return { auth: h.auth, user, dispose: async () => { await h?.close(); h = undefined; } };
  }, { registers: true, callContext: () => h!.ctx() });
});
