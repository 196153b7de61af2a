import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFakeDaemon, status, type FakeDaemon } from './support/fakeServer.js';
import { vmr } from './support/runVmr.js';

let fake: FakeDaemon;
let dir: string;
const composeYaml = 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: stack\nservices:\n  db: { image: "${DB_IMAGE}" }\n';
const run = (args: string[], opts: Parameters<typeof vmr>[1] = {}) => vmr(['--host', fake.target, ...args], { cwd: dir, ...opts });

before(async () => {
  fake = await startFakeDaemon();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-compose-'));
  await fs.writeFile(path.join(dir, 'vmcompose.yaml'), composeYaml);
  await fs.writeFile(path.join(dir, '.env'), 'DB_IMAGE=from-dotenv\nONLY_DOTENV=1\n');
  await fs.writeFile(path.join(dir, 'prod.env'), 'DB_IMAGE=from-env-file\nSHELL_WINS=file\n');
  await fs.mkdir(path.join(dir, 'empty'));
  await fs.writeFile(path.join(dir, 'other.yml'), composeYaml.replace('stack', 'other').replace('db', 'cycle'));
});
after(async () => {
  await fake.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('up reads vmcompose.yaml from the cwd and sends content and env (.env, shell wins), no daemon path', async () => {
  const r = await run(['compose', 'up', '-d'], { env: { SHELL_WINS: 'shell' } });
  assert.equal(r.code, 0, r.stderr);
  const req = fake.last('ComposeUp');
  assert.equal(req.content, composeYaml);
  assert.equal(req.baseDir, '', 'the daemon is given no path of the user\'s');
  assert.deepEqual(req.files, {});
  assert.equal(req.projectName, '');
  assert.equal(req.env.DB_IMAGE, 'from-dotenv');
  assert.equal(req.env.ONLY_DOTENV, '1');
  assert.equal(req.env.SHELL_WINS, 'shell');
  assert.deepEqual(req.services, []);
  assert.match(r.stdout, /^Project stack\nSERVICE\s+VM\s+IMAGE\s+STATUS\s+ACTION\s+IP ADDRESSES\ndb\s+stack-db-1\s+alpine:3\.20\s+running\s+created\s+10\.42\.0\.10\n/);
});

test('cloud_init *_file contents are read by vmr (after ${VAR} interpolation) and sent, keyed as written', async () => {
  const sub = await fs.mkdtemp(path.join(dir, 'files-'));
  await fs.writeFile(path.join(sub, 'user-data.yaml'), '#cloud-config\nhostname: db\n');
  await fs.writeFile(path.join(sub, 'meta.yaml'), 'instance-id: db');
  await fs.writeFile(path.join(sub, 'vmcompose.yaml'), 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: files\nservices:\n' +
    '  db:\n    image: i\n    cloud_init: { user_data_file: ./user-data.yaml, meta_data_file: "${META:-meta}.yaml", network_config_file: ./missing.yaml }\n');
  const r = await run(['compose', 'up'], { cwd: sub });
  assert.equal(r.code, 0, r.stderr);
  const req = fake.last('ComposeUp');
  assert.equal(req.baseDir, '');
  assert.deepEqual(req.files, { './user-data.yaml': '#cloud-config\nhostname: db\n', 'meta.yaml': 'instance-id: db' });
  const v = await run(['compose', 'config', '-q'], { cwd: sub });
  assert.equal(v.code, 0, v.stderr);
  assert.deepEqual(fake.last('ComposeValidate').files, req.files);
});

test('-f, -p, --env-file and services; options work before or after the subcommand', async () => {
  const r = await run(['compose', '-f', 'other.yml', '--env-file', 'prod.env', 'up', '-p', 'demo', '--force-recreate', '-t', '60', 'web'],
    { env: { SHELL_WINS: 'shell' } });
  assert.equal(r.code, 0, r.stderr);
  const req = fake.last('ComposeUp');
  assert.equal(req.projectName, 'demo');
  assert.ok(req.content.includes('name: other'));
  assert.equal(req.env.DB_IMAGE, 'from-env-file');
  assert.equal(req.env.ONLY_DOTENV, undefined, '.env is not read when --env-file is given');
  assert.equal(req.env.SHELL_WINS, 'shell');
  assert.deepEqual(req.services, ['web']);
  assert.equal(req.forceRecreate, true);
  assert.equal(req.timeoutSeconds, 60);
  assert.equal(JSON.parse((await run(['--json', 'compose', 'up'])).stdout).project, 'stack');
});

test('down/ps/restart take the project from -p, or from the file via ComposeValidate', async () => {
  const down = await run(['compose', 'down', '--remove-networks']);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(fake.last('ComposeDown'), { projectName: 'stack', removeNetworks: true });
  assert.match(down.stdout, /Removed stack-db-1\nRemoved stack-web-1\nRemoved network stack-backend/);
  assert.equal((await run(['compose', '-p', 'demo', 'ps', '-q'])).stdout, 'stack-db-1\nstack-web-1\n');
  assert.deepEqual(fake.last('ComposePs'), { projectName: 'demo' });
  assert.equal((await run(['compose', 'ps', '--services'])).stdout, 'db\nweb\n');
  await run(['compose', 'restart', 'web']);
  assert.deepEqual(fake.last('ComposeRestart'), { projectName: 'stack', services: ['web'] });
});

test('config validates; errors exit 1; no compose file is a usage error', async () => {
  const ok = await run(['compose', 'config']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'project: stack\nservices (start order): db, web\n');
  assert.match(ok.stderr, /warning: services\.web\.image \(line 9\): image not local/);
  assert.equal((await run(['compose', 'config', '--services'])).stdout, 'db\nweb\n');
  const bad = await run(['compose', '-f', 'other.yml', 'config']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /error: services\.web\.depends_on \(line 4\): dependency cycle/);
  const j = await run(['--json', 'compose', '-f', 'other.yml', 'config']);
  assert.equal(j.code, 1);
  assert.equal(JSON.parse(j.stdout).valid, false);
  const none = await run(['compose', 'up'], { cwd: path.join(dir, 'empty') });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Error: no vmcompose\.yaml, vmcompose\.yml, compose\.yaml in .*empty; name one with -f FILE\n$/);
  const nodown = await run(['compose', 'down'], { cwd: path.join(dir, 'empty') });
  assert.equal(nodown.code, 2);
  assert.match(nodown.stderr, /pass -p NAME or -f FILE/);
});

test('compose logs: every VM\'s console, each line prefixed by service as docker compose does; a service subset', async () => {
  const saved = fake.handlers.VMLogs;
  fake.handlers.VMLogs = (req: { vm: string }, call: any) => {
    // A line split across chunks is printed whole, once.
    call.write({ data: Buffer.from(`${req.vm} boot\n${req.vm} half`) });
    call.write({ data: Buffer.from(' line\r\n') });
    call.end();
  };
  try {
    const r = await run(['compose', 'logs', '--tail', '5']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').sort();
    assert.deepEqual(lines, ['db-1   | stack-db-1 boot', 'db-1   | stack-db-1 half line', 'web-1  | stack-web-1 boot', 'web-1  | stack-web-1 half line']);
    assert.equal(fake.last('VMLogs').tailLines, 5);
    const only = await run(['compose', 'logs', 'db']);
    assert.deepEqual(only.stdout.trim().split('\n'), ['db-1  | stack-db-1 boot', 'db-1  | stack-db-1 half line']);
    const bad = await run(['compose', 'logs', 'nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /project "stack" has no service "nope"; its services are: db, web/);
  } finally {
    if (saved) fake.handlers.VMLogs = saved; else delete fake.handlers.VMLogs;
  }
});

test('compose exec/ssh resolve the service to its VM and refuse an unknown service or replica', async () => {
  const r = await run(['compose', 'exec', 'nope', '--', 'true']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no service "nope"/);
  const idx = await run(['compose', 'ssh', '--index', '3', 'db']);
  assert.equal(idx.code, 2);
  assert.match(idx.stderr, /service "db" has 1 replica\(s\); --index 3/);
});

test('compose ps shows HEALTH when the daemon reports it', async () => {
  const saved = fake.handlers.ComposePs;
  fake.handlers.ComposePs = (req: any) => ({ project: req.projectName, services: [
    { service: 'db', vmName: 'stack-db-1', status: 'running', action: '', ipAddresses: ['10.42.0.10'], image: 'i', health: 'healthy' },
    { service: 'web', vmName: 'stack-web-1', status: 'running', action: '', ipAddresses: [], image: 'i', health: '' },
  ] });
  try {
    const r = await run(['compose', 'ps']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SERVICE\s+VM\s+IMAGE\s+STATUS\s+HEALTH\s+IP ADDRESSES\ndb\s+stack-db-1\s+i\s+running\s+healthy\s+10\.42\.0\.10\nweb\s+stack-web-1\s+i\s+running\s+-\s+-/);
  } finally {
    fake.handlers.ComposePs = saved!;
  }
  const plain = await run(['compose', 'ps']);
  assert.doesNotMatch(plain.stdout, /HEALTH/, 'no column when nothing has a healthcheck');
});

test('compose up --wait asks the daemon to wait; on failure it shows the failing service\'s console tail', async () => {
  const ok = await run(['compose', 'up', '--wait']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(fake.last('ComposeUp').wait, true);
  const saved = { up: fake.handlers.ComposeUp, logs: fake.handlers.VMLogs };
  fake.handlers.ComposeUp = () => {
    throw status(9, 'compose up "stack": service "db" failed: service "db" is unhealthy: VM stack-db-1 failed its healthcheck 3 time(s) in a row');
  };
  fake.handlers.VMLogs = (req: any, call: any) => {
    call.write({ data: Buffer.from(`${req.vm}: postgres died\n`) });
    call.end();
  };
  try {
    const r = await run(['compose', 'up', '--wait']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Last console lines of stack-db-1 \(service "db"\):\n {2}\| stack-db-1: postgres died/);
    assert.doesNotMatch(r.stderr, /stack-web-1/, 'only the failing service');
    assert.match(r.stderr, /Error: compose up "stack": service "db" failed/);
  } finally {
    fake.handlers.ComposeUp = saved.up!;
    if (saved.logs) fake.handlers.VMLogs = saved.logs; else delete fake.handlers.VMLogs;
  }
});
