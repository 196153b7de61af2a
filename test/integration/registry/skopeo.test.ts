import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { callContext } from '../../support/callContext.js';
import { optedOut, requireService } from '../../support/services.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { makeTestImage, pseudoRandom, TempImageStore } from '../../support/tempImageStore.js';

const pexec = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const skopeo = (...args: string[]) => pexec('skopeo', ['--insecure-policy', ...args], { maxBuffer: 16 << 20 });

describe('registry-oci interop with skopeo', { skip: optedOut('registry') }, () => {
  let reg: TestRegistry;
  let tmp: string;
  const stores: TempImageStore[] = [];
  const clients: OciRegistryClient[] = [];
  const newStore = async () => { const s = await TempImageStore.create(); stores.push(s); return s; };
  const newClient = (s: TempImageStore) => { const c = new OciRegistryClient(s, { ...defaultConfig, chunkSize: 1 << 20 }); clients.push(c); return c; };

  before(async () => {
    await requireService('packages');
    reg = await startRegistry();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-skopeo-'));
  });
  after(async () => {
    for (const c of clients) await c.close();
    await reg?.stop();
    for (const s of stores) await s.dispose();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('an image we push is copied by skopeo into an OCI layout with identical digests', async () => {
    const src = await newStore();
    const { digest, manifest } = await makeTestImage(src, 'vm/ours:1', [(2 << 20) + 5, 1 << 20], 51);
    await newClient(src).push('vm/ours:1', `${reg.host}/vm/ours:1`, callContext({ insecureRegistry: true }));
    const layout = path.join(tmp, 'from-us');
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg.host}/vm/ours:1`, `oci:${layout}:ours`);
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.equal(index.manifests[0]!.digest, digest);
    const m = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', digest.slice(7)), 'utf8'));
    assert.equal(m.artifactType, 'application/vnd.vmregistry.vm.v1');
    for (const d of [manifest.config, ...manifest.layers]) {
      const bytes = await readFile(path.join(layout, 'blobs/sha256', d.digest.slice(7)));
      assert.equal(sha(bytes), d.digest);
    }
  });

  it('an artifact skopeo pushed from an OCI layout is pulled by us', async () => {
    const layout = path.join(tmp, 'theirs');
    await mkdir(path.join(layout, 'blobs/sha256'), { recursive: true });
    const put = async (b: Buffer) => { const d = sha(b); await writeFile(path.join(layout, 'blobs/sha256', d.slice(7)), b); return d; };
    const layer = pseudoRandom((1 << 20) + 99, 52);
    const config = Buffer.from(JSON.stringify({ vmfile: { metadata: { name: 'theirs' } }, disks: [], created: '2026-11-29T00:00:00Z' }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.vmregistry.vm.v1',
      config: { mediaType: 'application/vnd.vmregistry.vm.config.v1+json', digest: await put(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.vmregistry.vm.disk.window.v1+zstd', digest: await put(layer), size: layer.length, annotations: { 'io.vmregistry.window.offset': '0' } }],
    }));
    const md = await put(manifest);
    await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': 'theirs' },
    }] }));
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:theirs`, `docker://${reg.host}/vm/theirs:2`);
    const dst = await newStore();
    const res = await newClient(dst).pull(`${reg.host}/vm/theirs:2`, callContext({ insecureRegistry: true }));
    assert.equal(res.digest, md);
    assert.deepEqual(await dst.content.readAll(sha(layer)), layer);
    assert.deepEqual(dst.baseDiskCalls, [md]);
  });
});
