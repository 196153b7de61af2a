import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfig } from '../../src/core/plugins/configSchema.js';
import { configSchema, type AuthOidcConfig } from '../../src/plugins/auth-oidc/config.js';
import { registrarFor } from '../../src/plugins/auth-oidc/registrarFor.js';

const config = (raw: unknown) => checkConfig(configSchema, raw).value as AuthOidcConfig;

describe('registrarFor', () => {
  it('uses the context\'s own SCIM target over the plugin-wide one', () => {
    const c = config({ scim: { url: 'https://id.example/scim/v2/', token: 't' }, contexts: { lab: { scim: { url: 'https://lab.example/scim' } } } });
    assert.equal(registrarFor(c, 'default').target, 'https://id.example/scim/v2');
    assert.equal(registrarFor(c, 'lab').target, 'https://lab.example/scim');
  });

  it('refuses with what to configure when there is no SCIM target', () => {
    assert.throws(() => registrarFor(config({}), 'default'),
      (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /scim\.url/.test(e.message));
  });

  it('has schema defaults that keep the password grant off', () => {
    const c = config({});
    assert.equal(c.allowPasswordGrant, false);
    assert.equal(c.clientId, 'vmr');
    assert.equal(c.refreshSkewSeconds, 60);
  });
});
