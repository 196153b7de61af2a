import assert from 'node:assert/strict';
import { symlink, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Issue } from '../../src/core/errors.js';
import { loadProject } from '../../src/plugins/compose/load.js';
import { HostPaths } from '../../src/core/hostfs/HostPaths.js';
import { IMAGE, makeEnv, projectDir, source } from './support.js';

const head = 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: t\n';
const lines = (issues: Issue[]) => issues.map((i) => `${i.line}:${i.path}`);
const find = (issues: Issue[], p: string) => {
  const i = issues.find((x) => x.path === p);
  assert.ok(i, `an issue at ${p} in ${JSON.stringify(issues, null, 1)}`);
  return i;
};

describe('compose validate: every problem at once, with path and line', () => {
  it('reports all problems of a bad file in one pass', async () => {
    const { dir, cleanup } = await projectDir({ 'ok.yaml': 'x' });
    try {
      const { runner, ctx } = makeEnv({ localImages: [IMAGE] });
      const file = `${head}networks:
  back: { mode: nat, subnet: 10.42.0.0/33 }
  front: { mode: nat, subnet: 10.42.0.0/16 }
  wide: { mode: nat, subnet: 10.0.0.0/8 }
services:
  db:
    image: ${IMAGE}
    resourses: { memory_mb: 512 }
    networks: [nowhere]
    depends_on: [web]
    cloud_init: { user_data_file: ../../etc/passwd, meta_data_file: ./missing.yaml }
  web:
    image: remote.example/web:1
    depends_on: { db: { condition: healthy }, ghost: {} }
  Web:
    image: ${IMAGE}
    replicas: two
`;
      const v = await runner.validate(source(file, { baseDir: dir }), ctx());
      assert.equal(v.valid, false);
      assert.deepEqual(lines(v.errors), [
        '5:networks.back.subnet',
        '7:networks.wide.subnet',
        '11:services.db.resourses',
        '12:services.db.networks[0]',
        '13:services.db.depends_on',
        '14:services.db.cloud_init.meta_data_file',
        '14:services.db.cloud_init.user_data_file',
        '17:services.web.depends_on.db.condition',
        '17:services.web.depends_on.ghost',
        '18:services.Web',
        '20:services.Web.replicas',
      ]);
      const e = (p: string) => find(v.errors, p).message;
      assert.match(e('networks.back.subnet'), /prefix \/33/);
      assert.match(e('networks.wide.subnet'), /overlaps network "front"/);
      assert.match(e('services.db.resourses'), /unknown key \(did you mean "resources"\?\)/);
      assert.match(e('services.db.networks[0]'), /unknown network "nowhere"/);
      assert.match(e('services.db.depends_on'), /dependency cycle: db → web → db/);
      assert.match(e('services.db.cloud_init.meta_data_file'), /does not exist/);
      assert.match(e('services.db.cloud_init.user_data_file'), /escapes the project directory/);
      assert.match(e('services.web.depends_on.db.condition'), /"started", "ip_assigned"/);
      assert.match(e('services.web.depends_on.ghost'), /unknown service "ghost"/);
      assert.match(e('services.Web'), /VM name "t-Web-1" clashes with a replica of service "web"/);
      assert.match(e('services.Web.replicas'), /whole number/);
      assert.deepEqual(lines(v.warnings), ['16:services.web.image']);
      assert.match(v.warnings[0]!.message, /not in the local store/);
      assert.ok(v.warnings.every((w) => w.severity === 'warning'));
    } finally {
      await cleanup();
    }
  });

  it('YAML syntax errors and duplicate keys come with their line', async () => {
    const r1 = await loadProject(source(`${head}services:\n  a: { image: x\n  b: 1\n`));
    assert.ok(r1.errors.length > 0 && r1.errors.every((e) => typeof e.line === 'number' && e.line >= 4));
    const r2 = await loadProject(source(`${head}services:\n  a: { image: x }\n  a: { image: y }\n`));
    assert.equal(r2.errors[0]!.line, 6);
    assert.match(r2.errors[0]!.message, /unique/);
    const r3 = await loadProject(source('- just\n- a list\n'));
    assert.match(r3.errors[0]!.message, /is a mapping/);
  });

  it('checks the header, required keys and the project name', async () => {
    const r = await loadProject(source('api_version: v0\nkind: Compose\nname: Bad_Name\nextra: 1\nservices:\n  a: {}\n'));
    assert.deepEqual(lines(r.errors), ['1:api_version', '2:kind', '3:name', '4:extra', '6:services.a.image']);
    const r2 = await loadProject(source('api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nservices: {}\n'));
    assert.match(find(r2.errors, 'name').message, /needs a name/);
    assert.match(find(r2.warnings, 'services').message, /no services/);
    const r3 = await loadProject(source(`${head}services: {}\n`, { projectName: 'UPPER' }));
    assert.match(find(r3.errors, 'name').message, /from the request/);
    const r4 = await loadProject(source('api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nservices: {}\n', { projectName: 'fromreq' }));
    assert.equal(r4.projectName, 'fromreq');
    assert.deepEqual(r4.errors, []);
  });

  it('checks networks: subnets, gateways, DHCP ranges, bridge mode, external ones', async () => {
    const r = await loadProject(source(`${head}networks:
  a: { subnet: 10.1.0.5/24 }
  b: { subnet: 10.2.0.0/24, gateway: 10.3.0.1, dhcp: { start: 10.2.0.200, end: 10.2.0.100 } }
  c: { mode: bridge }
  d: { mode: isolated }
  e: { external: true, subnet: 10.9.0.0/24 }
  f: { subnet: 10.4.0.0/24, dhcp: { start: 10.4.0.10 } }
services: {}
`));
    assert.deepEqual(lines(r.errors), ['5:networks.a.subnet', '6:networks.b.dhcp', '6:networks.b.gateway', '7:networks.c.bridge', '8:networks.d.subnet', '10:networks.f.dhcp.end']);
    assert.match(find(r.errors, 'networks.a.subnet').message, /did you mean 10\.1\.0\.0\/24/);
    assert.match(find(r.errors, 'networks.b.gateway').message, /not a host address inside 10\.2\.0\.0\/24/);
    assert.match(find(r.errors, 'networks.b.dhcp').message, /ends before it starts/);
    assert.deepEqual(lines(r.warnings), ['9:networks.e.subnet', '11:services']);
  });

  it('checks services: self-dependency, one network, cloud-init sources, VM name length', async () => {
    const long = 'x'.repeat(70);
    const r = await loadProject(source(`${head}networks:
  n1: { subnet: 10.1.0.0/24 }
  n2: { subnet: 10.2.0.0/24 }
services:
  a:
    image: i
    depends_on: [a, a]
    networks: [n1, n2]
    cloud_init: { user_data: hi, user_data_file: ./u.yaml }
  ${long}:
    image: i
`));
    assert.deepEqual(lines(r.errors), [
      '10:services.a.depends_on[0]', '10:services.a.depends_on[1]', '10:services.a.depends_on[1]', '11:services.a.networks',
      '12:services.a.cloud_init.user_data_file', `13:services.${long}`,
    ]);
    assert.match(find(r.errors, 'services.a.depends_on[0]').message, /depends on itself/);
    assert.ok(r.errors.some((e) => e.path === 'services.a.depends_on[1]' && /listed twice/.test(e.message)));
    assert.match(find(r.errors, 'services.a.networks').message, /at most 1/);
    assert.match(find(r.errors, 'services.a.cloud_init.user_data_file').message, /either user_data or user_data_file/);
    assert.match(find(r.errors, `services.${long}`).message, /not a valid VM name/);
  });

  it('refuses cloud-init files that are symlinks, directories, or not sent without a readable base dir', async () => {
    const { dir, cleanup } = await projectDir({ 'sub/ok.yaml': '#cloud-config\n' });
    try {
      await symlink('/etc/hostname', path.join(dir, 'link.yaml'));
      await mkdir(path.join(dir, 'adir'));
      const file = (f: string) => `${head}services:\n  a:\n    image: i\n    cloud_init: { user_data_file: ${f} }\n`;
      const msg = async (f: string, baseDir = dir) => (await loadProject(source(file(f), { baseDir }))).errors[0]?.message ?? '';
      // The final component is opened with O_NOFOLLOW: a symlink is refused, wherever it points.
      assert.match(await msg('./link.yaml'), /symbolic link/);
      assert.match(await msg('./adir'), /not a regular file/);
      assert.match(await msg('/etc/hostname'), /relative/);
      assert.match(await msg('./sub/ok.yaml', ''), /not sent with the request/);
      const ok = await loadProject(source(file('./sub/ok.yaml'), { baseDir: dir }));
      assert.deepEqual(ok.errors, []);
      assert.equal(ok.project!.services[0]!.cloudInit!.userData, '#cloud-config\n');
      assert.equal(ok.errors.length, 0);
    } finally {
      await cleanup();
    }
  });

  it('takes *_file contents the client sent, and reads the host only under paths.import', async () => {
    const { dir, cleanup } = await projectDir({ 'u.yaml': '#cloud-config\nfrom: host\n' });
    try {
      const file = `${head}services:\n  a:\n    image: i\n    cloud_init: { user_data_file: ./u.yaml, meta_data_file: m.yaml }\n`;
      // Sent by the client: no base dir, no host read.
      const sent = await loadProject(source(file, { baseDir: '', files: { './u.yaml': '#cloud-config\nfrom: client\n', 'm.yaml': 'instance-id: a' } }));
      assert.deepEqual(sent.errors, []);
      assert.equal(sent.project!.services[0]!.cloudInit!.userData, '#cloud-config\nfrom: client\n');
      assert.equal(sent.project!.services[0]!.cloudInit!.metaData, 'instance-id: a');
      // Not sent, base dir outside the daemon's paths.import: PERMISSION_DENIED naming the setting.
      const host = new HostPaths({ dataDir: path.join(dir, 'data'), import: [path.join(dir, 'elsewhere')] });
      await assert.rejects(loadProject(source(file, {
        baseDir: dir, files: { 'm.yaml': 'x' }, readFile: (rel, field, max) => host.readWithin(dir, rel, field, max),
      })), (e: { code?: string; message: string; field?: string }) => e.code === 'PERMISSION_DENIED' && /paths\.import/.test(e.message) && e.field === 'base_dir');
      const tooBig = await loadProject(source(file, { baseDir: '', files: { './u.yaml': 'x'.repeat(4 * 1024 * 1024 + 1), 'm.yaml': 'x' } }));
      assert.match(tooBig.errors[0]!.message, /limited to/);
    } finally {
      await cleanup();
    }
  });

  it('inline cloud-init mappings become #cloud-config YAML', async () => {
    const r = await loadProject(source(`${head}services:\n  a:\n    image: i\n    cloud_init:\n      user_data: { hostname: a, packages: [curl] }\n      meta_data: "instance-id: a"\n`));
    assert.deepEqual(r.errors, []);
    assert.equal(r.project!.services[0]!.cloudInit!.userData, '#cloud-config\nhostname: a\npackages:\n  - curl\n');
    assert.equal(r.project!.services[0]!.cloudInit!.metaData, 'instance-id: a');
  });

  it('interpolation problems are reported where they occur', async () => {
    const r = await loadProject(source(`${head}services:\n  a:\n    image: "\${NEED:?set NEED to the image}"\n    labels: { x: "\${UNSET}", y: "\${oops", z: "\${A:-1}" }\n`));
    assert.deepEqual(lines(r.errors), ['6:services.a.image', '7:services.a.labels.y']);
    assert.match(find(r.errors, 'services.a.image').message, /variable NEED is required: set NEED to the image/);
    assert.match(find(r.errors, 'services.a.labels.y').message, /unterminated/);
    assert.deepEqual(lines(r.warnings), ['7:services.a.labels.x']);
    assert.match(r.warnings[0]!.message, /UNSET is not set/);
  });

  it('an interpolated number where a number is expected is accepted; a non-number is not', async () => {
    const f = `${head}services:\n  a:\n    image: i\n    replicas: "\${N}"\n    ephemeral: \${E}\n`;
    const ok = await loadProject(source(f, { env: { N: '3', E: 'true' } }));
    assert.deepEqual(ok.errors, []);
    assert.equal(ok.project!.services[0]!.replicas, 3);
    assert.equal(ok.project!.services[0]!.ephemeral, true);
    const bad = await loadProject(source(f, { env: { N: 'three', E: 'yes' } }));
    assert.deepEqual(lines(bad.errors), ['7:services.a.replicas', '8:services.a.ephemeral']);
  });

  it('a literal number stays invalid where a string is expected, but labels accept interpolated numbers', async () => {
    const r = await loadProject(source(`${head}services:\n  a:\n    image: i\n    labels: { port: "\${PORT}", n: 5 }\n`, { env: { PORT: '8080' } }));
    assert.deepEqual(lines(r.errors), ['7:services.a.labels.n']);
  });

  it('without an image store, images are not checked', async () => {
    const r = await loadProject(source(`${head}services:\n  a: { image: nowhere/x:1 }\n`));
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
  });
});
