import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callContext } from '../../support/callContext.js';
import { optedOut } from '../../support/services.js';
import { makeTestImage } from '../../support/tempImageStore.js';
import { registryRig } from './registryRig.js';

describe('registry-oci against docker-registry (open)', { skip: optedOut('registry') }, () => {
  const rig = registryRig();
  const { newStore, newClient } = rig;

  it('pushes an image (monolithic and chunked blobs) and pulls it back with identical digests', async () => {
    const src = await newStore();
    const { digest, manifest } = await makeTestImage(src, 'vm/round:1', [3 << 20, (5 << 20) + 123], 7);
    const ctx = callContext({ registryUrl: rig.reg.host, insecureRegistry: true });
    const pushed = await newClient(src, { chunkSize: 1 << 20 }).push('vm/round:1', '', ctx);
    assert.equal(pushed.digest, digest);
    assert.equal(pushed.transferred, manifest.layers.reduce((n, l) => n + l.size, 0) + manifest.config.size);
    assert.ok(ctx.events.some((e) => e.phase === 'upload' && e.current === e.total && e.total === (5 << 20) + 123));

    const again = await newClient(src).push('vm/round:1', '', callContext({ registryUrl: rig.reg.host, insecureRegistry: true }));
    assert.equal(again.transferred, 0, 'a second push skips blobs the registry has');

    const dst = await newStore();
    const pctx = callContext({ registryUrl: rig.reg.host, insecureRegistry: true });
    const pulled = await newClient(dst).pull('vm/round:1', pctx);
    assert.equal(pulled.digest, digest);
    assert.equal(pulled.size, pushed.size);
    const local = await dst.get('vm/round:1');
    assert.equal(local.digest, digest);
    for (const l of manifest.layers) assert.ok(await dst.content.has(l.digest));
    assert.deepEqual(dst.baseDiskCalls, [digest]);
    assert.ok(pctx.events.some((e) => e.phase === 'download' && e.item === manifest.layers[0]!.digest && e.current === e.total));

    const again2 = await newClient(dst).pull(`${rig.reg.host}/vm/round:1`, callContext({ insecureRegistry: true }));
    assert.equal(again2.transferred, 0, 'a second pull skips blobs the store has');
  });

  it('uses chunked PATCH with Content-Range for large blobs and one PUT for small ones', async () => {
    const src = await newStore();
    const { manifest } = await makeTestImage(src, 'vm/chunks:1', [(2 << 20) + 17], 8);
    rig.proxy.seen.length = 0;
    const res = await newClient(src, { chunkSize: 1 << 20 }).push('vm/chunks:1', `${rig.proxy.host}/vm/chunks:1`, callContext({ insecureRegistry: true }));
    const layer = manifest.layers[0]!;
    const patches = rig.proxy.seen.filter((r) => r.method === 'PATCH');
    assert.deepEqual(patches.map((r) => r.contentRange), ['0-1048575', '1048576-2097151', '2097152-2097168']);
    assert.ok(rig.proxy.seen.some((r) => r.method === 'PUT' && r.path.includes(`digest=${encodeURIComponent(manifest.config.digest)}`)), 'config in one PUT');
    assert.ok(rig.proxy.seen.some((r) => r.method === 'PUT' && r.path.includes(`digest=${encodeURIComponent(layer.digest)}`) && r.status === 201));
    const last = rig.proxy.seen.at(-1)!;
    assert.equal(last.method, 'PUT');
    assert.match(last.path, /\/manifests\/1$/, 'manifest pushed last');
    assert.equal(res.reference, `${rig.proxy.host}/vm/chunks:1`);
  });

  it('mounts blobs across repositories of the same registry instead of uploading them', async () => {
    const src = await newStore();
    const { digest } = await makeTestImage(src, `${rig.proxy.host}/vm/mnt:1`, [1 << 20], 9);
    const ctx = callContext({ insecureRegistry: true });
    await newClient(src).push(`${rig.proxy.host}/vm/mnt:1`, '', ctx);
    rig.proxy.seen.length = 0;
    const res = await newClient(src).push(`${rig.proxy.host}/vm/mnt:1`, `${rig.proxy.host}/other/mnt:2`, ctx);
    assert.equal(res.transferred, 0);
    assert.equal(res.digest, digest);
    const mounts = rig.proxy.seen.filter((r) => r.method === 'POST' && r.path.includes('mount='));
    assert.equal(mounts.length, 2, 'config and layer mounted');
    assert.ok(mounts.every((r) => r.path.includes('from=vm%2Fmnt') && r.status === 201));
    assert.equal(rig.proxy.count((r) => r.method === 'PATCH' || (r.method === 'PUT' && r.path.includes('/blobs/'))), 0);
  });

  it('falls back to a manifest without artifactType when the registry rejects it, and reports both digests', async () => {
    const src = await newStore();
    const { digest } = await makeTestImage(src, 'vm/old:1', [4096], 10);
    rig.proxy.options.rejectArtifactType = true;
    try {
      const res = await newClient(src).push('vm/old:1', `${rig.proxy.host}/vm/old:1`, callContext({ insecureRegistry: true }));
      assert.equal(res.localDigest, digest);
      assert.notEqual(res.digest, digest);
      const dst = await newStore();
      const pulled = await newClient(dst).pull(`${rig.proxy.host}/vm/old:1`, callContext({ insecureRegistry: true }));
      assert.equal(pulled.digest, res.digest);
      const m = (await dst.get(`${rig.proxy.host}/vm/old:1`)).manifest;
      assert.equal(m.artifactType, undefined);
      assert.equal(m.config.mediaType, 'application/vnd.vmregistry.vm.config.v1+json');
    } finally {
      rig.proxy.options.rejectArtifactType = false;
    }
  });

  it('serves a corrupted blob → DATA_LOSS, and nothing is stored', async () => {
    const src = await newStore();
    const { manifest } = await makeTestImage(src, 'vm/bad:1', [1 << 20, 2 << 20], 11);
    const ctx = callContext({ registryUrl: rig.reg.host, insecureRegistry: true });
    await newClient(src).push('vm/bad:1', '', ctx);
    const bad = manifest.layers[1]!.digest;
    rig.proxy.options.corruptBlob = bad;
    try {
      const dst = await newStore();
      await assert.rejects(newClient(dst).pull(`${rig.proxy.host}/vm/bad:1`, callContext({ insecureRegistry: true })),
        (e: Error & { code?: string }) => e.code === 'DATA_LOSS');
      assert.equal(await dst.content.has(bad), false);
      assert.equal(dst.references().size, 0, 'no image became visible');
      assert.deepEqual(dst.baseDiskCalls, []);
    } finally {
      rig.proxy.options.corruptBlob = undefined;
    }
  });

  it('20 concurrent pulls of one image download each blob once', async () => {
    const src = await newStore();
    const { manifest, digest } = await makeTestImage(src, 'vm/many:1', [2 << 20, 2 << 20, 1 << 20], 12);
    await newClient(src).push('vm/many:1', `${rig.reg.host}/vm/many:1`, callContext({ insecureRegistry: true }));
    const dst = await newStore();
    rig.proxy.seen.length = 0;
    const shared = newClient(dst);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? shared : newClient(dst)).pull(`${rig.proxy.host}/vm/many:1`, callContext({ insecureRegistry: true }))));
    assert.ok(results.every((r) => r.digest === digest));
    for (const d of [manifest.config, ...manifest.layers]) {
      assert.equal(rig.proxy.count((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${d.digest}`)), 1, `blob ${d.digest} fetched once`);
    }
    assert.equal(results.reduce((n, r) => n + r.transferred, 0), manifest.layers.reduce((n, l) => n + l.size, 0) + manifest.config.size);
  });

  it('a missing tag or repository is NOT_FOUND', async () => {
    const store = await newStore();
    const src = await newStore();
    await makeTestImage(src, 'vm/exists:1', [1024], 13);
    await newClient(src).push('vm/exists:1', `${rig.reg.host}/vm/exists:1`, callContext({ insecureRegistry: true }));
    await assert.rejects(newClient(store).pull(`${rig.reg.host}/vm/exists:nope`, callContext({ insecureRegistry: true })),
      (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && /nope/.test(e.message));
    await assert.rejects(newClient(store).pull(`${rig.reg.host}/vm/never:1`, callContext({ insecureRegistry: true })),
      (e: Error & { code?: string }) => e.code === 'NOT_FOUND');
  });

  it('a registry that is down is UNAVAILABLE, and health says NOT_SERVING', async () => {
    const { freePort } = await import('../../support/freePort.js');
    const port = await freePort();
    const c = newClient(await newStore(), { retries: 1, minBackoffMs: 10 });
    await assert.rejects(c.pull(`127.0.0.1:${port}/vm/x:1`, callContext({ insecureRegistry: true })),
      (e: Error & { code?: string }) => e.code === 'UNAVAILABLE');
    const h = await c.health(callContext({ registryUrl: `127.0.0.1:${port}`, insecureRegistry: true }));
    assert.equal(h.status, 'NOT_SERVING');
  });

  it('health: SERVING with latency for a live registry, NOT_CONFIGURED without one', async () => {
    const c = newClient(await newStore());
    const h = await c.health(callContext({ registryUrl: rig.reg.host }));
    assert.equal(h.status, 'SERVING');
    assert.ok(h.latencyMs >= 0);
    assert.equal((await c.health(callContext())).status, 'NOT_CONFIGURED');
  });

  it('treats loopback registries as insecure by default but refuses explicit http:// elsewhere', async () => {
    const c = newClient(await newStore());
    const h = await c.health(callContext({ registryUrl: rig.reg.host, insecureRegistry: false }));
    assert.equal(h.details?.url, `http://${rig.reg.host}`);
    await assert.rejects(c.pull('vm/x:1', callContext({ registryUrl: 'http://registry.example:5000', insecureRegistry: false })),
      (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION');
  });

  it('cancellation stops a pull with CANCELLED', async () => {
    const src = await newStore();
    await makeTestImage(src, 'vm/cancel:1', [8 << 20], 14);
    await newClient(src).push('vm/cancel:1', `${rig.reg.host}/vm/cancel:1`, callContext({ insecureRegistry: true }));
    const ac = new AbortController();
    const ctx = callContext({ insecureRegistry: true }, ac.signal);
    ctx.progress = (p) => { if (p.phase === 'download' && p.current > 0) ac.abort(); };
    const dst = await newStore();
    await assert.rejects(newClient(dst).pull(`${rig.reg.host}/vm/cancel:1`, ctx), (e: Error & { code?: string }) => e.code === 'CANCELLED');
    assert.equal(dst.references().size, 0);
  });
});
