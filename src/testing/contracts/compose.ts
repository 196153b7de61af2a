// The behaviour every ComposeRunner (port vmregistry.compose.v1) must have. Run it with your factory:
//   runComposeContract('my runner', async () => ({ runner, dispose }), { image })
// The suite's projects are named `<projectPrefix><tag>` and taken down (with their networks) after each test.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { CallContext } from '../../core/ports/common.js';
import type { ComposeRunner, ComposeSource } from '../../core/ports/compose.js';
import { testCallContext } from '../callContext.js';
import { rejectsWithCode, runTag } from './support.js';

export interface ComposeUnderTest {
  runner: ComposeRunner;
  dispose?: () => Promise<void> | void;
}

export interface ComposeContractOptions {
  /** An image the runner's VM service can run (local or pullable). */
  image: string;
  callContext?: () => CallContext;
  /** Prefix of every project name. Default `vmrct`. */
  projectPrefix?: string;
}

export function runComposeContract(
  name: string,
  makeImpl: () => Promise<ComposeUnderTest> | ComposeUnderTest,
  opts: ComposeContractOptions,
): void {
  describe(`Compose contract: ${name}`, () => {
    let impl: ComposeUnderTest;
    let project: string;
    let ctx: CallContext;
    const file = (services = ['db', 'web']) => [
      'api_version: vmregistry.io/v1alpha1', 'kind: VMCompose', `name: ${project}`, 'services:',
      ...services.flatMap((s, i) => [`  ${s}:`, `    image: ${opts.image}`, ...(i > 0 ? [`    depends_on: [${services[0]}]`] : [])]),
    ].join('\n');
    const src = (content: string): ComposeSource => ({ content, baseDir: '/nonexistent', env: {}, projectName: '' });
    const up = (content = file()) => impl.runner.up(src(content), { services: [], forceRecreate: false, timeoutSeconds: 0 }, ctx);

    beforeEach(async () => {
      impl = await makeImpl();
      project = `${opts.projectPrefix ?? 'vmrct'}${runTag()}`;
      ctx = (opts.callContext ?? testCallContext)();
    });
    afterEach(async () => {
      await impl.runner.down(project, { removeNetworks: true }, ctx).catch(() => {});
      await impl.dispose?.();
    });

    it('validate accepts a good file, naming its project and services in dependency order', async () => {
      const v = await impl.runner.validate(src(file()), ctx);
      assert.equal(v.valid, true, JSON.stringify(v.errors));
      assert.equal(v.project, project);
      assert.deepEqual(v.services, ['db', 'web']);
    });

    it('validate reports every problem of a bad file with its path, without throwing', async () => {
      const v = await impl.runner.validate(src(`${file()}\n  broken:\n    depends_on: [nowhere]\n`), ctx);
      assert.equal(v.valid, false);
      assert.ok(v.errors.length > 0);
      for (const e of v.errors) assert.ok(e.path && e.message, JSON.stringify(e));
    });

    it('up refuses an invalid file with INVALID_ARGUMENT and creates nothing', async () => {
      await rejectsWithCode(up(`${file()}\n  broken:\n    depends_on: [nowhere]\n`), 'INVALID_ARGUMENT');
      assert.deepEqual((await impl.runner.ps(project, ctx)).services, []);
    });

    it('up runs every service; ps lists them; a second up changes nothing', async () => {
      const r = await up();
      assert.equal(r.project, project);
      assert.deepEqual(r.services.map((s) => s.service).sort(), ['db', 'web']);
      for (const s of r.services) assert.ok(s.vmName, 'each service names its VM');
      const ps = await impl.runner.ps(project, ctx);
      assert.deepEqual(ps.services.map((s) => s.vmName).sort(), r.services.map((s) => s.vmName).sort());
      assert.ok(ps.services.every((s) => s.status === 'running'), JSON.stringify(ps.services));
      const again = await up();
      assert.ok(again.services.every((s) => s.action === 'unchanged'), JSON.stringify(again.services));
    });

    it('down removes every VM of the project; ps is then empty; down again is a no-op', async () => {
      await up();
      const d = await impl.runner.down(project, { removeNetworks: true }, ctx);
      assert.equal(d.project, project);
      assert.deepEqual((await impl.runner.ps(project, ctx)).services, []);
      await impl.runner.down(project, { removeNetworks: true }, ctx);
    });

    it('restart of an unknown project is NOT_FOUND', async () => {
      await rejectsWithCode(impl.runner.restart(project, { services: [] }, ctx), 'NOT_FOUND');
    });

    it('health names the compose component', async () => {
      const h = await impl.runner.health(ctx);
      assert.equal(h.name, 'compose');
      assert.ok(['SERVING', 'NOT_SERVING', 'UNKNOWN'].includes(h.status), h.status);
    });
  });
}
