// Service names in the project network's DNS, fixed addresses (ipv4_address, mac_address) and their
// validation, on the in-memory fakes (the libvirt side: test/integration/compose/names.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Issue } from '../../src/core/errors.js';
import { checkMac, deterministicMac, planHostsChange } from '../../src/core/net/hostEntries.js';
import { InMemoryNetworkManager } from '../../src/testing/fakes/InMemoryNetworkManager.js';
import { testCallContext } from '../../src/testing/callContext.js';

const ctx = testCallContext();
import { IMAGE, makeEnv, source, upOpts } from './support.js';

const head = 'api_version: vmregistry.io/v1alpha1\nkind: VMCompose\nname: p\n';
const at = (issues: Issue[]) => issues.map((i) => `${i.line}:${i.path}`);

const stack = (svcExtra = '') => `${head}networks:
  back: { mode: nat, subnet: 10.0.5.0/24 }
services:
  db:
    image: ${IMAGE}
    networks: { back: { ipv4_address: 10.0.5.10 } }
  web:
    image: ${IMAGE}
    replicas: 2
    networks: [back]
    depends_on: { db: { condition: ip_assigned } }
${svcExtra}`;

describe('compose names and fixed addresses', () => {
  it('validate reports every bad address, MAC and name with its line, before anything exists', async () => {
    const { runner, hv, nm } = makeEnv();
    const file = `${head}networks:
  back: { mode: nat, subnet: 10.0.5.0/24 }
  ext: { external: true }
services:
  a:
    image: ${IMAGE}
    networks: { back: { ipv4_address: 10.0.6.1 } }
  b:
    image: ${IMAGE}
    networks: { back: { ipv4_address: 10.0.5.0 } }
  c:
    image: ${IMAGE}
    networks: { back: { ipv4_address: 10.0.5.255 } }
  d:
    image: ${IMAGE}
    networks: { back: { ipv4_address: 10.0.5.1 } }
  e:
    image: ${IMAGE}
    networks: { back: { ipv4_address: 10.0.5.20 } }
    mac_address: "01:00:5e:00:00:01"
  f:
    image: ${IMAGE}
    networks: { back: { ipv4_address: 10.0.5.20 } }
    mac_address: "52:54:00:00:00:zz"
  g:
    image: ${IMAGE}
    networks: { ext: { ipv4_address: 10.0.5.30 } }
  h:
    image: ${IMAGE}
    replicas: 2
    networks: { back: { ipv4_address: 10.0.5.40 } }
  i:
    image: ${IMAGE}
    networks: { nowhere: { ipv4_address: 10.0.5.50 } }
  j:
    image: ${IMAGE}
    mac_address: "52:54:00:00:00:01"
  k:
    image: ${IMAGE}
    mac_address: "52:54:00:00:00:01"
  h-1:
    image: ${IMAGE}
    networks: [back]
`;
    const r = await runner.validate(source(file), ctx);
    assert.equal(r.valid, false);
    const msg = (p: string) => r.errors.filter((e) => e.path === p).map((e) => e.message).join(' | ');
    assert.match(msg('services.a.networks.back.ipv4_address'), /outside the subnet 10\.0\.5\.0\/24/);
    assert.match(msg('services.b.networks.back.ipv4_address'), /network address/);
    assert.match(msg('services.c.networks.back.ipv4_address'), /broadcast address/);
    assert.match(msg('services.d.networks.back.ipv4_address'), /gateway/);
    assert.match(msg('services.e.mac_address'), /multicast/);
    assert.match(msg('services.f.networks.back.ipv4_address'), /already the address of service "e"/);
    assert.match(msg('services.f.mac_address'), /not a MAC address/);
    assert.match(msg('services.g.networks.ext.ipv4_address'), /external/);
    assert.match(msg('services.h.networks.back.ipv4_address'), /replicas: 1/);
    assert.match(msg('services.i.networks.nowhere'), /unknown network "nowhere"/);
    assert.match(msg('services.k.mac_address'), /already the MAC of service "j"/);
    assert.match(msg('services.h-1'), /DNS name "h-1" of service "h-1" is also a name of service "h"/);
    assert.ok(r.errors.every((e) => typeof e.line === 'number'), JSON.stringify(at(r.errors)));
    assert.equal(r.errors.find((e) => e.path === 'services.a.networks.back.ipv4_address')!.line, 10);
    assert.equal(r.errors.find((e) => e.path === 'services.e.mac_address')!.line, 23);
    assert.deepEqual((await hv.list(ctx)).length, 0);
    assert.deepEqual((await nm.list(ctx)).map((n) => n.name), ['default']);
  });

  it('validate warns that an external network gets no DNS entries', async () => {
    const { runner } = makeEnv();
    const r = await runner.validate(source(`${head}networks:\n  ext: { external: true }\nservices:\n  a: { image: ${IMAGE}, networks: [ext] }\n`), ctx);
    assert.equal(r.valid, true, JSON.stringify(r.errors));
    assert.match(r.warnings.map((w) => w.message).join('\n'), /external: its VMs get no DNS entries/);
  });

  it('validate and up refuse a name another entry of the network already holds', async () => {
    const { runner, nm, hv } = makeEnv();
    await runner.up(source(stack()), upOpts(), ctx);
    await nm.updateHosts('p-back', { remove: { dns: [], dhcp: [] }, add: { dns: [{ ip: '10.0.5.99', hostnames: ['cache'] }], dhcp: [] } }, ctx);
    const file = stack(`  cache:\n    image: ${IMAGE}\n    networks: [back]\n`);
    const r = await runner.validate(source(file), ctx);
    assert.equal(r.valid, false);
    const e = r.errors.find((x) => x.path === 'services.cache')!;
    assert.match(e.message, /"cache" already exists in network "p-back" \(10\.0\.5\.99\)/);
    assert.equal(e.line, 15);
    await assert.rejects(runner.up(source(file), upOpts(), ctx), (err: Error & { code?: string }) => err.code === 'INVALID_ARGUMENT');
    assert.equal((await hv.list(ctx)).some((v) => v.name === 'p-cache-1'), false);
  });

  it('up reserves the fixed address, names every VM once it has a lease, sets hostnames; down removes the entries', async () => {
    const { runner, nm, hv } = makeEnv();
    await runner.up(source(stack()), upOpts(), ctx);
    const db = await hv.get('p-db-1', ctx);
    const mac = deterministicMac('p/db/1');
    assert.equal(db.networks[0]!.mac, mac);
    assert.deepEqual(db.networks[0]!.ipAddresses, ['10.0.5.10']);
    const hosts = await waitFor(async () => {
      const h = await nm.hosts('p-back', ctx);
      return h.dns.length === 3 ? h : undefined;
    });
    assert.deepEqual(hosts.dhcp, [{ mac, ip: '10.0.5.10' }]);
    const byName = new Map(hosts.dns.flatMap((h) => h.hostnames.map((n) => [n, h.ip])));
    assert.equal(byName.get('db'), '10.0.5.10');
    assert.equal(byName.get('db.p'), '10.0.5.10');
    assert.equal(byName.get('db-1'), '10.0.5.10');
    const web1 = (await hv.get('p-web-1', ctx)).networks[0]!.ipAddresses[0];
    const web2 = (await hv.get('p-web-2', ctx)).networks[0]!.ipAddresses[0];
    assert.equal(byName.get('web'), web1);
    assert.equal(byName.get('web-1.p'), web1);
    assert.equal(byName.get('web-2'), web2);
    assert.equal(byName.has('web-2.p'), true);

    const seed = (n: string) => hv.specOf(n).cloudInit?.metaData ?? '';
    assert.match(seed('p-db-1'), /^local-hostname: db$/m);
    assert.match(seed('p-web-2'), /^local-hostname: web-2$/m);

    await runner.down('p', { removeNetworks: false }, ctx);
    assert.deepEqual(await nm.hosts('p-back', ctx), { dns: [], dhcp: [] });
  });

  it('the user\'s own local-hostname wins over the service name', async () => {
    const { runner, hv } = makeEnv();
    await runner.up(source(`${head}services:\n  a:\n    image: ${IMAGE}\n    cloud_init: { meta_data: { local-hostname: mine } }\n`), upOpts(), ctx);
    const md = hv.specOf('p-a-1').cloudInit!.metaData!;
    assert.match(md, /local-hostname: mine/);
    assert.doesNotMatch(md, /local-hostname: a$/m);
  });
});

