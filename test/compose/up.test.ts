import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isVmrError } from '../../src/core/errors.js';
import { LABEL } from '../../src/plugins/compose/model.js';
import { rejectsWithCode } from '../contract/support.js';
import { IMAGE, makeEnv, projectDir, source, upOpts, webStack } from './support.js';

const actions = (r: { services: Array<{ vmName: string; action: string }> }) =>
  Object.fromEntries(r.services.map((s) => [s.vmName, s.action]));

describe('compose up', () => {
  it('creates the network, then the services in dependency order, named and labelled', async () => {
    const { runner, hv, nm, ctx } = makeEnv({ delays: { run: 3, ip: 3 } });
    const r = await runner.up(source(webStack()), upOpts(), ctx());
    assert.equal(r.project, 'web-stack');
    assert.deepEqual(actions(r), {
      'web-stack-cache-1': 'created', 'web-stack-db-1': 'created', 'web-stack-web-1': 'created', 'web-stack-web-2': 'created',
    });
    const net = await nm.get('web-stack-backend', ctx());
    assert.equal(net.subnet, '10.42.0.0/24');
    assert.equal(net.labels?.[LABEL.project], 'web-stack');
    const web2 = await hv.get('web-stack-web-2', ctx());
    assert.equal(web2.compose?.project, 'web-stack');
    assert.equal(web2.compose?.service, 'web');
    assert.equal(web2.compose?.index, 2);
    assert.match(web2.compose!.hash, /^[0-9a-f]{16}$/);
    assert.equal(web2.networks[0]?.name, 'web-stack-backend');
    assert.equal((await hv.get('web-stack-db-1', ctx())).memoryMb, 1024);
    // Every web replica began only after db had its address and cache existed.
    const c = hv.controls;
    const dbDone = c.seqOf('run', 'web-stack-db-1', 'end');
    const cacheDone = c.seqOf('run', 'web-stack-cache-1', 'end');
    for (const w of ['web-stack-web-1', 'web-stack-web-2']) {
      assert.ok(c.seqOf('run', w, 'begin') > dbDone && c.seqOf('run', w, 'begin') > cacheDone, `${w} after its dependencies`);
    }
    // ps shows addresses from the project's subnet.
    const ps = await runner.ps('web-stack', ctx());
    assert.deepEqual(ps.services.map((s) => s.service), ['cache', 'db', 'web', 'web']);
    assert.ok(ps.services.find((s) => s.vmName === 'web-stack-db-1')!.ipAddresses[0]!.startsWith('10.42.0.'));
  });

  it('runs independent services in parallel (their run calls overlap)', async () => {
    const { runner, hv, ctx } = makeEnv({ delays: { run: 10 } });
    await runner.up(source(webStack()), upOpts(), ctx());
    const c = hv.controls;
    // db and cache have no dependency on each other: one began before the other ended.
    const [a, b] = ['web-stack-db-1', 'web-stack-cache-1'];
    assert.ok(c.seqOf('run', a, 'begin') < c.seqOf('run', b, 'end') && c.seqOf('run', b, 'begin') < c.seqOf('run', a, 'end'));
    assert.ok(c.maxConcurrent('run') >= 2);
  });

  it('honours the parallelism limit', async () => {
    const { runner, hv, ctx } = makeEnv({ delays: { run: 5 }, parallelism: 1 });
    await runner.up(source(webStack()), upOpts(), ctx());
    assert.equal(hv.controls.maxConcurrent('run'), 1);
  });

  it('is idempotent: a second up reports every VM unchanged and calls run no more', async () => {
    const { runner, hv, ctx } = makeEnv();
    await runner.up(source(webStack()), upOpts(), ctx());
    hv.controls.resetLog();
    const r = await runner.up(source(webStack()), upOpts(), ctx());
    assert.deepEqual(new Set(Object.values(actions(r))), new Set(['unchanged']));
    assert.equal(r.services.length, 4);
    assert.deepEqual(hv.controls.order('run'), []);
    assert.deepEqual(hv.controls.order('delete'), []);
  });

  it('recreates only a changed service; starts a stopped VM; force_recreate recreates all', async () => {
    const { runner, hv, ctx } = makeEnv();
    await runner.up(source(webStack()), upOpts(), ctx());
    const before = await hv.get('web-stack-cache-1', ctx());
    const changed = webStack().replace('  cache:\n    image: ' + IMAGE, '  cache:\n    image: ' + IMAGE + '\n    resources: { memory_mb: 2048 }');
    await hv.stop('web-stack-db-1', { force: true, timeoutSeconds: 0 }, ctx());
    const r = await runner.up(source(changed), upOpts(), ctx());
    assert.equal(actions(r)['web-stack-cache-1'], 'recreated');
    assert.equal(actions(r)['web-stack-db-1'], 'started');
    assert.equal(actions(r)['web-stack-web-1'], 'unchanged');
    const after = await hv.get('web-stack-cache-1', ctx());
    assert.notEqual(after.id, before.id);
    assert.equal(after.memoryMb, 2048);
    assert.notEqual(after.compose?.hash, before.compose?.hash);
    const f = await runner.up(source(changed), upOpts({ forceRecreate: true }), ctx());
    assert.deepEqual(new Set(Object.values(actions(f))), new Set(['recreated']));
  });

  it('a changed cloud-init file recreates the service that reads it', async () => {
    const { dir, cleanup } = await projectDir({ 'db-init.yaml': '#cloud-config\nhostname: one\n' });
    try {
      const { runner, hv, ctx } = makeEnv();
      const file = webStack().replace('    networks: [backend]\n  cache:', '    networks: [backend]\n    cloud_init: { user_data_file: ./db-init.yaml }\n  cache:');
      await runner.up(source(file, { baseDir: dir }), upOpts(), ctx());
      assert.match(hv.specOf('web-stack-db-1').cloudInit!.userData!, /hostname: one/);
      const { writeFile } = await import('node:fs/promises');
      await writeFile(`${dir}/db-init.yaml`, '#cloud-config\nhostname: two\n');
      const r = await runner.up(source(file, { baseDir: dir }), upOpts(), ctx());
      assert.equal(actions(r)['web-stack-db-1'], 'recreated');
      assert.equal(actions(r)['web-stack-cache-1'], 'unchanged');
      assert.match(hv.specOf('web-stack-db-1').cloudInit!.userData!, /hostname: two/);
    } finally {
      await cleanup();
    }
  });

  it('a service subset brings up those services and their dependencies only', async () => {
    const { runner, hv, ctx } = makeEnv();
    const r = await runner.up(source(webStack() + '  lonely:\n    image: ' + IMAGE + '\n'), upOpts({ services: ['web'] }), ctx());
    assert.deepEqual(Object.keys(actions(r)).sort(), ['web-stack-cache-1', 'web-stack-db-1', 'web-stack-web-1', 'web-stack-web-2']);
    await rejectsWithCode(hv.get('web-stack-lonely-1', ctx()), 'NOT_FOUND');
    await rejectsWithCode(runner.up(source(webStack()), upOpts({ services: ['nope'] }), ctx()), 'NOT_FOUND');
  });

  it('scaling replicas down removes the extra VMs', async () => {
    const { runner, hv, ctx } = makeEnv();
    await runner.up(source(webStack()), upOpts(), ctx());
    const r = await runner.up(source(webStack().replace('replicas: 2', 'replicas: 1')), upOpts(), ctx());
    assert.equal(actions(r)['web-stack-web-2'], 'removed');
    await rejectsWithCode(hv.get('web-stack-web-2', ctx()), 'NOT_FOUND');
    assert.equal(actions(r)['web-stack-web-1'], 'unchanged');
  });

  it('interpolates ${VAR}, ${VAR:-default} and $$ from the env the client sends', async () => {
    const { runner, hv, vms, ctx } = makeEnv();
    const file = `api_version: vmregistry.io/v1alpha1
kind: VMCompose
name: \${PROJECT:-interp}
services:
  app:
    image: \${REGISTRY}/demo/debian:\${TAG:-12}
    resources: { memory_mb: "\${MEM:-256}" }
    labels: { price: "$$5", who: "\${USER_NAME}" }
`;
    const r = await runner.up(source(file, { env: { REGISTRY: 'localhost:5000', MEM: '768', USER_NAME: 'ann' } }), upOpts(), ctx());
    assert.equal(r.project, 'interp');
    const vm = await hv.get('interp-app-1', ctx());
    assert.equal(vm.image, IMAGE);
    assert.equal(vm.memoryMb, 768);
    assert.equal(vm.labels.price, '$5');
    assert.equal(vm.labels.who, 'ann');
    assert.equal(vms.requests[0]!.memoryMb, 768);
  });

  it('refuses an invalid file before creating anything, with every issue attached', async () => {
    const { runner, hv, nm, ctx } = makeEnv();
    const err = await rejectsWithCode(runner.up(source(webStack().replace('depends_on: { db:', 'depends_on: { dbb:')), upOpts(), ctx()), 'INVALID_ARGUMENT');
    assert.match(err.message, /services\.web\.depends_on\.dbb \(line \d+\): unknown service "dbb"/);
    assert.equal(hv.size, 0);
    assert.equal((await nm.list(ctx())).length, 1, 'only libvirt\'s default network');
  });

  it('refuses to take over a VM or network of the same name that is not the project\'s', async () => {
    const { runner, hv, nm, vms, ctx } = makeEnv();
    await vms.run({ image: IMAGE, name: 'web-stack-db-1', memoryMb: 0, vcpuCount: 0, diskSizeGb: 0, ephemeral: false,
      networkName: '', activateNetwork: false, labels: {}, waitForIp: false }, ctx());
    const e1 = await rejectsWithCode(runner.up(source(webStack()), upOpts(), ctx()), 'FAILED_PRECONDITION');
    assert.match(e1.message, /web-stack-db-1/);
    await hv.delete('web-stack-db-1', { force: true }, ctx());
    await nm.create({ name: 'web-stack-backend', mode: 'nat', subnet: '10.42.0.0/24', gateway: '', dhcp: true, dhcpStart: '',
      dhcpEnd: '', bridgeName: '', forwardDevice: '', domain: '', autostart: false, activate: true }, ctx());
    const e2 = await rejectsWithCode(runner.up(source(webStack()), upOpts(), ctx()), 'FAILED_PRECONDITION');
    assert.match(e2.message, /network "web-stack-backend" exists but does not belong/);
    assert.equal(hv.size, 0);
  });
});

