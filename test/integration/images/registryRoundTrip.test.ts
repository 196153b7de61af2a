// The real image store through the registry-oci client and Debian's docker-registry: an imported
// image is pushed as a pure transfer and pulled into another store with identical digests and disk.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OciImageStore } from '../../../src/core/images/index.js';
import { OciRegistryClient } from '../../../src/plugins/registry-oci/index.js';
import { defaultConfig } from '../../../src/plugins/registry-oci/config.js';
import { callContext } from '../../support/callContext.js';
import { requireService } from '../../support/services.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { MiB, chunksOf, ctx, makeRawDisk, tempDir, toQcow2, vmfile } from '../../images/helpers.js';

describe('image store ↔ registry (docker-registry)', () => {
  let reg: TestRegistry;
  const clients: OciRegistryClient[] = [];
  before(async () => {
    await requireService('packages');
    reg = await startRegistry();
  });
  after(async () => {
    for (const c of clients) await c.close();
    await reg?.stop();
  });

  it('pushes an imported qcow2 image and pulls it into another store: same digests, same disk', async (t) => {
    const dir = tempDir(t);
    const raw = path.join(dir, 'disk.raw');
    const d = makeRawDisk(raw, [['rand', 2], ['zero', 2], ['text', 2]]);
    const q = path.join(dir, 'disk.qcow2');
    toQcow2(raw, q);
    const a = new OciImageStore({ dataDir: path.join(dir, 'a'), windowSize: MiB });
    const b = new OciImageStore({ dataDir: path.join(dir, 'b'), windowSize: MiB });
    const img = await a.importStream({ vmfile: vmfile('pushed', 'qcow2'), reference: 'vm/pushed:1', totalSize: readFileSync(q).length }, chunksOf(q), ctx());
    const pctx = callContext({ registryUrl: reg.host, insecureRegistry: true });
    const client = (s: OciImageStore) => {
      const c = new OciRegistryClient(s, { ...defaultConfig });
      clients.push(c);
      return c;
    };
    const pushed = await client(a).push('vm/pushed:1', '', pctx);
    assert.equal(pushed.digest, img.digest);
    const pulled = await client(b).pull('vm/pushed:1', callContext({ registryUrl: reg.host, insecureRegistry: true }));
    assert.equal(pulled.digest, img.digest);
    const local = await b.get('vm/pushed:1');
    assert.deepEqual(local.manifest.layers.map((l) => l.digest), img.manifest.layers.map((l) => l.digest));
    const disk = await b.baseDisk(local.digest, ctx());
    assert.equal(createHash('sha256').update(readFileSync(disk)).digest('hex'), d.sha256);
  });
});
