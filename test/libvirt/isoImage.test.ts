// The in-process ISO 9660 + Rock Ridge writer behind the NoCloud seed, read back by xorriso (an
// independent reader of both) and checked field by field where Linux's isofs and blkid look.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isoImage } from '../../src/plugins/libvirt/vm/isoImage.js';
import { xorriso } from '../support/xorriso.js';

const SECTOR = 2048;

async function extract(img: Buffer): Promise<{ dir: string; names: string[]; log: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-iso-'));
  const iso = path.join(dir, 'x.iso');
  await fs.writeFile(iso, img);
  const out = path.join(dir, 'out');
  const { stderr } = await xorriso(['-osirrox', 'on', '-indev', iso, '-extract', '/', out], () => fs.rm(out, { recursive: true, force: true }));
  return { dir: out, names: (await fs.readdir(out)).sort(), log: stderr };
}

test('volume descriptors, path tables and the root record say what ECMA-119 and RRIP ask', () => {
  const img = isoImage('cidata', [{ name: 'user-data', data: Buffer.from('#cloud-config\n') }], new Date(Date.UTC(2026, 10, 30, 12, 0, 0)));
  assert.equal(img.length % SECTOR, 0);
  const pvd = img.subarray(16 * SECTOR, 17 * SECTOR);
  assert.deepEqual([pvd[0], pvd.subarray(1, 6).toString('latin1'), pvd[6]], [1, 'CD001', 1]);
  assert.equal(pvd.subarray(40, 72).toString('latin1').trimEnd(), 'cidata');
  assert.equal(pvd.readUInt32LE(80), img.length / SECTOR, 'volume space size is the whole image');
  assert.equal(pvd.readUInt32BE(84), img.length / SECTOR);
  assert.equal(pvd.readUInt16LE(128), SECTOR);
  assert.equal(pvd.subarray(813, 829).toString('latin1'), '2026113012000000');
  const term = img.subarray(17 * SECTOR);
  assert.deepEqual([term[0], term.subarray(1, 6).toString('latin1')], [255, 'CD001']);
  const root = pvd.readUInt32LE(156 + 2);
  assert.equal(img.readUInt32LE(18 * SECTOR + 2), root, 'L path table names the root');
  assert.equal(img.readUInt32BE(19 * SECTOR + 2), root, 'M path table names the root');
  // The root's "." record carries SP (SUSP in use) first and ER (RRIP_1991A).
  const dot = img.subarray(root * SECTOR);
  assert.equal(dot[32], 1);
  assert.equal(dot[33], 0);
  const su = dot.subarray(34, dot[0]);
  assert.deepEqual([...su.subarray(0, 7)], [0x53, 0x50, 7, 1, 0xbe, 0xef, 0]);
  assert.ok(su.toString('latin1').includes('RRIP_1991A'));
});

test('xorriso reads back every name and byte: many files over several directory sectors, clashing ISO names, empty files', async () => {
  const files = [
    ...Array.from({ length: 60 }, (_, i) => ({ name: `config-file-with-a-rather-long-name-${i}.yaml`, data: Buffer.from(`file ${i}\n`.repeat(i * 50)) })),
    { name: 'a-b', data: Buffer.from('dash') },
    { name: 'a_b', data: Buffer.from('underscore') },
    { name: 'empty', data: Buffer.alloc(0) },
    { name: 'wörld', data: Buffer.from('ü') },
  ];
  const img = isoImage('cidata', files);
  const root = img.readUInt32LE(16 * SECTOR + 156 + 2);
  const dirLen = img.readUInt32LE(16 * SECTOR + 156 + 10);
  assert.ok(dirLen > SECTOR, 'the directory spans more than one sector');
  assert.equal(img.readUInt32LE(root * SECTOR + 10), dirLen, '"." has the same extent length as the PVD says');
  const { dir, names, log } = await extract(img);
  try {
    assert.doesNotMatch(log, /SORRY|FAILURE|WARNING/, log);
    assert.deepEqual(names, files.map((f) => f.name).sort());
    for (const f of files) assert.deepEqual(await fs.readFile(path.join(dir, f.name)), f.data, f.name);
  } finally {
    await fs.rm(path.dirname(dir), { recursive: true, force: true });
  }
});
