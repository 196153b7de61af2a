// Issue 16 items 1, 4, 6 and 8, table-style: hostile values per field type through the real daemon on
// the in-memory fakes, each answered at once with INVALID_ARGUMENT (or the right code) naming the field.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status, type ServiceError } from '@grpc/grpc-js';
import { fakeAuthPlugin, fakeLibvirtPlugin, fakeRegistryPlugin, startTestDaemon, type TestDaemon } from '../../src/testing/index.js';
import composePlugin from '../../src/plugins/compose/index.js';
import { loadProject, MAX_PROJECT_VMS } from '../../src/plugins/compose/load.js';
import { parseVMFile } from '../../src/core/images/validateVMFile.js';
import { boundMessage, InvalidArgumentError, quote } from '../../src/core/errors.js';
import { YAML_LIMITS } from '../../src/core/yaml/loadYaml.js';

const head = 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: t\n';
const aliasBomb = `${head}x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
x-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
services:
  a: { image: i, labels: { x: *d } }
`;

const src = (content: string) => ({ content, baseDir: '', env: {}, projectName: '' });
const BAD_NAMES = ['a\u0000b', 'x\u0001y', 'a\nb', 'a b', '../etc', '/abs', '-x', '.x', 'x'.repeat(65), 'é', '<x/>', '$(id)', 'a;b', '%00'];

function rejectsWith(p: Promise<unknown>, code: number, field?: string) {
  return assert.rejects(p, (e: ServiceError) => {
    assert.equal(e.code, code, `${status[e.code]} ${e.details}`);
    if (field !== undefined) assert.equal(e.metadata.get('vmr-field')[0], field);
    return true;
  });
}

