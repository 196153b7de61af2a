// Fuzzing the VMFile parser: thousands of generated bad inputs. None may crash it; each must come
// back as issues (with a path and a message) that assertValidVMFile turns into INVALID_ARGUMENT.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { assertValidVMFile, checkVMFile, validateVMFile } from '../../src/core/images/index.js';
import type { VMFile } from '../../src/core/ports/images.js';

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Doc = Record<string, any>;
const good = (): Doc => ({
  api_version: 'vmregistry.io/v1alpha1',
  kind: 'VMFile',
  metadata: { name: 'debian-12', description: 'd', labels: { os: 'debian' } },
  spec: {
    disk: { path: './disk.qcow2', format: 'qcow2' },
    resources: { memory_mb: 1024, vcpu_count: 2, disk_size_gb: 20 },
    os: { architecture: 'x86_64', firmware: 'bios' },
  },
});

const WEIRD = [null, true, false, -1, 0, 1.5, 1e308, -1e308, 2 ** 60, '', ' ', 'x'.repeat(5000), [], [1, 2], {}, { a: { b: {} } }, '\u0000', '💥', 'NaN', '.inf'];

/** Each mutation makes a valid document invalid. */
const MUTATIONS: Array<(d: Doc, r: () => number) => void> = [
  (d) => { d.api_version = 'vmregistry.io/v9'; },
  (d) => { delete d.api_version; },
  (d) => { d.kind = 'VMCompose'; },
  (d) => { delete d.kind; },
  (d) => { delete d.metadata.name; },
  (d) => { d.metadata.name = 'UPPER case!'; },
  (d) => { d.metadata.name = '-x'; },
  (d) => { d.metadata = ['a', 'b']; },
  (d) => { d.metadata.labels = 'os=debian'; },
  (d) => { d.metadata.labels = { 'bad key!': 'v' }; },
  (d) => { d.metadata.labels = { os: { nested: true } }; },
  (d) => { delete d.spec.disk; },
  (d) => { d.spec.disk.path = ''; },
  (d) => { d.spec.disk.format = 'vmdk'; },
  (d) => { delete d.spec.disk.format; },
  (d) => { d.spec = 'nothing'; },
  (d) => { delete d.spec; },
  (d) => { d.spec.disk = [d.spec.disk]; },
  (d, r) => { d.spec.resources.memory_mb = [-1, 0.5, 1e12, 8, '1G', 2 ** 60, true][Math.floor(r() * 7)]; },
  (d, r) => { d.spec.resources.vcpu_count = [-2, 1.5, 5000, '2', false][Math.floor(r() * 5)]; },
  (d, r) => { d.spec.resources.disk_size_gb = [-1, 1e9, '20G', 2.5][Math.floor(r() * 4)]; },
  (d) => { d.spec.os.architecture = 'sparc64'; },
  (d) => { d.spec.os.firmware = 'coreboot'; },
  (d) => { d.spec.os = 42; },
  (d) => { d.metadata.description = 'x'.repeat(5000); },
  (d) => { d.metadata.author = 123; },
  (d) => { d.spec.disk.path = 'a\u0000b'; },
  (d, r) => { d.api_version = WEIRD[Math.floor(r() * WEIRD.length)]; },
  (d, r) => { d.spec.resources = WEIRD[Math.floor(r() * WEIRD.length)] ?? 'x'; },
];

/** Whole-text breakage (never valid). */
const TEXT_BREAKS: Array<(s: string, r: () => number) => string> = [
  (s) => s + '\nkind: VMFile\n', // duplicate key
  (s) => s.replace('kind', '\tkind'),
  (s) => '[' + s,
  (s) => s + '\n  - dangling: [',
  () => 'a: &a [' + Array(30).fill('*a').join(',') + ']\nb: &b [' + Array(30).fill('*a').join(',') + ']\nc: [' + Array(30).fill('*b').join(',') + ']\n',
  () => '',
  () => '---\n...\n',
  () => '42',
  () => '- a\n- b\n',
  () => 'x'.repeat((1 << 20) + 10),
  (s) => s + '\n--- \nsecond: doc\n',
  (s) => s.replace(/: /g, ':'),
  (_s, r) => Buffer.from(Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256))).toString('latin1') + '\u0000',
  () => '{"api_version": "vmregistry.io/v1alpha1", "kind": "VMFile", ',
  () => '!!binary AAAA',
  () => 'api_version: !!js/function "function(){}"\n',
  () => '? [complex, key]\n: value\n',
];

