import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { authFilePaths, dockerCredentials } from '../../src/plugins/registry-oci/dockerConfig.js';
import { runCredentialHelper } from '../../src/plugins/registry-oci/credentialHelper.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('docker config credentials', () => {
  let dir: string;
  const oldPath = process.env.PATH;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-dockercfg-'));
    // A credential helper speaking the docker protocol: server URL on stdin, JSON on stdout.
    await mkdir(path.join(dir, 'bin'));
    const helper = path.join(dir, 'bin', 'docker-credential-vmrtest');
    await writeFile(helper, `#!/bin/sh
[ "$1" = get ] || exit 1
read host
case "$host" in
  helper.example) echo '{"ServerURL":"helper.example","Username":"hu","Secret":"hs"}' ;;
  token.example) echo '{"ServerURL":"token.example","Username":"<token>","Secret":"rt-1"}' ;;
  hang.example) exec sleep 30 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`);
    await chmod(helper, 0o755);
    process.env.PATH = `${path.join(dir, 'bin')}:${oldPath}`;
  });
  after(async () => {
    process.env.PATH = oldPath;
    await rm(dir, { recursive: true, force: true });
  });

  const file = async (name: string, content: unknown) => {
    const p = path.join(dir, name);
    await writeFile(p, JSON.stringify(content));
    return p;
  };

  it('decodes auths entries under every key spelling docker uses', async () => {
    const p = await file('a.json', { auths: {
      'https://r1.example/v1/': { auth: b64('u1:p:with:colons') },
      'r2.example:5000': { username: 'u2', password: 'p2' },
      'http://r3.example': { auth: b64('u3:x'), identitytoken: 'id3' },
      'r4.example': { registrytoken: 'bearer4' },
    } });
    assert.deepEqual(await dockerCredentials('r1.example', { paths: [p] }), { kind: 'basic', username: 'u1', password: 'p:with:colons' });
    assert.deepEqual(await dockerCredentials('r2.example:5000', { paths: [p] }), { kind: 'basic', username: 'u2', password: 'p2' });
    assert.deepEqual(await dockerCredentials('r3.example', { paths: [p] }), { kind: 'identityToken', username: 'u3', token: 'id3' });
    assert.deepEqual(await dockerCredentials('r4.example', { paths: [p] }), { kind: 'bearer', token: 'bearer4' });
    assert.equal(await dockerCredentials('r2.example', { paths: [p] }), undefined, 'the port is part of the key');
  });

  it('uses credHelpers per registry, then credsStore, through docker-credential-<name> get', async () => {
    const p = await file('b.json', { credHelpers: { 'helper.example': 'vmrtest' }, credsStore: 'vmrtest', auths: { 'plain.example': { auth: b64('a:b') } } });
    assert.deepEqual(await dockerCredentials('helper.example', { paths: [p] }), { kind: 'basic', username: 'hu', password: 'hs' });
    assert.deepEqual(await dockerCredentials('token.example', { paths: [p] }), { kind: 'identityToken', username: '', token: 'rt-1' });
    assert.deepEqual(await dockerCredentials('plain.example', { paths: [p] }), { kind: 'basic', username: 'a', password: 'b' });
    assert.equal(await dockerCredentials('nothing.example', { paths: [p] }), undefined);
  });

  it('a missing helper or a broken file yields no credentials instead of failing', async () => {
    assert.equal(await runCredentialHelper('does-not-exist', 'x.example'), undefined);
    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{not json');
    const good = await file('c.json', { auths: { 'x.example': { auth: b64('x:y') } } });
    assert.deepEqual(await dockerCredentials('x.example', { paths: [broken, good] }), { kind: 'basic', username: 'x', password: 'y' });
  });

  it('searches REGISTRY_AUTH_FILE, containers auth.json, then DOCKER_CONFIG like podman, skopeo and docker', () => {
    assert.deepEqual(authFilePaths({ HOME: '/h', REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/u', DOCKER_CONFIG: '/d' }),
      ['/a.json', '/run/u/containers/auth.json', '/h/.config/containers/auth.json', '/d/config.json']);
    assert.deepEqual(authFilePaths({ HOME: '/h' }), ['/h/.config/containers/auth.json', '/h/.docker/config.json']);
  });

  it('an entry is offered to its own host:port only, never to a neighbour', async () => {
    const p = await file('origin.json', { auths: {
      'https://r5.example:5000/v2/': { auth: b64('u5:p5') },
      'r6.example': { auth: b64('u6:p6') },
    } });
    for (const other of ['r5.example', 'r5.example:5001', 'x.r5.example:5000', 'r5.example:5000.evil', 'r6.example:443', 'r6.example.evil', 'evil/r6.example']) {
      assert.equal(await dockerCredentials(other, { paths: [p] }), undefined, other);
    }
    assert.deepEqual(await dockerCredentials('r5.example:5000', { paths: [p] }), { kind: 'basic', username: 'u5', password: 'p5' });
  });

  it('a credential helper that hangs is stopped by the caller\'s signal', { timeout: 10_000 }, async () => {
    const ac = new AbortController();
    const got = runCredentialHelper('vmrtest', 'hang.example', ac.signal);
    setTimeout(() => ac.abort(), 100);
    assert.equal(await got, undefined);
  });
});