describe('hostile input: one name rule, bounded errors, one YAML loader, compose limits', () => {
  let td: TestDaemon;
  before(async () => {
    td = await startTestDaemon({ plugins: [fakeLibvirtPlugin(), fakeRegistryPlugin(), fakeAuthPlugin(), composePlugin] });
  });
  after(async () => { await td?.stop(); });

  it('refuses bad VM names on every VM call with INVALID_ARGUMENT naming the field, before the hypervisor', async () => {
    for (const name of BAD_NAMES) {
      for (const rpc of ['StartVM', 'StopVM', 'RestartVM', 'DeleteVM']) {
        await rejectsWith(td.client.call(rpc, { vm: name }), status.INVALID_ARGUMENT, 'vm');
      }
      await rejectsWith(td.client.call('RunVM', { image: 'x:1', name }), status.INVALID_ARGUMENT, 'name');
      await rejectsWith(td.client.call('RunVM', { image: 'x:1', name: 'ok', options: { networkName: name } }), status.INVALID_ARGUMENT, 'options.network_name');
    }
    // Names and ids that pass the rule reach the hypervisor, which does not know them.
    await rejectsWith(td.client.call('StartVM', { vm: 'no-such-vm' }), status.NOT_FOUND);
    await rejectsWith(td.client.call('StartVM', { vm: '6f1c1a52-1c1e-4f57-9d7a-0a3c2b1d4e5f' }), status.NOT_FOUND);
  });

  it('refuses bad network names on every network call the same way', async () => {
    for (const name of BAD_NAMES) {
      for (const rpc of ['NetworkGet', 'NetworkActivate', 'NetworkDeactivate', 'NetworkDelete']) {
        await rejectsWith(td.client.call(rpc, { name }), status.INVALID_ARGUMENT, 'name');
      }
      await rejectsWith(td.client.call('NetworkCreate', { name, subnet: '10.77.0.0/24' }), status.INVALID_ARGUMENT, 'name');
    }
    await rejectsWith(td.client.call('NetworkGet', { name: 'no-such-net' }), status.NOT_FOUND);
  });

  it('quotes input at most 128 characters and keeps the status within trailer limits (ContextUse with a huge name)', async () => {
    for (const name of ['x'.repeat(10_000), 'é'.repeat(10_000), '\u0000'.repeat(100_000), `"${'y'.repeat(100_000)}`]) {
      await assert.rejects(td.client.call('ContextUse', { name }), (e: ServiceError) => {
        assert.equal(e.code, status.NOT_FOUND, `${status[e.code]} ${e.details.slice(0, 200)}`);
        assert.ok(e.details.length < 300, `details of ${e.details.length} characters`);
        return true;
      });
    }
  });

  it('bounds messages, quotes and the issues trailer', async () => {
    assert.equal(quote('a\u0000b"'), '"a\\u0000b\\""');
    assert.equal(quote('z'.repeat(500)).length, 2 + 128);
    const e = new InvalidArgumentError(`name "${'q'.repeat(5000)}" is bad\u0007`);
    assert.match(e.message, /^name "q{127}…" is bad\\u0007$/);
    assert.ok(boundMessage('w'.repeat(100_000)).length <= 2048);
    // A short quoted value followed by long plain text: the closing quote does not open a run to the end.
    const plain = `manifest "1" in reg:5000/vm/x: ${'the registry did not answer '.repeat(8)}(headersTimeoutMs) (2 attempts)`;
    assert.equal(boundMessage(plain), plain);
    // A compose file with thousands of problems: the reply still arrives, its issues trailer cut short.
    const many = `${head}services:\n${Array.from({ length: 2000 }, (_, i) => `  s${i}: { image: "", bogus${'b'.repeat(200)}: 1 }`).join('\n')}\n`;
    await assert.rejects(td.client.call('ComposeUp', { content: many }), (err: ServiceError) => {
      assert.equal(err.code, status.INVALID_ARGUMENT);
      const issues = JSON.parse(err.metadata.get('vmr-issues-bin')[0]!.toString()) as Array<{ message: string }>;
      assert.ok(issues.length > 1 && issues.length < 100, `${issues.length} issues in the trailer`);
      assert.match(issues.at(-1)!.message, /more issues/);
      return true;
    });
  });

  it('compose: a replica bomb is refused at once, nothing built per replica', async () => {
    const bomb = `${head}services:\n  a: { image: i, replicas: 10000000 }\n`;
    assert.ok(Buffer.byteLength(bomb) < 128);
    const r = await loadProject(src(bomb));
    assert.deepEqual(r.errors.map((i) => `${i.line}:${i.path}`), ['5:services.a.replicas']);
    await rejectsWith(td.client.call('ComposeUp', { content: bomb }), status.INVALID_ARGUMENT);
    const v = await td.client.call('ComposeValidate', { content: bomb });
    assert.equal(v.valid, false);
    // Many services, each within its own limit, still bounded as a project.
    const wide = `${head}services:\n${Array.from({ length: 5 }, (_, i) => `  s${i}: { image: i, replicas: 64 }`).join('\n')}\n`;
    const w = await loadProject(src(wide));
    assert.equal(5 * 64 > MAX_PROJECT_VMS, true);
    assert.deepEqual(w.errors.map((i) => i.path), ['services']);
    assert.match(w.errors[0]!.message, /320 VMs/);
  });

  it('YAML: one loader, the same limits and INVALID_ARGUMENT for VMFile and compose (alias bombs, nesting, size)', async () => {
    const c = await td.client.call('ComposeValidate', { content: aliasBomb });
    assert.equal(c.valid, false);
    assert.match(c.errors[0].message, /aliases .* expand to more than/);
    assert.ok(c.errors[0].line > 0);
    await rejectsWith(td.client.call('ComposeUp', { content: aliasBomb }), status.INVALID_ARGUMENT);
    const vf = await td.client.call('ValidateVMFile', { content: 'api_version: x\nkind: &k VMFile\nmetadata: { name: *k }\n', baseDir: '/nonexistent' });
    assert.equal(vf.valid, false);
    assert.match(vf.errors[0].message, /aliases \(\*k\) are not supported/);
    assert.equal(vf.errors[0].line, 3);
    for (const deep of ['['.repeat(200_000), `a:\n${'- '.repeat(100)}x\n`, `${Array.from({ length: 80 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} x\n`]) {
      const cv = await td.client.call('ComposeValidate', { content: deep });
      assert.equal(cv.valid, false);
      assert.match(cv.errors.map((e: { message: string }) => e.message).join(';'), /nests deeper than 64/);
      const p = parseVMFile(deep);
      assert.match(p.errors.map((e) => e.message).join(';'), /nests deeper than 64/);
    }
    const huge = `${head}# ${'x'.repeat(YAML_LIMITS.maxBytes)}\n`;
    const h = await td.client.call('ComposeValidate', { content: huge });
    assert.match(h.errors[0].message, /bytes; at most/);
    assert.match(parseVMFile(huge).errors[0]!.message, /bytes; at most/);
  });
});
