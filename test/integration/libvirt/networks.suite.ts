// LibvirtNetworkManager against a real libvirtd: the test driver (fast, shared in-memory state) and
// qemu:///system (real bridges and dnsmasq). Names and subnets (10.231.x.0/24) come from test/support/unique.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireService } from '../../support/services.js';
import { LibvirtNetworkManager } from '../../../src/plugins/libvirt/network/LibvirtNetworkManager.js';
import { LibvirtConnectionManager, type LibvirtClient } from '../../../src/plugins/libvirt/rpc/index.js';
import { systemHostNetwork } from '../../../src/plugins/libvirt/network/hostNetwork.js';
import { isVmrError } from '../../../src/core/errors.js';
import type { CallContext } from '../../../src/core/ports/common.js';
import { defaultContextInfo, testCallContext } from '../../../src/testing/callContext.js';
import type { NetworkSpec } from '../../../src/core/ports/network.js';
import { leaseSubnets, uniqueBridgeName, uniqueName } from '../../support/unique.js';

const pexec = promisify(execFile);
const ctxFor = (uri: string): CallContext => testCallContext({ context: defaultContextInfo({ name: 'test', libvirtUri: uri }) });
const codeOf = (err: unknown) => (isVmrError(err) ? err.code : `not a VmrError: ${String(err)}`);
const run = uniqueName('vmrt');
// Leased so parallel suites and runs on one host never share a subnet; two per URI.
const octet = leaseSubnets(4);

const spec = (over: Partial<NetworkSpec>): NetworkSpec => ({
  name: '', mode: 'nat', subnet: '', gateway: '', dhcp: true, dhcpStart: '', dhcpEnd: '', bridgeName: '',
  forwardDevice: '', domain: '', autostart: false, activate: true, ...over,
});

