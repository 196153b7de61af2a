// Compose names and fixed addresses on libvirt (qemu:///system) with the tiny test guest: `db` has a fixed
// ipv4_address, `web` takes a DHCP lease. Checks the network XML (virsh net-dumpxml) for the DHCP
// reservation and the DNS host entries, that db got exactly its address, what the network's dnsmasq
// answers for the service names (queried on the bridge's gateway: the busybox guest has no way in for a
// command), that the guest got its service name as hostname, and that down removes the entries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { queryA } from '../../support/dnsQuery.js';
import { leaseSubnets, uniqueName } from '../../support/unique.js';
import { URI, composeOnLibvirt, ctx } from './libvirtRig.js';

const pexec = promisify(execFile);

describe('compose names and fixed addresses on libvirt', () => {
  const project = uniqueName('vmrcn').replace(/-/g, '');
  const third = leaseSubnets(1, 252);
  const subnet = `10.252.${third}.0/24`;
  const prefix = `10.252.${third}.`;
  const rig = composeOnLibvirt(project, 'compose-names');

  const file = () => `api_version: vmregistry.io/v1alpha1
kind: VMCompose
name: ${project}
networks:
  lan: { mode: isolated, subnet: ${subnet} }
services:
  db:
    image: localhost:5000/test/guest:1
    resources: { memory_mb: 256 }
    networks: { lan: { ipv4_address: ${prefix}10 } }
  web:
    image: localhost:5000/test/guest:1
    resources: { memory_mb: 256 }
    networks: [lan]
    depends_on: { db: { condition: ip_assigned } }
`;
  const src = () => ({ content: file(), baseDir: '/', env: {}, projectName: '' });
  // Generous: a busybox guest takes its lease in ~10 s on an idle machine, minutes on a loaded one under TCG.
  const opts = { services: [], forceRecreate: false, timeoutSeconds: 600 };
  const netName = () => `${project}-lan`;
  const dumpxml = async () => (await pexec('virsh', ['-c', URI, 'net-dumpxml', netName()])).stdout;

  it('reserves db\'s address, names both VMs in the network\'s DNS, sets hostnames, and down removes the entries', async () => {
    const v = await rig.runner.validate(src(), ctx());
    assert.deepEqual(v.errors, []);
    await rig.runner.up(src(), opts, ctx());

    const dbIps = await rig.hv.waitForIp!(`${project}-db-1`, ctx());
    assert.deepEqual(dbIps, [`${prefix}10`], 'db has exactly its fixed address');
    const webIp = (await rig.hv.waitForIp!(`${project}-web-1`, ctx()))[0]!;
    const db = await rig.hv.get(`${project}-db-1`, ctx());
    const mac = db.networks[0]!.mac;

    // web's entry comes once its lease is seen (in the background after up).
    let xml = '';
    for (let i = 0; i < 120; i++) {
      xml = await dumpxml();
      if (xml.includes(`<host ip='${webIp}'>`)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.match(xml, new RegExp(`<host mac='${mac}' ip='${prefix}10'/>`), xml);
    assert.match(xml, new RegExp(`<host ip='${prefix}10'>\\s*<hostname>db</hostname>\\s*<hostname>db\\.${project}</hostname>`), xml);
    assert.match(xml, new RegExp(`<host ip='${webIp}'>\\s*<hostname>web</hostname>`), xml);

    // What a guest on the network resolves: the network's dnsmasq on the gateway.
    const gw = `${prefix}1`;
    assert.deepEqual(await queryA(gw, 'db'), [`${prefix}10`]);
    assert.deepEqual(await queryA(gw, `db.${project}`), [`${prefix}10`]);
    assert.deepEqual(await queryA(gw, 'web'), [webIp]);
    assert.deepEqual(await queryA(gw, 'web-1'), [webIp]);

    // The guest prints its seed: meta-data carries the service name as local-hostname.
    assert.ok(db.consoleLog, 'the hypervisor reports the console log file');
    assert.match(await fs.readFile(db.consoleLog, 'utf8'), /^local-hostname: db\r?$/m);

    await rig.runner.down(project, { removeNetworks: false }, ctx());
    xml = await dumpxml();
    assert.doesNotMatch(xml, /<host /, xml);
    // Only our entry answers `db.<project>` (dnsmasq keeps the name the guest sent with its DHCP request
    // until that lease expires, so the bare `db` may still answer for a while).
    assert.deepEqual(await queryA(gw, `db.${project}`), []);
    const down = await rig.runner.down(project, { removeNetworks: true }, ctx());
    assert.deepEqual(down.removedNetworks, [netName()]);
  });
});