describe('VMFile parser fuzz', () => {
  it('turns thousands of bad documents into issues, never a crash', async () => {
    const seed = Number(process.env.VMR_FUZZ_SEED ?? 20261129);
    const r = rng(seed);
    const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
    let invalid = 0;
    for (let i = 0; i < 3000; i++) {
      let text: string;
      const mode = r();
      if (mode < 0.75) {
        const d = good();
        const n = 1 + Math.floor(r() * 3);
        for (let k = 0; k < n; k++) {
          try {
            pick(MUTATIONS)(d, r);
          } catch { /* a mutation on a part an earlier one removed: try the next */ }
        }
        if (r() < 0.3) d[`unknown_${i}`] = pick(WEIRD); // warnings must not mask the errors
        text = r() < 0.5 ? stringify(d) : JSON.stringify(d, null, r() < 0.5 ? 2 : 0);
        // A mutation may have been undone by a later one; make sure the doc is really bad.
        if (r() < 0.2) text = pick(TEXT_BREAKS)(text, r);
      } else {
        text = pick(TEXT_BREAKS)(stringify(good()), r);
      }
      let v;
      try {
        v = await validateVMFile(text, '/nonexistent', { checkDisk: false });
      } catch (err) {
        assert.fail(`seed ${seed} input ${i} crashed the validator: ${(err as Error).stack}\n${text.slice(0, 300)}`);
      }
      for (const e of [...v.errors, ...v.warnings]) {
        assert.equal(typeof e.path, 'string');
        assert.ok(e.message.length > 0);
        if (e.line !== undefined) assert.ok(Number.isInteger(e.line) && e.line >= 1, `line ${e.line}`);
      }
      if (v.errors.length === 0) {
        // Only possible when mutations cancelled out; it must then be a genuinely valid document.
        assert.ok(v.vmfile, `input ${i}: no errors but no VMFile`);
        continue;
      }
      invalid++;
      assert.throws(() => assertValidVMFile(v), (err: { code: string; issues: unknown[] }) => err.code === 'INVALID_ARGUMENT' && err.issues.length === v.errors.length);
    }
    assert.ok(invalid >= 2900, `only ${invalid} of 3000 generated inputs were invalid; the generator is too weak`);
  });

  it('checks wire-form VMFiles of any shape without crashing', () => {
    const r = rng(7);
    const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
    const shapes = (): unknown => {
      const base: any = { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'ok', labels: {} }, spec: { disk: { path: 'd', format: 'raw' }, resources: { memoryMb: 64, vcpuCount: 1, diskSizeGb: 0 }, os: { architecture: 'x86_64', firmware: 'bios' } } };
      const paths = [['apiVersion'], ['kind'], ['metadata'], ['metadata', 'name'], ['spec'], ['spec', 'disk'], ['spec', 'disk', 'format'], ['spec', 'resources'], ['spec', 'resources', 'memoryMb'], ['spec', 'os'], ['spec', 'os', 'firmware']];
      const p = pick(paths);
      let o = base;
      for (const k of p.slice(0, -1)) o = o[k];
      o[p.at(-1)!] = pick([...WEIRD, undefined]);
      return r() < 0.05 ? pick(WEIRD) : base;
    };
    let bad = 0;
    for (let i = 0; i < 2000; i++) {
      const v = shapes();
      const res = checkVMFile(v as VMFile);
      if (res.errors.length > 0) bad++;
      for (const e of res.errors) assert.ok(typeof e.path === 'string' && e.message);
    }
    assert.ok(bad > 1500, `${bad} of 2000 wire shapes rejected`);
  });

  it('finds the error in each single mutation', async () => {
    for (const [i, m] of MUTATIONS.entries()) {
      for (let s = 0; s < 10; s++) {
        const d = good();
        m(d, rng(s + i * 100));
        for (const text of [stringify(d), JSON.stringify(d)]) {
          const v = await validateVMFile(text, '/nonexistent', { checkDisk: false });
          assert.ok(v.errors.length > 0, `mutation ${i} (seed ${s}) was not caught:\n${text}`);
        }
      }
    }
    for (const [i, b] of TEXT_BREAKS.entries()) {
      const v = await validateVMFile(b(stringify(good()), rng(i)), '/nonexistent', { checkDisk: false });
      assert.ok(v.errors.length > 0, `text break ${i} was not caught`);
    }
  });
});