for (const [uri, base] of [['test+unix:///default', octet], ['qemu:///system', octet + 2]] as const) {
  describe(`networks on ${uri}`, () => {
    let connections: LibvirtConnectionManager;
    let nm: LibvirtNetworkManager;
    let client: LibvirtClient;
    const ctx = ctxFor(uri);
    const made: string[] = [];
    const bridges: string[] = [];
    const domains: string[] = [];
    const name = (s: string) => {
      const n = `${run}-${s}`;
      made.push(n);
      return n;
    };

    before(async () => {
      await requireService('libvirtd');
      connections = new LibvirtConnectionManager();
      nm = new LibvirtNetworkManager({ connections, defaultUri: 'qemu:///system' });
      client = connections.get(uri);
      await client.ready();
    });

    after(async () => {
      for (const d of domains) {
        const dom = await client.domainLookupByName(d).catch(() => undefined);
        if (dom) {
          await client.domainDestroy(dom).catch(() => undefined);
          await client.domainUndefine(dom).catch(() => undefined);
        }
      }
      for (const n of made) await nm.delete(n, { force: true }, ctx).catch(() => undefined);
      for (const b of bridges) await pexec('ip', ['link', 'del', b]).catch(() => undefined);
      const left = (await nm.list(ctx)).filter((n) => n.name.startsWith(run));
      await connections.closeAll();
      assert.deepEqual(left.map((n) => n.name), [], 'networks left behind');
    });

    test('create a NAT network with DHCP, DNS domain and autostart; get and list report it', async () => {
      const n = name('nat');
      const info = await nm.create(spec({ name: n, subnet: `10.231.${base}.0/24`, domain: 'vmrt.test', autostart: true, labels: { 'compose.project': 'p&q' } }), ctx);
      assert.deepEqual(info.labels, { 'compose.project': 'p&q' });
      assert.equal(info.name, n);
      assert.match(info.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-/);
      assert.deepEqual(
        [info.active, info.persistent, info.autostart, info.mode, info.subnet, info.gateway, info.dhcpStart, info.dhcpEnd, info.domain, info.vmCount],
        [true, true, true, 'nat', `10.231.${base}.0/24`, `10.231.${base}.1`, `10.231.${base}.128`, `10.231.${base}.254`, 'vmrt.test', 0],
      );
      assert.deepEqual(await nm.get(n, ctx), info);
      const listed = (await nm.list(ctx)).find((x) => x.name === n);
      assert.deepEqual(listed, info);
      if (uri.startsWith('qemu')) {
        // A real bridge with the gateway address exists on the host now.
        assert.ok(info.bridge, 'libvirt picked a bridge');
        assert.equal(await systemHostNetwork.isBridge(info.bridge), true);
        // os.networkInterfaces() omits a bridge with no ports (not RUNNING), so ask ip(8).
        const { stdout } = await pexec('ip', ['-4', '-o', 'addr', 'show', 'dev', info.bridge]);
        assert.match(stdout, new RegExp(`inet 10\\.231\\.${base}\\.1/24`));
      }
    });

    test('validation happens before libvirt: name taken, overlap, bad CIDR, bad range, bridge missing', async () => {
      const taken = `${run}-nat`;
      const cases: [Partial<NetworkSpec>, string, RegExp][] = [
        [{ name: taken, subnet: `10.231.${base + 1}.0/24` }, 'ALREADY_EXISTS', /already exists/],
        [{ name: `${run}-ov`, subnet: `10.231.${base}.128/25` }, 'FAILED_PRECONDITION', new RegExp(`overlaps libvirt network "${taken}"`)],
        [{ name: `${run}-ov2`, subnet: '10.0.0.0/8' }, 'FAILED_PRECONDITION', /overlaps libvirt network/],
        [{ name: `${run}-bad`, subnet: '10.231.300.0/24' }, 'INVALID_ARGUMENT', /not an IPv4 CIDR/],
        [{ name: `${run}-bad`, subnet: `10.231.${base + 1}.5/24` }, 'INVALID_ARGUMENT', /host bits/],
        [{ name: `${run}-bad`, subnet: '' }, 'INVALID_ARGUMENT', /needs a subnet/],
        [{ name: `${run}-bad`, subnet: `10.231.${base + 1}.0/24`, dhcpStart: `10.231.${base + 1}.200`, dhcpEnd: `10.231.${base + 1}.100` }, 'INVALID_ARGUMENT', /reversed/],
        [{ name: `${run}-bad`, subnet: `10.231.${base + 1}.0/24`, gateway: '10.9.9.9' }, 'INVALID_ARGUMENT', /gateway/],
        [{ name: 'bad name!', subnet: `10.231.${base + 1}.0/24` }, 'INVALID_ARGUMENT', /name/],
        [{ name: `${run}-br`, mode: 'bridge', bridgeName: 'vmrtnobr0' }, 'FAILED_PRECONDITION', /host bridge "vmrtnobr0" does not exist/],
        [{ name: `${run}-br`, mode: 'bridge', bridgeName: '' }, 'INVALID_ARGUMENT', /bridge_name/],
        [{ name: `${run}-fw`, subnet: `10.231.${base + 1}.0/24`, forwardDevice: 'vmrtnodev0' }, 'FAILED_PRECONDITION', /forward device/],
      ];
      for (const [over, code, msg] of cases) {
        await assert.rejects(nm.create(spec(over), ctx), (err: Error) => {
          assert.equal(codeOf(err), code, `${JSON.stringify(over)}: ${err.message}`);
          assert.match(err.message, msg);
          return true;
        });
      }
      // Other users share this libvirtd, so look for our names rather than counting.
      const tried = new Set(cases.map(([o]) => o.name).filter((n) => n !== taken));
      assert.deepEqual((await client.listAllNetworks()).filter((n) => tried.has(n.name)), [], 'nothing reached libvirt');
    });

    test('a subnet overlapping a host interface address is refused', async () => {
      const fakeHost = { ...systemHostNetwork, addresses: async () => [{ iface: 'vmrt-eth9', address: `10.231.${base + 1}.7`, prefix: 24 }] };
      const nm2 = new LibvirtNetworkManager({ connections, defaultUri: uri, host: fakeHost });
      await assert.rejects(nm2.create(spec({ name: `${run}-host`, subnet: `10.231.${base + 1}.0/24` }), ctx), (err: Error) =>
        codeOf(err) === 'FAILED_PRECONDITION' && /host interface vmrt-eth9/.test(err.message));
      // The real host: its first address's /24 (which contains the address whatever its own prefix).
      const real = (await systemHostNetwork.addresses()).find((a) => a.prefix <= 24);
      assert.ok(real, 'the host has an IPv4 address on a /24 or wider');
      await assert.rejects(nm.create(spec({ name: `${run}-host`, subnet: `${real.address.split('.').slice(0, 3).join('.')}.0/24` }), ctx),
        (err) => codeOf(err) === 'FAILED_PRECONDITION');
    });

    test('isolated and routed networks; defined-only until activated; deactivate; delete', async () => {
      const iso = name('iso');
      const info = await nm.create(spec({ name: iso, mode: 'isolated', subnet: `10.231.${base + 1}.0/26`, dhcp: false, activate: false }), ctx);
      assert.deepEqual([info.mode, info.active, info.dhcpStart, info.subnet], ['isolated', false, '', `10.231.${base + 1}.0/26`]);
      const up = await nm.activate(iso, ctx);
      assert.equal(up.active, true);
      assert.equal((await nm.activate(iso, ctx)).active, true, 'activate is idempotent');
      const routed = name('rt');
      const r = await nm.create(spec({ name: routed, mode: 'routed', subnet: `10.231.${base + 1}.64/26` }), ctx);
      assert.deepEqual([r.mode, r.active, r.dhcpStart, r.dhcpEnd], ['routed', true, `10.231.${base + 1}.96`, `10.231.${base + 1}.126`]);
      const down = await nm.deactivate(iso, { force: false }, ctx);
      assert.equal(down.active, false);
      await nm.delete(iso, { force: false }, ctx);
      await nm.delete(routed, { force: false }, ctx);
      await assert.rejects(nm.get(iso, ctx), (err) => codeOf(err) === 'NOT_FOUND');
      await assert.rejects(nm.delete(iso, { force: false }, ctx), (err) => codeOf(err) === 'NOT_FOUND');
    });

    if (uri.startsWith('test')) {
      test('a running VM on the network: vm_count, and deactivate/delete refused unless forced', async () => {
        const n = name('busy');
        await nm.create(spec({ name: n, subnet: `10.231.${base + 1}.128/26` }), ctx);
        const dname = `${run}-vm`;
        domains.push(dname);
        const dom = await client.domainDefineXml(`<domain type='test'><name>${dname}</name><memory>1024</memory><os><type>hvm</type></os>
          <devices><interface type='network'><source network='${n}'/></interface></devices></domain>`);
        await client.domainCreate(dom);
        assert.equal((await nm.get(n, ctx)).vmCount, 1);
        assert.equal((await nm.list(ctx)).find((x) => x.name === n)?.vmCount, 1);
        await assert.rejects(nm.deactivate(n, { force: false }, ctx), (err: Error) =>
          codeOf(err) === 'FAILED_PRECONDITION' && err.message.includes(dname));
        await assert.rejects(nm.delete(n, { force: false }, ctx), (err) => codeOf(err) === 'FAILED_PRECONDITION');
        assert.equal((await nm.get(n, ctx)).active, true, 'a refused deactivate changed nothing');
        const forced = await nm.deactivate(n, { force: true }, ctx);
        assert.deepEqual([forced.active, forced.vmCount], [false, 0]);
        await client.domainDestroy(await client.domainLookupByName(dname));
        await nm.activate(n, ctx);
        await nm.delete(n, { force: false }, ctx);
        await assert.rejects(nm.get(n, ctx), (err) => codeOf(err) === 'NOT_FOUND');
      });
    } else {
      test('bridge mode attaches to an existing host bridge', async () => {
        const br = uniqueBridgeName('vmrtbr');
        bridges.push(br);
        await pexec('ip', ['link', 'add', br, 'type', 'bridge']);
        const n = name('bridge');
        const info = await nm.create(spec({ name: n, mode: 'bridge', bridgeName: br }), ctx);
        assert.deepEqual([info.mode, info.bridge, info.active, info.subnet], ['bridge', br, true, '']);
        await assert.rejects(nm.create(spec({ name: `${run}-bridge2`, mode: 'bridge', bridgeName: br, subnet: '10.231.1.0/24' }), ctx),
          (err) => codeOf(err) === 'INVALID_ARGUMENT');
        await nm.delete(n, { force: false }, ctx);
      });
    }

    test('the context URI wins over the default; an empty one falls back to it', async () => {
      const viaDefault = new LibvirtNetworkManager({ connections, defaultUri: uri });
      const names = (await viaDefault.list(ctxFor(''))).map((n) => n.name);
      assert.ok(names.includes('default'));
      const h = await nm.health(ctx);
      assert.equal(h.status, 'SERVING');
      assert.equal(h.details?.libvirtVersion?.split('.')[0], '9');
    });
  });
}
