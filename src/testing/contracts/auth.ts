// The behaviour every AuthProvider (port vmregistry.auth.v1) must have. Run it with your factory:
//   runAuthContract('my provider', async () => ({ auth, user: { username, password }, dispose }))
// `user` is an account the provider accepts; the suite never registers users it cannot remove unless
// `registers` says the provider supports it.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AuthProvider, LoginInput } from '../../core/ports/auth.js';
import type { CallContext } from '../../core/ports/common.js';
import { testCallContext } from '../callContext.js';
import { rejectsWithCode, runTag } from './support.js';

export interface AuthUnderTest {
  auth: AuthProvider;
  /** An account the provider accepts. */
  user: { username: string; password: string };
  dispose?: () => Promise<void> | void;
}

export interface AuthContractOptions {
  callContext?: () => CallContext;
  /** The provider registers users (Register succeeds); otherwise it must refuse with a domain error. */
  registers?: boolean;
}

export function runAuthContract(
  name: string,
  makeImpl: () => Promise<AuthUnderTest> | AuthUnderTest,
  opts: AuthContractOptions = {},
): void {
  describe(`Auth contract: ${name}`, () => {
    let impl: AuthUnderTest;
    let ctx: CallContext;
    const login = (over: Partial<LoginInput> = {}): LoginInput =>
      ({ username: impl.user.username, password: impl.user.password, server: '', deviceFlow: false, deviceCode: '', ...over });

    beforeEach(async () => {
      impl = await makeImpl();
      ctx = (opts.callContext ?? testCallContext)();
    });
    afterEach(async () => {
      await impl.auth.logout('', ctx).catch(() => {});
      await impl.dispose?.();
    });

    it('login with the right password returns the user and a message', async () => {
      const r = await impl.auth.login(login(), ctx);
      assert.equal(r.username, impl.user.username);
      assert.equal(typeof r.message, 'string');
      assert.notEqual(r.pending, true);
    });

    it('login with a wrong password is UNAUTHENTICATED', async () => {
      await rejectsWithCode(impl.auth.login(login({ password: `${impl.user.password}-wrong` }), ctx), 'UNAUTHENTICATED');
    });

    it('logout is idempotent', async () => {
      await impl.auth.login(login(), ctx);
      assert.equal(typeof (await impl.auth.logout('', ctx)).message, 'string');
      assert.equal(typeof (await impl.auth.logout('', ctx)).message, 'string');
    });

    it('gives no registry credentials once logged out', async () => {
      await impl.auth.login(login(), ctx);
      await impl.auth.logout('', ctx);
      assert.equal(await impl.auth.registryCredentials('127.0.0.1:5000', ctx), undefined);
    });

    it(opts.registers ? 'register creates a user once; a second register of the name is ALREADY_EXISTS' : 'register is refused with a domain error', async () => {
      const input = { username: `u${runTag()}`, password: 'Contract-passw0rd-42' /* long, letters and digits: passes common policies */, email: '', displayName: '' };
      if (!opts.registers) {
        await rejectsWithCode(impl.auth.register(input, ctx), 'UNIMPLEMENTED', 'FAILED_PRECONDITION', 'PERMISSION_DENIED');
        return;
      }
      assert.equal((await impl.auth.register(input, ctx)).username, input.username);
      await rejectsWithCode(impl.auth.register(input, ctx), 'ALREADY_EXISTS');
    });

    it('health names the auth component', async () => {
      const h = await impl.auth.health(ctx);
      assert.equal(h.name, 'auth');
      assert.ok(['SERVING', 'NOT_SERVING', 'UNKNOWN'].includes(h.status), h.status);
    });
  });
}
