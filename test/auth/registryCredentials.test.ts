import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialsFor, hostAllowed, hostKey } from '../../src/plugins/auth-oidc/registryCredentials.js';
import type { Session } from '../../src/plugins/auth-oidc/session.js';

const base: Session = { issuer: 'i', clientId: 'c', username: 'u', accessToken: 'AT', tokenType: 'bearer', expiresAt: 0 };

describe('registry credentials from a session', () => {
  it('prefers the refresh token as an identity token, else the access token as a Basic password', () => {
    assert.deepEqual(credentialsFor({ ...base, refreshToken: 'RT' }), { kind: 'identityToken', username: 'u', token: 'RT' });
    assert.deepEqual(credentialsFor(base), { kind: 'basic', username: 'u', password: 'AT' });
  });

  it('matches registry hosts by host[:port], whatever form the context URL takes', () => {
    assert.equal(hostKey('https://Registry.Example:443/v2/'), 'registry.example');
    assert.equal(hostKey('localhost:5000'), 'localhost:5000');
    assert.equal(hostKey('http://127.0.0.1:5000'), '127.0.0.1:5000');
    assert.ok(hostAllowed('127.0.0.1:5000', 'http://127.0.0.1:5000', []));
    assert.ok(hostAllowed('registry.example', 'https://registry.example', []));
    assert.ok(hostAllowed('mirror.example', 'https://registry.example', ['mirror.example']));
    assert.equal(hostAllowed('docker.io', 'https://registry.example', []), false);
    assert.equal(hostAllowed('127.0.0.1:5001', '127.0.0.1:5000', []), false);
    assert.equal(hostAllowed('anything', '', []), false);
  });
});
