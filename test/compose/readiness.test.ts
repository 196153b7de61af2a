// depends_on conditions beyond ip_assigned, healthchecks, ps health and up --wait, on the fakes with a
// scripted guest agent (InMemoryHypervisor.guest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../src/core/errors.js';
import type { GuestScript } from '../../src/testing/fakes/InMemoryHypervisor.js';
import { rejectsWithCode } from '../contract/support.js';
import { IMAGE, makeEnv, source, upOpts } from './support.js';

const stack = (db: string, dep: string) => `api_version: vmregistry.io/v1alpha1
kind: VMCompose
name: p
services:
  db:
    image: ${IMAGE}
${db.split('\n').map((l) => `    ${l}`).join('\n')}
  web:
    image: ${IMAGE}
    depends_on: { db: { condition: ${dep} } }
`;

const HC = 'healthcheck: { test: ["CMD-SHELL", "test -f /ready"], interval: 10ms, timeout: 1s, retries: 3 }';
const ok = { exitCode: 0, stdout: '', stderr: '' };
const bad = { exitCode: 1, stdout: '', stderr: 'no /ready' };

/** db's guest: agent down for the first `down` calls, then the test fails `failing` times, then passes. */
function guest(down: number, failing: number, calls: string[][] = []): GuestScript {
  return (_vm, argv) => {
    calls.push(argv);
    if (down-- > 0) throw new UnavailableError('agent not connected');
    return failing-- > 0 ? bad : ok;
  };
}

