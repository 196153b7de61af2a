// The daemon SIGKILLed 0.1/0.3/0.6/1.0 s into RunVM (libvirt's test driver, real overlay and seed),
// then restarted on the same data dir: without any RPC, the start-up sweep leaves only directories a
// domain owns; after deleting what the restarted daemon lists, no VM file and no domain is left.
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LibvirtClient } from '../../src/plugins/libvirt/rpc/index.js';
import { KillableDaemon } from '../support/killableDaemon.js';
import { requireService } from '../support/services.js';
import { uniqueName } from '../support/unique.js';

const URI = 'test+unix:///default';
const vmfile = { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'killrun' },
  spec: { disk: { path: 'k.raw', format: 'raw' }, resources: { memoryMb: 128, vcpuCount: 1 }, os: { architecture: 'x86_64', firmware: 'bios' } } };

describe('SIGKILL during RunVM', () => {
  let dir: string;
  let daemon: KillableDaemon | undefined;
  let lv: LibvirtClient;
  const prefix = uniqueName('vmr-kill');
  const sock = () => path.join(dir, 'vmr.sock');
  const vmsDir = () => path.join(dir, 'data', 'plugins', 'libvirt', 'vms');

  /** VM directories on disk (`<name>.<random>`), across URI slugs. */
  async function vmDirs(): Promise<string[]> {
    const slugs = await readdir(vmsDir()).catch(() => [] as string[]);
    return (await Promise.all(slugs.map((s) => readdir(path.join(vmsDir(), s)).catch(() => [] as string[])))).flat();
  }
  const ourDomains = async () => (await lv.listAllDomains(0)).map((d) => d.name).filter((n) => n.startsWith(prefix));

  before(async () => {
    await requireService('libvirtd');
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-killrun-'));
    await chmod(dir, 0o755);
    daemon = new KillableDaemon(dir);
    await writeFile(path.join(dir, 'config.yaml'), `plugins:\n  libvirt: { config: { uri: "${URI}" } }\n`);
    lv = await LibvirtClient.connect(URI, { reconnect: false });
    const c = await daemon!.start();
    await c.call('ImportImage', { vmfile, diskData: Buffer.concat([randomBytes(256 << 10), Buffer.alloc(4 << 20)]), reference: 'killrun:1' });
  });
  after(async () => {
    await daemon?.kill();
    for (const name of await ourDomains().catch(() => [] as string[])) {
      const dom = await lv.domainLookupByName(name).catch(() => undefined);
      if (dom) {
        await lv.domainDestroy(dom, 0).catch(() => undefined);
        await lv.domainUndefine(dom, 0).catch(() => undefined);
      }
    }
    await lv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const [i, delayMs] of [100, 300, 600, 1000].entries()) {
    it(`killed ${delayMs} ms into RunVM: files belong to a domain or are swept at start-up`, async () => {
      const name = `${prefix}-${i}`;
      const c = daemon!.client!;
      const call = c.call('RunVM', { image: 'killrun:1', name, options: { cloudInit: { userData: '#cloud-config\n# secret\n' } } })
        .then(() => 'done', (e: { code?: number }) => `failed ${e.code}`);
      await new Promise((r) => setTimeout(r, delayMs));
      await daemon!.kill();
      const outcome = await call;
      if (process.env.VMR_TEST_VERBOSE) console.log(`before restart: dirs ${(await vmDirs()).join(",")}`);

      const c2 = await daemon!.start();
      if (process.env.VMR_TEST_VERBOSE) console.log(`kill at ${delayMs} ms: RunVM ${outcome}; dirs ${(await vmDirs()).join(",")}; domains ${(await ourDomains()).join(",")}`);
      // No RPC yet: the start-up sweep alone must leave only directories of existing domains.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const doms = await ourDomains();
        const dirs = await vmDirs();
        const stray = dirs.filter((d) => !doms.some((n) => d.startsWith(`${n}.`)));
        if (!stray.length && dirs.length <= doms.length) break;
        if (Date.now() > deadline) assert.fail(`after a kill ${delayMs} ms into RunVM (${outcome}): stray files ${stray.join(', ')} (domains: ${doms.join(', ') || 'none'})`);
        await new Promise((r) => setTimeout(r, 250));
      }
      // What is left is a whole VM the daemon lists; deleting it leaves nothing behind.
      const listed = (await c2.call('ListVMs')).vms.map((v: { name: string }) => v.name).filter((n: string) => n.startsWith(prefix));
      assert.deepEqual(listed.sort(), (await ourDomains()).sort(), 'every surviving domain is a VM the daemon owns');
      for (const n of listed) await c2.call('DeleteVM', { vm: n, force: true });
      assert.deepEqual(await vmDirs(), [], 'no VM files left');
      assert.deepEqual(await ourDomains(), [], 'no domains left');
    });
  }
});
