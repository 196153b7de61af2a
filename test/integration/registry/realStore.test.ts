import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ImageStore, VMFile } from '../../../src/core/ports/images.js';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { callContext } from '../../support/callContext.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { optedOut } from '../../support/services.js';

// Against the core's real image store (src/core/images), once it is in the build: a VM disk imported
// there is pushed, pulled into a second store, and its base disk comes back byte for byte.
const storeModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/core/images/OciImageStore.js');
const skip = optedOut('registry') ?? (existsSync(storeModule) ? false : 'the core image store (src/core/images/OciImageStore) is not in this build yet');

const MiB = 1 << 20;
const vmfile: VMFile = {
  apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile',
  metadata: { name: 'real', description: '', author: 'tests', source: '', labels: {} },
  spec: { disk: { path: './disk.img', format: 'raw' }, resources: { memoryMb: 256, vcpuCount: 1, diskSizeGb: 0 }, os: { architecture: 'x86_64', firmware: 'bios' } },
};

describe('registry-oci with the core image store', { skip }, () => {
  let reg: TestRegistry;
  let tmp: string;
  const clients: OciRegistryClient[] = [];
  before(async () => {
    reg = await startRegistry();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'vmr-realstore-'));
  });
  after(async () => {
    for (const c of clients) await c.close();
    await reg?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('push → pull → base disk identical', async () => {
    const { OciImageStore } = await import(storeModule) as { OciImageStore: new (o: { dataDir: string; windowSize: number }) => ImageStore & { init(): Promise<void> } };
    const a = new OciImageStore({ dataDir: path.join(tmp, 'a'), windowSize: MiB });
    const b = new OciImageStore({ dataDir: path.join(tmp, 'b'), windowSize: MiB });
    await a.init();
    await b.init();
    const disk = Buffer.concat([randomBytes(3 * MiB), Buffer.alloc(2 * MiB), Buffer.from('text '.repeat(MiB / 5 + 1)).subarray(0, MiB)]);
    const ctx = () => callContext({ registryUrl: reg.host, insecureRegistry: true });
    const img = await a.importStream({ vmfile, reference: 'vm/real:1', totalSize: disk.length }, (async function* () { yield disk; })(), ctx());
    const pushClient = new OciRegistryClient(a, { ...defaultConfig, chunkSize: MiB });
    const pullClient = new OciRegistryClient(b, defaultConfig);
    clients.push(pushClient, pullClient);
    const pushed = await pushClient.push('vm/real:1', '', ctx());
    assert.equal(pushed.digest, img.digest);
    const pulled = await pullClient.pull('vm/real:1', ctx());
    assert.equal(pulled.digest, img.digest);
    assert.deepEqual(await readFile(await b.baseDisk(pulled.digest, ctx())), disk);
    assert.equal((await pullClient.pull('vm/real:1', ctx())).transferred, 0);
  });
});
