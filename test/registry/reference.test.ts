import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReference, isLoopbackHost, manifestTarget, parseReference, parseRegistryUrl } from '../../src/plugins/registry-oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it('splits host, repository, tag and digest', () => {
    assert.deepEqual(parseReference('localhost:5000/vm/alpine:3.20'), { host: 'localhost:5000', scheme: undefined, repository: 'vm/alpine', tag: '3.20', digest: undefined });
    assert.deepEqual(parseReference(`reg.example/a/b/c@${D}`), { host: 'reg.example', scheme: undefined, repository: 'a/b/c', tag: undefined, digest: D });
    assert.deepEqual(parseReference(`localhost/x:1@${D}`), { host: 'localhost', scheme: undefined, repository: 'x', tag: '1', digest: D });
  });
  it('defaults the tag to latest and the host to the context registry', () => {
    const r = parseReference('vm/alpine', 'https://Registry.Example:443/');
    assert.equal(r.host, 'registry.example:443');
    assert.equal(r.scheme, 'https');
    assert.equal(r.tag, 'latest');
    assert.equal(manifestTarget(r), 'latest');
    assert.equal(formatReference(r), 'registry.example:443/vm/alpine:latest');
  });
  it('treats a first component without dot, colon or localhost as part of the name', () => {
    assert.equal(parseReference('team/vm:1', 'r.example').repository, 'team/vm');
  });
  it('a host-less reference without a context registry is FAILED_PRECONDITION', () => {
    assert.throws(() => parseReference('vm/alpine:1'), (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION');
  });
  for (const bad of ['', 'Vm/Alpine:1', 'r.example/vm//x', 'r.example/vm:bad tag', 'r.example/vm@sha256:xyz', 'r.example/-vm:1', 'r.example/:1']) {
    it(`rejects ${JSON.stringify(bad)} as INVALID_ARGUMENT`, () => {
      assert.throws(() => parseReference(bad, 'r.example'), (e: Error & { code?: string; field?: string }) => e.code === 'INVALID_ARGUMENT' && e.field === 'reference');
    });
  }
  it('digest references address the manifest by digest', () => {
    assert.equal(manifestTarget(parseReference(`r.example/vm:1@${D}`)), D);
  });
});

describe('registry URLs and loopback', () => {
  it('parses bare hosts and URLs', () => {
    assert.deepEqual(parseRegistryUrl('localhost:5000'), { host: 'localhost:5000', scheme: undefined });
    assert.deepEqual(parseRegistryUrl('http://127.0.0.1:5055/'), { host: '127.0.0.1:5055', scheme: 'http' });
    assert.throws(() => parseRegistryUrl('https://r.example/path'), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT');
  });
  it('knows loopback hosts', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.3.4.5', '[::1]:5000']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['registry.example', '10.0.0.1:5000', 'localhost.example']) assert.ok(!isLoopbackHost(h), h);
  });
});
