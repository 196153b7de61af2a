import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuthProvider, RegistryCredentials } from '../../../src/core/ports/auth.js';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { callContext } from '../../support/callContext.js';
import { optedOut, requireService } from '../../support/services.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { makeTestImage, TempImageStore } from '../../support/tempImageStore.js';

const fakeAuth = (creds: RegistryCredentials | undefined): AuthProvider => ({
  registryCredentials: async () => creds,
  login: async () => { throw new Error('unused'); },
  logout: async () => ({ message: '' }),
  register: async () => { throw new Error('unused'); },
  health: async () => ({ name: 'auth', status: 'SERVING', message: '', latencyMs: 0 }),
});

const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

describe('registry-oci auth', { skip: optedOut('registry') }, () => {
  const stores: TempImageStore[] = [];
  const clients: OciRegistryClient[] = [];
  let tmp: string;
  const newStore = async () => { const s = await TempImageStore.create(); stores.push(s); return s; };
  const client = (store: TempImageStore, creds?: RegistryCredentials, over: Partial<typeof defaultConfig> = {}) => {
    // An empty auth-file list would mean "defaults"; point at a file that does not exist instead.
    const c = new OciRegistryClient(store, { ...defaultConfig, dockerConfigPath: [path.join(tmp, 'none.json')], ...over }, creds ? fakeAuth(creds) : undefined);
    clients.push(c);
    return c;
  };

  before(async () => {
    await requireService('packages');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-auth-'));
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of stores) await s.dispose();
    await rm(tmp, { recursive: true, force: true });
  });

  describe('htpasswd (Basic)', () => {
    let reg: TestRegistry;
    before(async () => { reg = await startRegistry({ kind: 'htpasswd', users: { alice: 'wonderland' } }); });
    after(async () => { await reg?.stop(); });

    it('pushes and pulls with credentials from the auth provider; none or wrong ones are UNAUTHENTICATED', async () => {
      const src = await newStore();
      const { digest } = await makeTestImage(src, 'vm/basic:1', [1 << 20], 21);
      const ctx = () => callContext({ registryUrl: reg.host, insecureRegistry: true });
      const pushed = await client(src, { kind: 'basic', username: 'alice', password: 'wonderland' }).push('vm/basic:1', '', ctx());
      assert.equal(pushed.digest, digest);
      await assert.rejects(client(await newStore()).pull('vm/basic:1', ctx()), code('UNAUTHENTICATED'));
      await assert.rejects(client(await newStore(), { kind: 'basic', username: 'alice', password: 'nope' }).pull('vm/basic:1', ctx()), code('UNAUTHENTICATED'));
    });

    it('reads credentials from a docker config.json auths entry', async () => {
      const cfg = path.join(tmp, 'config.json');
      await writeFile(cfg, JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
      const dst = await newStore();
      const r = await client(dst, undefined, { dockerConfigPath: [cfg] }).pull(`${reg.host}/vm/basic:1`, callContext({ insecureRegistry: true }));
      assert.ok(r.digest.startsWith('sha256:'));
      assert.ok(await dst.resolve(`${reg.host}/vm/basic:1`));
    });
  });

  describe('token auth', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({
        kind: 'token',
        check: async ({ grantType, username, secret }) => {
          if (grantType === 'anonymous') return { subject: 'anonymous', access: [{ type: 'repository', name: 'public/*', actions: ['pull'] }] };
          if (grantType === 'refresh_token') return secret === 'rt-alice' ? { subject: 'alice', access: [{ type: 'repository', name: 'vm/*', actions: ['pull', 'push'] }] } : undefined;
          if (username === 'alice' && secret === 'wonderland') return { subject: 'alice', access: [{ type: 'repository', name: '*', actions: ['pull', 'push'] }] };
          if (username === 'bob' && secret === 'builder') return { subject: 'bob', access: [{ type: 'repository', name: 'vm/*', actions: ['pull'] }] };
          return undefined;
        },
      });
    });
    after(async () => { await reg?.stop(); });
    const ctx = () => callContext({ registryUrl: reg.host, insecureRegistry: true });

    it('fetches scoped tokens with Basic at the realm, caches them across blobs, and mounts across repos', async () => {
      const src = await newStore();
      const { digest } = await makeTestImage(src, 'vm/tok:1', [1 << 20, 1 << 20, 1 << 20], 31);
      reg.tokenService!.requests.length = 0;
      const alice = client(src, { kind: 'basic', username: 'alice', password: 'wonderland' });
      const pushed = await alice.push('vm/tok:1', '', ctx());
      assert.equal(pushed.digest, digest);
      const reqs = reg.tokenService!.requests;
      assert.ok(reqs.length >= 1 && reqs.length <= 2, `token requests: ${reqs.length} (one per scope set, shared by parallel blobs)`);
      assert.ok(reqs.every((r) => r.method === 'GET' && r.grantType === 'basic' && r.subject === 'alice'));
      assert.ok(reqs.some((r) => r.scopes.includes('repository:vm/tok:pull,push')));

      reg.tokenService!.requests.length = 0;
      const mounted = await alice.push('vm/tok:1', 'team/tok:1', ctx());
      assert.equal(mounted.transferred, 0);
      assert.ok(reg.tokenService!.requests.some((r) => r.scopes.includes('repository:team/tok:pull,push') && r.scopes.includes('repository:vm/tok:pull')));
    });

    it('pulls with an identity token through the OAuth2 refresh_token POST', async () => {
      reg.tokenService!.requests.length = 0;
      const dst = await newStore();
      await client(dst, { kind: 'identityToken', username: 'alice', token: 'rt-alice' }).pull('vm/tok:1', ctx());
      assert.ok(reg.tokenService!.requests.some((r) => r.method === 'POST' && r.grantType === 'refresh_token' && r.subject === 'alice'));
      await assert.rejects(client(await newStore(), { kind: 'identityToken', username: '', token: 'stolen' }).pull('vm/tok:1', ctx()), code('UNAUTHENTICATED'));
    });

    it('pull-only users get PERMISSION_DENIED on push; anonymous users UNAUTHENTICATED', async () => {
      const bob = { kind: 'basic', username: 'bob', password: 'builder' } as const;
      await client(await newStore(), bob).pull('vm/tok:1', ctx());
      const src = await newStore();
      await makeTestImage(src, 'vm/bob:1', [4096], 32);
      await assert.rejects(client(src, bob).push('vm/bob:1', '', ctx()), code('PERMISSION_DENIED'));
      await assert.rejects(client(await newStore()).pull('vm/tok:1', ctx()), code('UNAUTHENTICATED'));
      await assert.rejects(client(await newStore(), { kind: 'basic', username: 'bob', password: 'wrong' }).pull('vm/tok:1', ctx()), code('UNAUTHENTICATED'));
    });
  });
});