describe('network host entries (the rules every network manager applies)', () => {
  it('the fake refuses duplicates, addresses outside the subnet and bad MACs, and changes nothing then', async () => {
    const nm = new InMemoryNetworkManager();
    const none = { dns: [], dhcp: [] };
    await nm.updateHosts('default', { remove: none, add: { dns: [{ ip: '192.168.122.5', hostnames: ['a', 'a.x'] }], dhcp: [{ mac: '52:54:00:AA:BB:CC', ip: '192.168.122.5' }] } }, ctx);
    const refused = async (add: { dns?: { ip: string; hostnames: string[] }[]; dhcp?: { mac: string; ip: string }[] }, code: string) => {
      await assert.rejects(nm.updateHosts('default', { remove: none, add: { dns: add.dns ?? [], dhcp: add.dhcp ?? [] } }, ctx),
        (e: Error & { code?: string }) => e.code === code, JSON.stringify(add));
    };
    await refused({ dns: [{ ip: '192.168.122.6', hostnames: ['A'] }] }, 'ALREADY_EXISTS');
    await refused({ dns: [{ ip: '192.168.122.5', hostnames: ['b'] }] }, 'ALREADY_EXISTS');
    await refused({ dhcp: [{ mac: '52:54:00:aa:bb:cc', ip: '192.168.122.7' }] }, 'ALREADY_EXISTS');
    await refused({ dhcp: [{ mac: '52:54:00:aa:bb:cd', ip: '192.168.122.5' }] }, 'ALREADY_EXISTS');
    await refused({ dns: [{ ip: '10.1.1.1', hostnames: ['c'] }] }, 'INVALID_ARGUMENT');
    await refused({ dns: [{ ip: '192.168.122.255', hostnames: ['c'] }] }, 'INVALID_ARGUMENT');
    await refused({ dns: [{ ip: '192.168.122.8', hostnames: ['bad_name'] }] }, 'INVALID_ARGUMENT');
    await refused({ dhcp: [{ mac: '03:00:00:00:00:01', ip: '192.168.122.9' }] }, 'INVALID_ARGUMENT');
    // All or nothing: a good entry next to a bad one is not applied either.
    await refused({ dns: [{ ip: '192.168.122.10', hostnames: ['ok'] }, { ip: '192.168.122.10', hostnames: ['ok2'] }] }, 'ALREADY_EXISTS');
    assert.deepEqual(await nm.hosts('default', ctx), {
      dns: [{ ip: '192.168.122.5', hostnames: ['a', 'a.x'] }],
      dhcp: [{ mac: '52:54:00:aa:bb:cc', ip: '192.168.122.5' }],
    });
    // Removal by key; absent entries are skipped.
    await nm.updateHosts('default', { remove: { dns: [{ ip: '192.168.122.5', hostnames: [] }, { ip: '192.168.122.77', hostnames: [] }], dhcp: [{ mac: '52:54:00:aa:bb:cc', ip: '' }] }, add: none }, ctx);
    assert.deepEqual(await nm.hosts('default', ctx), none);
    await assert.rejects(nm.hosts('nope', ctx), (e: Error & { code?: string }) => e.code === 'NOT_FOUND');
  });

  it('a removal and an addition of the same name in one change is a move', () => {
    const cur = { dns: [{ ip: '10.0.0.5', hostnames: ['db'] }], dhcp: [] };
    const r = planHostsChange(cur, { remove: { dns: [{ ip: '10.0.0.5', hostnames: [] }], dhcp: [] }, add: { dns: [{ ip: '10.0.0.6', hostnames: ['db'] }], dhcp: [] } }, '10.0.0.0/24');
    assert.deepEqual(r.next.dns, [{ ip: '10.0.0.6', hostnames: ['db'] }]);
  });

  it('MACs: normalised, unicast only; the derived one is stable and locally administered', () => {
    assert.deepEqual(checkMac('52-54-00-AB-CD-EF'), { mac: '52:54:00:ab:cd:ef' });
    assert.ok('reason' in checkMac('ff:ff:ff:ff:ff:ff'));
    assert.ok('reason' in checkMac('00:00:00:00:00:00'));
    assert.equal(deterministicMac('p/db/1'), deterministicMac('p/db/1'));
    assert.notEqual(deterministicMac('p/db/1'), deterministicMac('p/db/2'));
    assert.match(deterministicMac('x'), /^52:54:00(:[0-9a-f]{2}){3}$/);
  });
});

async function waitFor<T>(f: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not met');
}
