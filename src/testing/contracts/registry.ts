// The behaviour every RegistryClient (port vmregistry.registry.v1) must have. Run it with your factory:
//   runRegistryContract('my registry', async () => ({ registry, images, seed, dispose }), { callContext })
// The suite pushes an image it seeds into `images`, pulls it back under the pushed name, and checks the
// failures a client must report as domain errors (NOT_FOUND, CANCELLED).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { CallContext } from '../../core/ports/common.js';
import type { ImageStore } from '../../core/ports/images.js';
import type { RegistryClient } from '../../core/ports/registry.js';
import { testCallContext } from '../callContext.js';
import { rejectsWithCode, runTag } from './support.js';

export interface RegistryUnderTest {
  registry: RegistryClient;
  /** The local image store the client pushes from and pulls into. */
  images: ImageStore;
  /** Puts a small image into `images` under `reference` (a name without a registry host). */
  seed(reference: string): Promise<{ digest: string }>;
  dispose?: () => Promise<void> | void;
}

export interface RegistryContractOptions {
  /** The context calls run in; point its registryUrl at the registry under test. */
  callContext?: () => CallContext;
  /** Repository prefix of everything the suite pushes. Default `contract`. */
  repoPrefix?: string;
}

export function runRegistryContract(
  name: string,
  makeImpl: () => Promise<RegistryUnderTest> | RegistryUnderTest,
  opts: RegistryContractOptions = {},
): void {
  describe(`Registry contract: ${name}`, () => {
    let impl: RegistryUnderTest;
    let repo: string;
    const ctx = (over: Partial<CallContext> = {}) => ({ ...(opts.callContext ?? testCallContext)(), ...over });
    const aborted = () => { const ac = new AbortController(); ac.abort(); return ac.signal; };

    beforeEach(async () => {
      impl = await makeImpl();
      repo = `${opts.repoPrefix ?? 'contract'}/r${runTag()}`;
    });
    afterEach(async () => { await impl.dispose?.(); });

    it('push sends a local image under another name and pull brings it back with the same digest', async () => {
      const { digest } = await impl.seed(`${repo}/src:1`);
      const pushed = await impl.registry.push(`${repo}/src:1`, `${repo}/dst:2`, ctx());
      assert.equal(pushed.digest, digest);
      assert.match(pushed.reference, new RegExp(`${repo}/dst:2$`));
      assert.ok(pushed.size > 0, 'size counts the image\'s blobs');
      const pulled = await impl.registry.pull(`${repo}/dst:2`, ctx());
      assert.equal(pulled.digest, digest);
      assert.equal(pulled.size, pushed.size);
      assert.equal(pulled.transferred, 0, 'blobs the store already has are not fetched again');
      assert.equal((await impl.images.get(pulled.reference)).digest, digest, 'the pulled reference resolves locally');
    });

    it('push without a destination pushes under the image\'s own name', async () => {
      const { digest } = await impl.seed(`${repo}/self:1`);
      const pushed = await impl.registry.push(`${repo}/self:1`, '', ctx());
      assert.match(pushed.reference, new RegExp(`${repo}/self:1$`));
      assert.equal((await impl.registry.pull(`${repo}/self:1`, ctx())).digest, digest);
    });

    it('pull of an image the registry does not have is NOT_FOUND', async () => {
      await rejectsWithCode(impl.registry.pull(`${repo}/missing:1`, ctx()), 'NOT_FOUND');
    });

    it('push of an image the local store does not have is NOT_FOUND', async () => {
      await rejectsWithCode(impl.registry.push(`${repo}/nothing-here:1`, '', ctx()), 'NOT_FOUND');
    });

    it('a cancelled call is CANCELLED and leaves nothing behind', async () => {
      await impl.seed(`${repo}/cancel:1`);
      await rejectsWithCode(impl.registry.push(`${repo}/cancel:1`, `${repo}/cancelled:1`, ctx({ signal: aborted() })), 'CANCELLED');
      await rejectsWithCode(impl.registry.pull(`${repo}/cancelled:1`, ctx()), 'NOT_FOUND');
      await impl.registry.push(`${repo}/cancel:1`, '', ctx());
      await rejectsWithCode(impl.registry.pull(`${repo}/cancel:1`, ctx({ signal: aborted() })), 'CANCELLED');
    });

    it('health names the registry component', async () => {
      const h = await impl.registry.health(ctx());
      assert.equal(h.name, 'registry');
      assert.ok(['SERVING', 'NOT_SERVING', 'UNKNOWN'].includes(h.status), h.status);
    });
  });
}