describe('compose readiness conditions', () => {
  it('service_healthy: web starts only once db\'s healthcheck passes; the agent being down does not count', async () => {
    const calls: string[][] = [];
    const { runner, hv, ctx } = makeEnv({ guest: guest(3, 2, calls) });
    await runner.up(source(stack(HC, 'service_healthy')), upOpts(), ctx());
    assert.deepEqual(calls.at(-1), ['/bin/sh', '-c', 'test -f /ready']);
    assert.equal(calls.length, 6, '3 unanswered, 2 failed, 1 passed');
    const execs = hv.controls.events.filter((e) => e.op === 'guestExec' && e.phase === 'end');
    assert.ok(hv.controls.seqOf('run', 'p-web-1', 'begin') > execs.at(-1)!.seq, 'web after the passing test');
    const ps = await runner.ps('p', ctx());
    assert.equal(ps.services.find((s) => s.service === 'db')!.health, 'healthy');
    assert.equal(ps.services.find((s) => s.service === 'web')!.health, '', 'no healthcheck, no health');
  });

  it('an unhealthy dependency fails up, names the service and the test, and web never starts', async () => {
    const { runner, hv, ctx } = makeEnv({ guest: () => bad });
    const err = await rejectsWithCode(runner.up(source(stack(HC, 'service_healthy')), upOpts(), ctx()), 'FAILED_PRECONDITION');
    assert.match(err.message, /service "db" failed: service "db" is unhealthy: VM p-db-1 failed its healthcheck 3 time\(s\)/);
    assert.match(err.message, /test -f \/ready exited 1: no \/ready/);
    assert.match(err.message, /not started: web/);
    assert.ok(!hv.controls.order('run').includes('p-web-1'));
    assert.equal((await runner.ps('p', ctx())).services[0]!.health, 'unhealthy');
  });

  it('start_period: failures inside it do not count', async () => {
    const { runner, ctx } = makeEnv({ guest: guest(0, 5) });
    await runner.up(source(stack('healthcheck: { test: "test -f /ready", interval: 10ms, retries: 1, start_period: 10m }', 'service_healthy')), upOpts(), ctx());
  });

  it('cloud_init_done runs cloud-init status --wait in the guest and accepts exit 2 (done, recoverable errors)', async () => {
    const calls: string[][] = [];
    const { runner, ctx } = makeEnv({ guest: (vm, argv) => { calls.push(argv); return { exitCode: 2, stdout: 'status: done', stderr: '' }; } });
    await runner.up(source(stack('{}', 'cloud_init_done').replace('    {}\n', '')), upOpts(), ctx());
    assert.deepEqual(calls, [['cloud-init', 'status', '--wait']]);
  });

  it('cloud_init_done fails when cloud-init reports an error', async () => {
    const { runner, ctx } = makeEnv({ guest: () => ({ exitCode: 1, stdout: 'status: error', stderr: '' }) });
    const err = await rejectsWithCode(runner.up(source(stack('', 'cloud_init_done')), upOpts(), ctx()), 'FAILED_PRECONDITION');
    assert.match(err.message, /cloud-init finished with errors in VM p-db-1: cloud-init status --wait exited 1: status: error/);
  });

  it('a guest whose agent never answers runs out of time with DEADLINE_EXCEEDED naming service and condition', async () => {
    const { runner, ctx } = makeEnv();
    const err = await rejectsWithCode(runner.up(source(stack('', 'cloud_init_done')), upOpts({ timeoutSeconds: 1 }), ctx()), 'DEADLINE_EXCEEDED');
    assert.match(err.message, /service "db" did not meet cloud_init_done within 1 s \(service "web" waits for it/);
    assert.match(err.message, /qemu-guest-agent/);
  });

  it('ssh_ready waits for the banner at the VM\'s address', async () => {
    const probed: string[] = [];
    let answers = 0;
    const { runner, hv, ctx } = makeEnv({ sshProbe: async (ip) => { probed.push(ip); return ++answers > 2; } });
    await runner.up(source(stack('', 'ssh_ready')), upOpts(), ctx());
    const dbIp = (await hv.get('p-db-1', ctx())).networks[0]!.ipAddresses[0];
    assert.deepEqual(probed, [dbIp, dbIp, dbIp]);
  });

  it('up --wait waits for a healthcheck nobody depends on, and fails naming the service', async () => {
    const file = `api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: solo\nservices:\n  app:\n    image: ${IMAGE}\n    ${HC}\n`;
    const calls: string[][] = [];
    const fine = makeEnv({ guest: guest(0, 1, calls) });
    await fine.runner.up(source(file), upOpts(), fine.ctx());
    assert.equal(calls.length, 0, 'without --wait nothing is tested');
    await fine.runner.up(source(file), upOpts({ wait: true }), fine.ctx());
    assert.equal(calls.length, 2);

    const sick = makeEnv({ guest: () => bad });
    const err = await rejectsWithCode(sick.runner.up(source(file), upOpts({ wait: true }), sick.ctx()), 'FAILED_PRECONDITION');
    assert.match(err.message, /service "app" failed: service "app" is unhealthy/);
  });

  it('restart waits for the dependency\'s condition again before restarting dependents', async () => {
    const calls: string[][] = [];
    const { runner, ctx } = makeEnv({ guest: guest(0, 0, calls) });
    await runner.up(source(stack(HC, 'service_healthy')), upOpts(), ctx());
    const before = calls.length;
    await runner.restart('p', { services: [] }, ctx());
    assert.ok(calls.length > before, 'the healthcheck ran again after db restarted');
  });
});

describe('compose validate: readiness', () => {
  const check = async (db: string, dep: string, labels: Record<string, string> = {}) => {
    const { runner, ctx } = makeEnv({ imageLabels: labels });
    return runner.validate(source(stack(db, dep)), ctx());
  };

  it('accepts every condition and a full healthcheck', async () => {
    for (const c of ['started', 'ip_assigned', 'ssh_ready', 'cloud_init_done', 'service_healthy']) {
      const r = await check('healthcheck: { test: ["CMD", "true"], interval: 1m30s, timeout: 500ms, retries: 2, start_period: 5 }', c);
      assert.ok(r.valid, `${c}: ${JSON.stringify(r.errors)}`);
    }
  });

  it('service_healthy without a healthcheck, an unknown condition, bad durations and retries, with lines', async () => {
    const r1 = await check('', 'service_healthy');
    assert.equal(r1.errors[0]!.path, 'services.web.depends_on.db.condition');
    assert.match(r1.errors[0]!.message, /needs a healthcheck: on service "db"/);
    assert.equal(r1.errors[0]!.line, 10);

    const r2 = await check('', 'service_ready');
    assert.match(r2.errors[0]!.message, /must be one of .*service_healthy/);

    const r3 = await check('healthcheck: { test: ["CMD-SHELL", "true"], interval: 10 minutes, timeout: 0s, retries: 0 }', 'started');
    const by = Object.fromEntries(r3.errors.map((e) => [e.path, e]));
    assert.match(by['services.db.healthcheck.interval']!.message, /not a duration/);
    assert.match(by['services.db.healthcheck.timeout']!.message, /between 0.1s/);
    assert.match(by['services.db.healthcheck.retries']!.message, /at least 1/);
    assert.ok(r3.errors.every((e) => e.line === 7), JSON.stringify(r3.errors));

    const r4 = await check('healthcheck: { test: ["true"] }', 'started');
    assert.match(r4.errors[0]!.message, /starts with "CMD" or "CMD-SHELL"/);
  });

  it('a condition that needs the guest agent on an image that says it has none', async () => {
    const r = await check('', 'cloud_init_done', { 'vmregistry.io/guest-agent': 'false' });
    assert.equal(r.valid, false);
    assert.match(r.errors[0]!.message, /cannot be met by service "db": its image .* has no guest agent/);
    assert.ok((await check('', 'ssh_ready', { 'vmregistry.io/guest-agent': 'false' })).valid);
    const hc = await check(HC, 'ssh_ready', { 'vmregistry.io/guest-agent': 'false' });
    assert.equal(hc.errors[0]!.path, 'services.db.healthcheck');
    assert.equal(hc.errors[0]!.line, 7);
    assert.match(hc.errors[0]!.message, /the healthcheck cannot run/);
  });
});
