import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { checkSchema, composeSchema } from '../../src/plugins/compose/schema.js';
import { findCycles, levels, withDependencies } from '../../src/plugins/compose/graph.js';
import { interpolate } from '../../src/plugins/compose/interpolate.js';
import { repoRoot } from '../support/services.js';
import { webStack } from './support.js';

describe('the published JSON Schemas', () => {
  it('schemas/vmcompose.schema.json is the schema the validator uses', async () => {
    const onDisk = JSON.parse(await readFile(path.join(repoRoot, 'schemas/vmcompose.schema.json'), 'utf8'));
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(composeSchema)),
      'regenerate it: node -e "import(\'./dist/src/plugins/compose/schema.js\').then(m=>require(\'fs\').writeFileSync(\'schemas/vmcompose.schema.json\', JSON.stringify(m.composeSchema,null,2)+\'\\n\'))"');
  });

  it('the API.md example passes it, and the VMFile schema is valid JSON with the VMFile kind', async () => {
    assert.deepEqual(checkSchema(parse(webStack())), []);
    const vmfile = JSON.parse(await readFile(path.join(repoRoot, 'schemas/vmfile.schema.json'), 'utf8'));
    assert.equal(vmfile.properties.kind.const, 'VMFile');
    const example = parse(`api_version: vmregistry.io/v1alpha1
kind: VMFile
metadata: { name: debian-12, labels: { os: debian } }
spec:
  disk: { path: ./debian-12.qcow2, format: qcow2 }
  resources: { memory_mb: 1024, vcpu_count: 2, disk_size_gb: 20 }
  os: { architecture: x86_64, firmware: bios }
`);
    assert.deepEqual(checkSchema(example, new Set(), vmfile, vmfile), []);
    assert.equal(checkSchema({ ...example, spec: { disk: { path: 'x', format: 'vmdk' } } }, new Set(), vmfile, vmfile).length, 1);
  });
});

describe('interpolation', () => {
  const env = { A: 'x', EMPTY: '' };
  const cases: Array<[string, string]> = [
    ['${A}', 'x'], ['$A-y', 'x-y'], ['$$A', '$A'], ['a$$b', 'a$b'], ['5$', '5$'],
    ['${B:-def}', 'def'], ['${EMPTY:-def}', 'def'], ['${EMPTY-def}', ''], ['${A:-def}', 'x'], ['${B-d e}', 'd e'],
    ['pre-${A}-${A}', 'pre-x-x'],
  ];
  for (const [input, want] of cases) {
    it(`${input} → ${JSON.stringify(want)}`, () => {
      const r = interpolate(input, env);
      assert.equal(r.value, want);
      assert.deepEqual(r.errors, []);
    });
  }

  it('reports unset, required and malformed references', () => {
    assert.deepEqual(interpolate('${NOPE}', env).unset, ['NOPE']);
    assert.match(interpolate('${NOPE:?give it}', env).errors[0]!, /NOPE is required: give it/);
    assert.match(interpolate('${EMPTY:?}', env).errors[0]!, /EMPTY is required/);
    assert.deepEqual(interpolate('${EMPTY?}', env).errors, []);
    assert.match(interpolate('${1BAD}', env).errors[0]!, /not a variable reference/);
    assert.match(interpolate('${A:+x}', env).errors[0]!, /unknown modifier/);
    assert.match(interpolate('${A', env).errors[0]!, /unterminated/);
  });
});

describe('dependency graph', () => {
  const g = new Map([['web', ['db', 'cache']], ['db', []], ['cache', ['db']], ['solo', []]]);
  it('orders by levels and collects dependencies', () => {
    assert.deepEqual(levels(g), [['db', 'solo'], ['cache'], ['web']]);
    assert.deepEqual([...withDependencies(['web'], g)].sort(), ['cache', 'db', 'web']);
    assert.deepEqual(findCycles(g), []);
  });
  it('finds cycles and refuses to order them', () => {
    const c = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    assert.deepEqual(findCycles(c), [['a', 'b', 'c', 'a']]);
    assert.throws(() => levels(c), /cycle/);
  });
});
