// A containerDisk pull streams (issue 20): a 1 GiB disk in a gzip layer goes through without the daemon's memory
// growing with it. Its own file, so the process's memory is this test's alone.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciImageStore } from '../../../src/core/images/OciImageStore.js';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { callContext } from '../../support/callContext.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { optedOut, requireService } from '../../support/services.js';
import { copyToRegistry, pexec, sha } from './containerDiskHelpers.js';

const GiB = 1 << 30;
const MiB = 1 << 20;

describe('containerDisk pull memory', { skip: optedOut('registry') }, () => {
  let reg: TestRegistry;
  let tmp: string;
  before(async () => {
    await requireService('packages');
    reg = await startRegistry();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-cdisk-mem-'));
  });
  after(async () => {
    await reg?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('pulls a 1 GiB disk with the process RSS growing by far less than the disk', async (t) => {
    const tree = path.join(tmp, 'tree');
    await mkdir(path.join(tree, 'disk'), { recursive: true });
    const disk = path.join(tree, 'disk/disk.img');
    await writeFile(disk, 'a disk that is mostly zeros');
    await truncate(disk, GiB);
    // Plain (not sparse) tar members, as docker build writes them; gzip -1 keeps it quick.
    const layerTar = path.join(tmp, 'layer.tar.gz');
    await pexec('bash', ['-c', `tar -cf - -C ${tree} --owner=107 --group=107 --numeric-owner disk | gzip -1 > ${layerTar}`]);
    const layer = await readFile(layerTar);
    const layout = path.join(tmp, 'layout');
    await mkdir(path.join(layout, 'blobs/sha256'), { recursive: true });
    const put = async (b: Buffer) => { const d = sha(b); await writeFile(path.join(layout, 'blobs/sha256', d.slice(7)), b); return d; };
    const diffId = (await pexec('bash', ['-c', `gzip -dc ${layerTar} | sha256sum`])).stdout.split(' ')[0];
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(layer), size: layer.length }],
    }));
    const md = await put(manifest);
    await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'big' } }] }));
    await copyToRegistry(layout, 'big', `${reg.host}/cd/big:1`);

    const store = new OciImageStore({ dataDir: path.join(tmp, 'store') });
    await store.init();
    const client = new OciRegistryClient(store, defaultConfig);
    try {
      global.gc?.();
      const before = process.memoryUsage().rss;
      let peak = before;
      const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
      try {
        await client.pull(`${reg.host}/cd/big:1`, callContext({ insecureRegistry: true }));
      } finally {
        clearInterval(sample);
      }
      const img = await store.get(`${reg.host}/cd/big:1`);
      assert.equal(img.info.diskSize, GiB);
      t.diagnostic(`RSS growth during the pull: ${Math.round((peak - before) / MiB)} MiB`);
      assert.ok(peak - before < 256 * MiB, `RSS grew by ${Math.round((peak - before) / MiB)} MiB while pulling a 1024 MiB disk`);
    } finally {
      await client.close();
    }
  });
});