describe('compose up failing in the middle', () => {
  it('names the failing service, skips its dependents, leaves the rest for down, and down removes everything', async () => {
    const { runner, hv, nm, ctx } = makeEnv({ failOn: { run: 'web-stack-cache-1' } });
    const err = await rejectsWithCode(runner.up(source(webStack()), upOpts(), ctx()), 'UNAVAILABLE');
    assert.match(err.message, /service "cache" failed: VM web-stack-cache-1: injected failure/);
    assert.match(err.message, /not started: web/);
    assert.match(err.message, /left in place: web-stack-db-1/);
    assert.ok(isVmrError(err) && err.issues?.some((i) => i.path === 'services.cache'));
    assert.deepEqual((await hv.list(ctx())).map((v) => v.name), ['web-stack-db-1']);
    assert.ok(!hv.controls.order('run').includes('web-stack-web-1'), 'no dependent was attempted');

    const down = await runner.down('web-stack', { removeNetworks: true }, ctx());
    assert.deepEqual(down.services.map((s) => s.vmName), ['web-stack-db-1']);
    assert.deepEqual(down.removedNetworks, ['web-stack-backend']);
    assert.equal(hv.size, 0);
    await rejectsWithCode(nm.get('web-stack-backend', ctx()), 'NOT_FOUND');
  });

  it('polls for addresses when the hypervisor has no waitForIp', async () => {
    const env = makeEnv({ delays: { ip: 30 } });
    const hv = Object.assign(Object.create(env.hv) as typeof env.hv, { waitForIp: undefined });
    const { ComposeService } = await import('../../src/plugins/compose/ComposeService.js');
    const { quietLogger } = await import('../../src/testing/callContext.js');
    const runner = new ComposeService({ vms: env.vms, hypervisor: hv, networks: env.nm, log: quietLogger,
      parallelism: 4, defaultTimeoutSeconds: 5, stopTimeoutSeconds: 1, pollMs: 5 });
    await runner.up(source(webStack()), upOpts(), env.ctx());
    const c = env.hv.controls;
    assert.ok(c.events.filter((e) => e.op === 'get' && e.target === 'web-stack-db-1').length >= 2, 'db was polled');
    assert.deepEqual(c.order('waitForIp'), []);
    assert.ok(c.seqOf('run', 'web-stack-web-1', 'begin') > c.seqOf('run', 'web-stack-db-1', 'end'));
  });

  it('keeps waiting for an address through a hypervisor that is briefly unavailable', async () => {
    let flaky = 2;
    const { runner, hv, ctx } = makeEnv({ delays: { ip: 10 }, failOn: { waitForIp: () => flaky-- > 0 } });
    const r = await runner.up(source(webStack()), upOpts(), ctx());
    assert.equal(r.services.length, 4);
    assert.equal(hv.controls.events.filter((e) => e.op === 'waitForIp' && e.phase === 'fail').length, 2);
  });

  it('after a failure, services whose turn comes later are not started either', async () => {
    const { runner, hv, ctx } = makeEnv({ failOn: { run: 'p-a-1' }, delays: { run: 5 } });
    const file = `api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: p\nservices:
  a: { image: ${IMAGE} }
  b: { image: ${IMAGE} }
  c: { image: ${IMAGE}, depends_on: [b] }
`;
    const err = await rejectsWithCode(runner.up(source(file), upOpts(), ctx()), 'UNAVAILABLE');
    assert.match(err.message, /service "a" failed/);
    assert.match(err.message, /not started: c/);
    assert.deepEqual((await hv.list(ctx())).map((v) => v.name), ['p-b-1'], 'b was in flight and finished; c never began');
  });

  it('a dependency that never gets an address fails with DEADLINE_EXCEEDED naming it', async () => {
    const { runner, hv, ctx } = makeEnv({ assignIps: false });
    const err = await rejectsWithCode(runner.up(source(webStack()), upOpts({ timeoutSeconds: 1 }), ctx()), 'DEADLINE_EXCEEDED');
    assert.match(err.message, /service "db" got no IP address within 1 s \(service "web" waits for it/);
    assert.deepEqual((await hv.list(ctx())).map((v) => v.name).sort(), ['web-stack-cache-1', 'web-stack-db-1']);
    await runner.down('web-stack', { removeNetworks: true }, ctx());
    assert.equal(hv.size, 0);
  });

  it('a retried up after the cause is fixed completes and reuses what was created', async () => {
    const { runner, hv, ctx } = makeEnv({ failOn: { run: 'web-stack-web-2' } });
    await rejectsWithCode(runner.up(source(webStack()), upOpts(), ctx()), 'UNAVAILABLE');
    hv.controls.failOn.run = undefined;
    const r = await runner.up(source(webStack()), upOpts(), ctx());
    assert.deepEqual(actions(r), {
      'web-stack-cache-1': 'unchanged', 'web-stack-db-1': 'unchanged', 'web-stack-web-1': 'unchanged', 'web-stack-web-2': 'created',
    });
  });
});

describe('compose down, ps, restart', () => {
  it('down removes VMs in reverse dependency order and keeps networks unless asked', async () => {
    const { runner, hv, nm, ctx } = makeEnv({ delays: { delete: 2 } });
    await runner.up(source(webStack()), upOpts(), ctx());
    const r = await runner.down('web-stack', { removeNetworks: false }, ctx());
    assert.equal(r.services.length, 4);
    assert.deepEqual(r.removedNetworks, []);
    const c = hv.controls;
    for (const dep of ['web-stack-db-1', 'web-stack-cache-1']) {
      for (const w of ['web-stack-web-1', 'web-stack-web-2']) {
        assert.ok(c.seqOf('delete', w, 'end') < c.seqOf('delete', dep, 'begin'), `${w} removed before ${dep}`);
      }
    }
    assert.equal(hv.size, 0);
    assert.equal((await nm.get('web-stack-backend', ctx())).name, 'web-stack-backend');
    const again = await runner.down('web-stack', { removeNetworks: true }, ctx());
    assert.deepEqual(again.removedNetworks, ['web-stack-backend']);
  });

  it('works with a network manager that reports no labels (down finds the networks its VMs used)', async () => {
    const env = makeEnv();
    const strip = <T extends { labels?: unknown }>(n: T): T => ({ ...n, labels: undefined });
    const nm = env.nm;
    const bare = Object.assign(Object.create(nm) as typeof nm, {
      list: async (c: ReturnType<typeof env.ctx>) => (await nm.list(c)).map(strip),
      get: async (name: string, c: ReturnType<typeof env.ctx>) => strip(await nm.get(name, c)),
    });
    const { ComposeService } = await import('../../src/plugins/compose/ComposeService.js');
    const { quietLogger } = await import('../../src/testing/callContext.js');
    const runner = new ComposeService({ vms: env.vms, hypervisor: env.hv, networks: bare, log: quietLogger,
      parallelism: 4, defaultTimeoutSeconds: 5, stopTimeoutSeconds: 1 });
    await runner.up(source(webStack()), upOpts(), env.ctx());
    const again = await runner.up(source(webStack()), upOpts(), env.ctx());
    assert.ok(again.services.every((s) => s.action === 'unchanged'));
    const down = await runner.down('web-stack', { removeNetworks: true }, env.ctx());
    assert.deepEqual(down.removedNetworks, ['web-stack-backend']);
    assert.deepEqual((await nm.list(env.ctx())).map((n) => n.name), ['default']);
  });

  it('state comes from the VMs: a new runner (daemon restart) sees the project', async () => {
    const { runner, make, ctx } = makeEnv();
    await runner.up(source(webStack()), upOpts(), ctx());
    const fresh = make();
    const ps = await fresh.ps('web-stack', ctx());
    assert.equal(ps.services.length, 4);
    assert.ok(ps.services.every((s) => s.status === 'running'));
    const again = await fresh.up(source(webStack()), upOpts(), ctx());
    assert.ok(again.services.every((s) => s.action === 'unchanged'));
    const down = await fresh.down('web-stack', { removeNetworks: true }, ctx());
    assert.equal(down.services.length, 4);
  });

  it('ps of an unknown project is empty; restart of one is NOT_FOUND', async () => {
    const { runner, ctx } = makeEnv();
    assert.deepEqual((await runner.ps('ghost', ctx())).services, []);
    await rejectsWithCode(runner.restart('ghost', { services: [] }, ctx()), 'NOT_FOUND');
  });

  it('restart waits for a restarted ip_assigned dependency to get its address again', async () => {
    const { runner, hv, ctx } = makeEnv({ delays: { ip: 20 } });
    await runner.up(source(webStack()), upOpts(), ctx());
    hv.controls.resetLog();
    await runner.restart('web-stack', { services: ['db', 'web'] }, ctx());
    const c = hv.controls;
    const waited = c.seqOf('waitForIp', 'web-stack-db-1', 'end');
    assert.ok(waited > c.seqOf('restart', 'web-stack-db-1', 'end'), 'waited for db after restarting it');
    assert.ok(c.seqOf('restart', 'web-stack-web-1', 'begin') > waited, 'web restarted only then');
    assert.deepEqual(c.order('restart').filter((n) => n.includes('cache')), [], 'cache was not named');
  });

  it('restart restarts all services in dependency order, or only the ones named', async () => {
    const { runner, hv, ctx } = makeEnv({ delays: { restart: 2 } });
    await runner.up(source(webStack()), upOpts(), ctx());
    await hv.stop('web-stack-web-2', { force: true, timeoutSeconds: 0 }, ctx());
    hv.controls.resetLog();
    const r = await runner.restart('web-stack', { services: [] }, ctx());
    assert.equal(r.services.length, 4);
    assert.ok(r.services.every((s) => s.action === 'restarted' && s.status === 'running'));
    const c = hv.controls;
    assert.ok(c.seqOf('restart', 'web-stack-db-1', 'end') < c.seqOf('restart', 'web-stack-web-1', 'begin'));
    assert.ok(c.seqOf('start', 'web-stack-web-2', 'begin') > 0, 'a stopped VM is started');
    hv.controls.resetLog();
    const only = await runner.restart('web-stack', { services: ['db'] }, ctx());
    assert.deepEqual(only.services.map((s) => s.vmName), ['web-stack-db-1']);
    assert.deepEqual(hv.controls.order('restart'), ['web-stack-db-1']);
    await rejectsWithCode(runner.restart('web-stack', { services: ['nope'] }, ctx()), 'NOT_FOUND');
  });

  it('validate reports services in dependency order and the project name', async () => {
    const { runner, ctx } = makeEnv();
    const v = await runner.validate(source(webStack(), { projectName: 'other' }), ctx());
    assert.equal(v.valid, true);
    assert.equal(v.project, 'other');
    assert.deepEqual(v.services, ['cache', 'db', 'web']);
    assert.deepEqual(v.errors, []);
  });
});
