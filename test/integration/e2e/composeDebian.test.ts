// A compose project of two real Debian 12 VMs through the CLI, as a user runs it: `db` has a fixed
// address and a healthcheck on a file its cloud-init writes, `web` depends on it with service_healthy
// and finds it by name (`getent hosts db`). `up --wait`
// returns once both are ready (printing progress), `ps` shows db healthy, `exec` runs in web over SSH
// with the CLI's injected key, `logs` prefixes console lines by service, `down` leaves nothing behind.
// The healthcheck runs through qemu-guest-agent (the image has it). Under TCG a guest needs minutes,
// far more under load: bounds are generous and nothing is timed.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import composePlugin from '../../../src/plugins/compose/index.js';
import libvirtPlugin from '../../../src/plugins/libvirt/index.js';
import { startTestDaemon, type TestDaemon } from '../../../src/testing/startTestDaemon.js';
import { vmr, type VmrResult } from '../../cli/support/runVmr.js';
import { DEBIAN_GUEST, debianGuestImage } from '../../support/debianGuest.js';
import { optedOut, requireService } from '../../support/services.js';
import { leaseSubnets, uniqueName } from '../../support/unique.js';

const URI = 'qemu:///system';
/** Both guests boot at once: twice the single-guest bound, plus room for cloud-init. */
const READY_S = Math.round((DEBIAN_GUEST.sshReadyMs * 2) / 1000);

describe('compose with two Debian 12 VMs: service_healthy, up --wait, ps health, exec, logs', { skip: optedOut('libvirtd'), timeout: 3_600_000 }, () => {
  let d: TestDaemon;
  let home: string;
  let dir: string;
  const project = uniqueName('vmrcd').toLowerCase();
  const ref = `${uniqueName('vmr-cdeb-img')}:12`;
  const subnet = `10.231.${leaseSubnets(1)}.0/24`;
  /** db's fixed address: a DHCP reservation in the project network (merged from branch cnet). */
  const dbIp = subnet.replace(/0\/24$/, '10');
  const raw = (args: string[], timeoutMs = 120_000): Promise<VmrResult> =>
    vmr(args, { env: { HOME: home, VMR_HOST: `unix://${d.socket}` }, timeoutMs });
  const cli = (args: string[], timeoutMs = 120_000) => raw(['compose', '-f', path.join(dir, 'vmcompose.yaml'), ...args], timeoutMs);
  const ok = (r: VmrResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

  before(async () => {
    await requireService('libvirtd');
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-cdeb-home-'));
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmr-cdeb-'));
    d = await startTestDaemon({
      plugins: [libvirtPlugin, composePlugin],
      pluginConfig: { libvirt: { uri: URI, domainType: 'qemu' }, compose: { parallelism: 2 } },
    });
  });

  after(async () => {
    if (d) {
      await cli(['down', '--remove-networks'], 600_000).catch(() => undefined);
      await raw(['rmi', ref]).catch(() => undefined);
      await d.stop();
    }
    await fs.rm(home, { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('up --wait gates web on db\'s healthcheck; ps, exec and logs work on services', async () => {
    const image = await debianGuestImage();
    ok(await raw(['import', image, '-t', ref], 600_000), 'vmr import');
    await fs.writeFile(path.join(dir, 'vmcompose.yaml'), `api_version: vmregistry.io/v1alpha1
kind: VMCompose
name: ${project}
networks:
  back: { mode: nat, subnet: ${subnet} }
services:
  db:
    image: ${ref}
    resources: { memory_mb: ${DEBIAN_GUEST.memoryMb}, vcpu_count: ${DEBIAN_GUEST.vcpuCount} }
    networks: { back: { ipv4_address: ${dbIp} } }
    cloud_init:
      user_data:
        write_files:
          - { path: /var/lib/vmr-db/ready, content: "db is ready\\n" }
        runcmd:
          - [sh, -c, "echo db-runcmd-done > /var/lib/vmr-db/runcmd"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /var/lib/vmr-db/ready && test -f /var/lib/vmr-db/runcmd"]
      interval: 5s
      timeout: 30s
      retries: 5
      # The agent starts before cloud-init's final stage: failures until then are expected, not a verdict.
      start_period: ${READY_S}s
  web:
    image: ${ref}
    resources: { memory_mb: ${DEBIAN_GUEST.memoryMb}, vcpu_count: ${DEBIAN_GUEST.vcpuCount} }
    networks: [back]
    depends_on:
      db: { condition: service_healthy }
`);
    const valid = await cli(['config']);
    ok(valid, 'compose config');
    assert.match(valid.stdout, /services \(start order\): db, web/);

    // up --wait: web is created only once db is healthy, and up returns once web meets its condition.
    const up = await cli(['up', '--wait', '-t', String(READY_S)], READY_S * 2000 + 600_000);
    ok(up, 'compose up --wait');
    assert.match(up.stderr, /db-1: running/, 'progress per service');
    assert.match(up.stdout, new RegExp(`${project}-web-1`));

    const ps = await cli(['ps', '--json'], 180_000);
    ok(ps, 'compose ps');
    const rows = JSON.parse(ps.stdout).services as Array<{ service: string; health: string; status: string; ipAddresses: string[] }>;
    const db = rows.find((r) => r.service === 'db')!;
    assert.equal(db.health, 'healthy');
    assert.equal(db.status, 'running');
    assert.deepEqual(db.ipAddresses, [dbIp], 'db has its fixed address');
    const table = await cli(['ps'], 180_000);
    assert.match(table.stdout, /HEALTH[\s\S]*healthy/);

    // exec in web over SSH with the CLI's injected key (web waited for nothing but db; sshd may still come up).
    const hostname = await cli(['exec', '--wait', String(READY_S), 'web', '--', 'cat', '/etc/hostname'], READY_S * 1000 + 300_000);
    ok(hostname, 'compose exec web');
    assert.equal(hostname.stdout.trim(), 'web', 'the guest\'s hostname is the service name');
    // web reaches db by name: the project network's DNS has db's entry.
    const getent = await cli(['exec', 'web', '--', 'getent', 'hosts', 'db'], 300_000);
    ok(getent, 'compose exec web -- getent hosts db');
    assert.match(getent.stdout, new RegExp(`^${dbIp.replace(/\./g, '\\.')}\\s+db\\b`, 'm'));
    const seven = await cli(['exec', 'db', '--', 'sh', '-c', 'cat /var/lib/vmr-db/ready; exit 7'], 300_000);
    assert.equal(seven.code, 7, seven.stderr);
    assert.match(seven.stdout, /db is ready/);

    // logs: lines of both VMs, each prefixed by its service.
    const logs = await cli(['logs', '--tail', '50'], 180_000);
    ok(logs, 'compose logs');
    assert.match(logs.stdout, /^db-1 +\| /m);
    assert.match(logs.stdout, /^web-1 +\| /m);
    const onlyDb = await cli(['logs', '--tail', '5', 'db'], 180_000);
    assert.ok(onlyDb.stdout.trim().split('\n').every((l) => l.startsWith('db-1')), onlyDb.stdout);

    const down = await cli(['down', '--remove-networks'], 600_000);
    ok(down, 'compose down');
    assert.match(down.stdout, new RegExp(`Removed network ${project}-back`));
  });
});
