import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { seedFiles, writeSeedIso } from '../../src/plugins/libvirt/vm/cloudInitSeed.js';
import { xorriso } from '../support/xorriso.js';


test('meta-data gets instance-id and local-hostname from the VM name', () => {
  const f = seedFiles('web_1.prod', undefined);
  assert.equal(f['user-data'], '#cloud-config\n');
  assert.match(f['meta-data'], /^instance-id: web_1\.prod$/m);
  assert.match(f['meta-data'], /^local-hostname: web-1-prod$/m, 'hostnames cannot hold _ or .');
  assert.equal(f['network-config'], undefined);
});

test("the user's meta-data keys win and the rest is kept", () => {
  const f = seedFiles('vm1', { metaData: 'local-hostname: custom\nfoo: bar', userData: '#cloud-config\nx: 1\n', networkConfig: 'version: 2\n' });
  assert.match(f['meta-data'], /^local-hostname: custom$/m);
  assert.doesNotMatch(f['meta-data'], /local-hostname: vm1/);
  assert.match(f['meta-data'], /^instance-id: vm1$/m);
  assert.match(f['meta-data'], /^foo: bar$/m);
  assert.equal(f['user-data'], '#cloud-config\nx: 1\n');
  assert.equal(f['network-config'], 'version: 2\n');
});

test('JSON meta-data stays JSON', () => {
  const f = seedFiles('vm1', { metaData: '{"instance-id": "i-1"}' });
  assert.deepEqual(JSON.parse(f['meta-data']), { 'instance-id': 'i-1', 'local-hostname': 'vm1' });
});

test('the seed ISO is labelled cidata and holds exactly the seed files', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-seed-'));
  try {
    const iso = path.join(dir, 'seed.iso');
    const files = seedFiles('vm1', { userData: '#cloud-config\nhello: "wörld"\n', networkConfig: 'version: 2\n' });
    await writeSeedIso(iso, files);
    const buf = await fs.readFile(iso);
    // ISO9660 primary volume descriptor: sector 16, volume identifier at byte 40, 32 bytes.
    assert.equal(buf.subarray(16 * 2048 + 1, 16 * 2048 + 6).toString('latin1'), 'CD001');
    assert.equal(buf.subarray(16 * 2048 + 40, 16 * 2048 + 72).toString('latin1').trim(), 'cidata');
    const out = path.join(dir, 'out');
    await xorriso(['-osirrox', 'on', '-indev', iso, '-extract', '/', out], () => fs.rm(out, { recursive: true, force: true }));
    assert.deepEqual((await fs.readdir(out)).sort(), ['meta-data', 'network-config', 'user-data']);
    for (const name of ['meta-data', 'network-config', 'user-data'] as const) {
      assert.equal(await fs.readFile(path.join(out, name), 'utf8'), files[name]);
    }
    assert.deepEqual((await fs.readdir(dir)).sort(), ['out', 'seed.iso'], 'the staging dir is gone');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
