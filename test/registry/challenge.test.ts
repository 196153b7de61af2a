import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScopes, parseChallenges, parseScopes } from '../../src/plugins/registry-oci/challenge.js';
import { TokenCache } from '../../src/plugins/registry-oci/tokenCache.js';

describe('parseChallenges', () => {
  it('parses a distribution Bearer challenge with several scopes', () => {
    const [c] = parseChallenges('Bearer realm="http://127.0.0.1:5058/token",service="vm-registry",scope="repository:vm/tiny:pull,push repository:other/repo:pull"');
    assert.equal(c!.scheme, 'bearer');
    assert.deepEqual(c!.params, { realm: 'http://127.0.0.1:5058/token', service: 'vm-registry', scope: 'repository:vm/tiny:pull,push repository:other/repo:pull' });
  });
  it('parses several challenges, unquoted values, escapes and odd spacing', () => {
    const cs = parseChallenges(['Basic realm="vm \\"registry\\"", charset=UTF-8', 'Bearer  realm = "https://a/t" , error="invalid_token"']);
    assert.deepEqual(cs.map((c) => c.scheme), ['basic', 'bearer']);
    assert.equal(cs[0]!.params.realm, 'vm "registry"');
    assert.equal(cs[0]!.params.charset, 'UTF-8');
    assert.equal(cs[1]!.params.realm, 'https://a/t');
    assert.equal(cs[1]!.params.error, 'invalid_token');
  });
  it('returns nothing for an empty header', () => {
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(''), []);
  });
});

describe('scopes', () => {
  it('merges actions per resource and sorts', () => {
    const s = parseScopes(['repository:vm/a:pull', 'repository:vm/a:push repository:b:pull', 'registry:catalog:*']);
    assert.deepEqual(formatScopes(s), ['registry:catalog:*', 'repository:b:pull', 'repository:vm/a:pull,push']);
  });
  it('keeps registry ports in resource names', () => {
    assert.deepEqual(formatScopes(parseScopes(['repository:host:5000/x:pull'])), ['repository:host:5000/x:pull']);
  });
});

describe('TokenCache', () => {
  it('shares one fetch between concurrent callers and renews after expiry', async () => {
    let now = 0;
    let fetches = 0;
    const cache = new TokenCache(10_000, () => now);
    const fetch = async () => ({ token: `t${++fetches}`, expiresInS: 60 });
    const all = await Promise.all(Array.from({ length: 10 }, () => cache.get('k', fetch)));
    assert.deepEqual(new Set(all), new Set(['t1']));
    now = 49_000;
    assert.equal(await cache.get('k', fetch), 't1');
    now = 51_000;
    assert.equal(await cache.get('k', fetch), 't2');
  });
  it('drops a failed fetch and only invalidates the token that was rejected', async () => {
    const cache = new TokenCache();
    await assert.rejects(cache.get('k', async () => { throw new Error('down'); }));
    assert.equal(await cache.get('k', async () => ({ token: 'a', expiresInS: 60 })), 'a');
    cache.invalidate('k', 'other');
    assert.equal(await cache.get('k', async () => ({ token: 'b', expiresInS: 60 })), 'a');
    cache.invalidate('k', 'a');
    assert.equal(await cache.get('k', async () => ({ token: 'b', expiresInS: 60 })), 'b');
  });
});
