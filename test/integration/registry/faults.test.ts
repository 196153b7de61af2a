import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { callContext } from '../../support/callContext.js';
import { optedOut } from '../../support/services.js';
import { registryRig } from './registryRig.js';
import { makeTestImage } from '../../support/tempImageStore.js';

// The registry is SIGKILLed in the middle of a transfer and started again on the same port and storage;
// the client's retries carry the same operation through, resuming instead of starting over.
describe('registry-oci when the registry dies mid-transfer', { skip: optedOut('registry') }, () => {
  const rig = registryRig({ retries: 10, minBackoffMs: 100, maxBackoffMs: 1000 });
  const { newStore, newClient } = rig;
  const LAYER = 48 << 20;

  const crash = () => {
    let done = false;
    let restarted: Promise<void> | undefined;
    return {
      fire() {
        if (done) return;
        done = true;
        restarted = (async () => { await rig.reg.kill(); await delay(300); await rig.reg.restart(); })();
      },
      wait: () => restarted,
    };
  };

  it('a chunked push resumes from the offset the registry reports after a restart', async () => {
    const src = await newStore();
    const { digest, manifest } = await makeTestImage(src, 'vm/crash-push:1', [LAYER], 41);
    const c = crash();
    const ctx = callContext({ insecureRegistry: true });
    ctx.progress = (p) => {
      ctx.events.push(p);
      // Between two acknowledged chunks: the next PATCH meets a dead registry.
      if (p.phase === 'upload' && p.current >= 8 << 20 && p.current < LAYER) c.fire();
    };
    rig.proxy.seen.length = 0;
    const res = await newClient(src, { chunkSize: 4 << 20 }).push('vm/crash-push:1', `${rig.proxy.host}/vm/crash-push:1`, ctx);
    await c.wait();
    assert.equal(res.digest, digest);
    assert.ok(c.wait(), 'the registry was killed during the push');
    const resumed = ctx.events.find((e) => e.phase === 'upload' && e.message?.startsWith('resumed at'));
    assert.ok(resumed && resumed.current >= 8 << 20, `resumed at a non-zero offset: ${JSON.stringify(resumed)}`);
    assert.ok(rig.proxy.count((r) => r.method === 'GET' && r.path.includes('/blobs/uploads/') && r.status === 204) >= 1, 'upload status was asked');
    const layerBytes = rig.proxy.seen.filter((r) => r.method === 'PATCH' && r.status === 202).length * (4 << 20);
    assert.ok(layerBytes < LAYER + (8 << 20), 'did not upload the blob again from zero');
    // What the registry holds verifies: pull it back into a fresh store.
    const back = await newClient(await newStore()).pull(`${rig.reg.host}/vm/crash-push:1`, callContext({ insecureRegistry: true }));
    assert.equal(back.digest, digest);
    assert.equal(back.size, manifest.config.size + LAYER);
  });

  it('a push killed while a chunk is on the wire still completes with an intact blob', async () => {
    const src = await newStore();
    const { digest } = await makeTestImage(src, 'vm/crash-mid:1', [LAYER], 43);
    const c = crash();
    let patches = 0;
    rig.proxy.options.onRequest = (r) => { if (r.method === 'PATCH' && ++patches === 3) setTimeout(() => c.fire(), 5); };
    try {
      const res = await newClient(src, { chunkSize: 8 << 20 }).push('vm/crash-mid:1', `${rig.proxy.host}/vm/crash-mid:1`, callContext({ insecureRegistry: true }));
      await c.wait();
      assert.ok(c.wait(), 'the registry was killed during the push');
      assert.equal(res.digest, digest);
    } finally {
      rig.proxy.options.onRequest = undefined;
    }
    const back = await newClient(await newStore()).pull(`${rig.reg.host}/vm/crash-mid:1`, callContext({ insecureRegistry: true }));
    assert.equal(back.digest, digest);
  });

  it('a push that failed while the registry was down resumes its upload session when retried', async () => {
    const src = await newStore();
    const { digest } = await makeTestImage(src, 'vm/crash-again:1', [LAYER], 44);
    const client = newClient(src, { chunkSize: 4 << 20, retries: 1, minBackoffMs: 10, maxBackoffMs: 20 });
    let killed: Promise<void> | undefined;
    const ctx1 = callContext({ insecureRegistry: true });
    ctx1.progress = (p) => { if (!killed && p.phase === 'upload' && p.current >= 12 << 20 && p.current < LAYER) killed = rig.reg.kill(); };
    await assert.rejects(client.push('vm/crash-again:1', `${rig.proxy.host}/vm/crash-again:1`, ctx1), (e: Error & { code?: string }) => e.code === 'UNAVAILABLE');
    await killed;
    await rig.reg.restart();
    const ctx2 = callContext({ insecureRegistry: true });
    rig.proxy.seen.length = 0;
    const res = await client.push('vm/crash-again:1', `${rig.proxy.host}/vm/crash-again:1`, ctx2);
    assert.equal(res.digest, digest);
    const resumed = ctx2.events.find((e) => e.message?.startsWith('resumed at'));
    assert.ok(resumed && resumed.current >= 12 << 20, `resumed: ${JSON.stringify(resumed)}`);
    assert.ok(res.transferred <= LAYER - (12 << 20) + 1024, `second push moved ${res.transferred} bytes, not the whole blob`);
    const back = await newClient(await newStore()).pull(`${rig.reg.host}/vm/crash-again:1`, callContext({ insecureRegistry: true }));
    assert.equal(back.digest, digest);
  });

  it('a pull resumes an interrupted blob with a Range request after a restart', async () => {
    const src = await newStore();
    const { digest } = await makeTestImage(src, 'vm/crash-pull:1', [LAYER], 42);
    await newClient(src).push('vm/crash-pull:1', `${rig.reg.host}/vm/crash-pull:1`, callContext({ insecureRegistry: true }));
    const c = crash();
    const ctx = callContext({ insecureRegistry: true });
    ctx.progress = (p) => {
      ctx.events.push(p);
      if (p.phase === 'download' && p.current >= 4 << 20 && p.current < LAYER) c.fire();
    };
    rig.proxy.seen.length = 0;
    const dst = await newStore();
    const res = await newClient(dst).pull(`${rig.proxy.host}/vm/crash-pull:1`, ctx);
    await c.wait();
    assert.equal(res.digest, digest);
    const ranged = rig.proxy.seen.filter((r) => r.method === 'GET' && r.range);
    assert.ok(ranged.length >= 1, 'a Range request was made');
    const from = Number(/bytes=(\d+)-/.exec(ranged[0]!.range!)![1]);
    assert.ok(from >= 4 << 20 && from < LAYER, `resumed from byte ${from}`);
    assert.ok(res.transferred < LAYER + (8 << 20), `moved ${res.transferred} bytes, not the blob twice`);
    assert.ok(await dst.resolve(`${rig.proxy.host}/vm/crash-pull:1`));
  });
});
