// RunVM latency against its floor, and against the size of the image.
//
//   npx tsc -p . && node dist/bench/runvm.js          (needs root and libvirtd; BENCH_N=5 runs each)
//
// floor:    `virsh create` of the same domain XML, overlay and seed made by hand beforehand (untimed)
// manual:   the whole hand-made pipeline: qemu-img create + xorriso + virsh create
// run64M:   LibvirtHypervisor.run (overlay, seed, define, start, metadata) on a 64 MiB base
// run4G:    the same on a 4 GiB sparse base: should be flat, since the overlay is O(1) in the base size
// Each VM is destroyed right after it started (we time creation, not boot).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CallContext, Logger } from '../src/core/ports/common.js';
import type { RunVMSpec } from '../src/core/ports/hypervisor.js';
import { LibvirtConnectionManager } from '../src/plugins/libvirt/rpc/index.js';
import { LibvirtHypervisor } from '../src/plugins/libvirt/vm/index.js';
import { buildDomainXml } from '../src/plugins/libvirt/vm/domainXml.js';
import { seedFiles, writeSeedIso } from '../src/plugins/libvirt/vm/cloudInitSeed.js';
import { testGuest } from '../test/support/guest.js';
import { requireService } from '../test/support/services.js';

const pexec = promisify(execFile);
const URI = 'qemu:///system';
const N = Number(process.env.BENCH_N ?? 5);
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

const ctx = (): CallContext => ({
  signal: AbortSignal.timeout(120_000),
  log: quiet,
  context: {
    name: 'bench', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: URI,
    insecureRegistry: false, current: true, created: new Date().toISOString(),
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function main(): Promise<void> {
  await requireService('libvirtd');
  const guest = await testGuest();
  const work = await fs.mkdtemp(path.join(path.resolve('.test-work'), 'bench-runvm-'));
  await fs.chmod(work, 0o755);
  const base64 = path.join(work, 'base-64M.raw');
  const base4G = path.join(work, 'base-4G.raw');
  for (const [p, size] of [[base64, 64 << 20], [base4G, 4 * 1024 ** 3]] as const) {
    await fs.copyFile(guest.rawPath, p);
    await fs.truncate(p, size);
  }
  const mgr = new LibvirtConnectionManager({ log: quiet });
  const hv = new LibvirtHypervisor({ clientFor: (u) => mgr.get(u), stateDir: path.join(work, 'state'), log: quiet });
  const client = mgr.get(URI);
  await hv.health(ctx());
  const spec = (name: string, base: string): RunVMSpec => ({
    name,
    image: { reference: 'bench/guest:1', digest: 'sha256:0', baseDiskPath: base, diskSize: 0, firmware: 'bios', architecture: 'x86_64' },
    memoryMb: 128, vcpuCount: 1, diskSizeGb: 0, ephemeral: false, networkName: '', activateNetwork: false,
    labels: {}, waitForIp: false, start: true,
  });

  const times: Record<'floor' | 'manual' | 'run64M' | 'run4G', number[]> = { floor: [], manual: [], run64M: [], run4G: [] };
  try {
    for (let i = 0; i < N; i++) {
      // Hand-made: overlay + seed + XML, then `virsh create`.
      for (const timeWhole of [false, true]) {
        const name = `vmr-bench-virsh-${process.pid}-${i}-${timeWhole ? 'm' : 'f'}`;
        const dir = path.join(work, name);
        await fs.mkdir(dir, { mode: 0o755 });
        const xmlPath = path.join(dir, 'domain.xml');
        const t0 = process.hrtime.bigint();
        await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base64, path.join(dir, 'overlay.qcow2')]);
        await writeSeedIso(path.join(dir, 'seed.iso'), seedFiles(name, undefined));
        await fs.writeFile(xmlPath, buildDomainXml({
          name, uuid: randomUUID(), type: 'qemu', memoryMb: 128, vcpuCount: 1, arch: 'x86_64', firmware: 'bios',
          overlayPath: path.join(dir, 'overlay.qcow2'), seedPath: path.join(dir, 'seed.iso'),
          consolePath: path.join(dir, 'console.log'), networkName: 'default',
          metadata: { image: 'bench/guest:1', imageDigest: 'sha256:0', created: new Date().toISOString(), ephemeral: true, filesDir: dir, labels: {} },
        }));
        const t1 = process.hrtime.bigint();
        await pexec('virsh', ['-q', '-c', URI, 'create', xmlPath]);
        if (timeWhole) times.manual.push(ms(t0));
        else times.floor.push(ms(t1));
        await pexec('virsh', ['-q', '-c', URI, 'destroy', name]);
        await fs.rm(dir, { recursive: true, force: true });
      }
      for (const [key, base] of [['run64M', base64], ['run4G', base4G]] as const) {
        const name = `vmr-bench-run-${process.pid}-${i}-${key}`;
        const t0 = process.hrtime.bigint();
        await hv.run(spec(name, base), ctx());
        times[key].push(ms(t0));
        await hv.delete(name, { force: true }, ctx());
      }
    }
  } finally {
    await mgr.closeAll();
    await fs.rm(work, { recursive: true, force: true });
  }

  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<keyof typeof times, number>;
  const fmt = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
  console.log(`RunVM latency, median of ${N} (domain type from health; VMs destroyed right after start)`);
  console.log(`  floor  virsh create (overlay+seed made by hand) ${fmt(m.floor)}`);
  console.log(`  manual qemu-img + xorriso + virsh create        ${fmt(m.manual)}`);
  console.log(`  run    64 MiB base                              ${fmt(m.run64M)}`);
  console.log(`  run    4 GiB sparse base                        ${fmt(m.run4G)}`);
  console.log(`ratios: run64M/floor ${(m.run64M / m.floor).toFixed(2)}  run64M/manual ${(m.run64M / m.manual).toFixed(2)}` +
    `  run4G/run64M ${(m.run4G / m.run64M).toFixed(2)} (flat = ~1)`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
