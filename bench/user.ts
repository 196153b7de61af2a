// The user-level bench of issue 17: each step through a real daemon and the real `vmr`, against its peer
// in the same run — import vs `zstd -2 -T0` of the same file and vs the same work done by standard tools
// (compress, both sha256 digests and the sparse base-disk copy, at once), push and pull vs `skopeo copy` (a fresh
// Debian docker-registry for each measurement, so nothing is there already), run vs `virsh create` of an
// equivalent domain on a hand-made qcow2 overlay (the `vmr run` timed includes the CLI's start), `vmr run`
// of a 4 GiB image against a 64 MiB one (flat in image size), and CLI start vs `node -e 0` (hyperfine,
// median). `vmr` is the installed entry, package.json's bin (the bundle `npm run build` makes).
// Prints one RESULT line per step (median of the repeats; ratio > 1 means ours wins; `goal` is the issue's).
//   node dist/bench/user.js [sizeMiB=1024]
//   env: VMR_BENCH_REPEATS (default 4, so that one outlier does not move the median; the run steps take at least 5), VMR_BENCH_USER_SKIP=import,push,pull,run,flat,cli
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { makeSample } from './sample.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { requireService, repoRoot } from '../test/support/services.js';
import { uniqueName } from '../test/support/unique.js';

const pexec = promisify(execFile);
const mib = Number(process.argv[2] ?? 1024);
const repeats = Math.max(1, Number(process.env.VMR_BENCH_REPEATS ?? 4));
const skip = new Set((process.env.VMR_BENCH_USER_SKIP ?? '').split(',').filter(Boolean));
const vmrBin = path.join(repoRoot, (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { bin: { vmr: string } }).bin.vmr);
const daemonBin = path.join(repoRoot, 'dist/src/bin/vmregistryd.js');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Runs a command to completion; seconds of wall time. Fails with its stderr. Dirty pages of the step
 * before are written first (untimed): the daemon syncs base disks in the background, and that writeback
 * must not slow the peer measured next (nor a peer's ours).
 */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return timedAll([[[cmd, ...args]]], env);
}

/**
 * Runs `jobs` at once, each a chain of commands run one after the other; seconds of wall time until the last
 * chain ends. Dirty pages are written first, as in `timed`.
 */
async function timedAll(jobs: string[][][], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  execFileSync('sync');
  const t = performance.now();
  await Promise.all(jobs.map(async (chain) => {
    for (const [cmd, ...args] of chain) await exited(cmd!, args, env);
  }));
  return (performance.now() - t) / 1000;
}

function exited(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 4000) stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/**
 * Runs a repeat's measurements, ours first in even repeats and last in odd ones: whichever runs first after
 * a step that freed GiBs writes onto memory the host has taken back (first-touch faults; see bench/README.md).
 */
async function inTurn(i: number, ...steps: (() => Promise<void>)[]): Promise<void> {
  for (const step of i % 2 === 0 ? steps : [...steps].reverse()) await step();
}

function result(name: string, ours: number[], peer: number[], peerName: string, goal: string): void {
  const o = median(ours);
  const p = median(peer);
  console.log(`${name}: ours ${ours.map((x) => x.toFixed(2)).join(' ')} s, ${peerName} ${peer.map((x) => x.toFixed(2)).join(' ')} s, load ${os.loadavg()[0]!.toFixed(1)}`);
  console.log(`RESULT ${JSON.stringify({ name, ours: +o.toFixed(3), peer: +p.toFixed(3), unit: 's', ratio: +(p / o).toFixed(2), peerName, goal })}`);
}

async function main() {
  if (!existsSync(vmrBin)) throw new Error(`${vmrBin} is missing: run npm run build (it bundles the CLI)`);
  const work = await mkdtemp(path.join(os.tmpdir(), 'vmr-bench-user-'));
  await chmod(work, 0o755); // libvirt-qemu opens the overlays in here
  const sock = path.join(work, 'vmr.sock');
  const env = { ...process.env, VMR_HOST: `unix://${sock}`, NO_COLOR: '1' };
  const vmr = (...args: string[]) => timed(vmrBin, args, env);
  let daemon: ReturnType<typeof spawn> | undefined;
  const registries: TestRegistry[] = [];
  const freshRegistry = async () => {
    const r = await startRegistry();
    registries.push(r);
    return r;
  };
  try {
    // Under the daemon's default paths.import (<dataDir>/import): a daemon reads host files only there.
    const vmDir = path.join(work, 'data', 'import', 'vm');
    await mkdir(vmDir, { recursive: true });
    const disk = path.join(vmDir, 'disk.raw');
    makeSample(disk, mib, { files: 4, random: 8 }); // 20 % text and binaries, 40 % random, 40 % zeros
    await writeFile(path.join(vmDir, 'VMFile.yaml'), 'api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: bench }\n' +
      'spec:\n  disk: { path: ./disk.raw, format: raw }\n  resources: { memory_mb: 256, vcpu_count: 1 }\n');
    await pexec('sync');
    console.log(`disk ${mib} MiB (40 % random, 20 % files, 40 % zeros); ${repeats} repeats; ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

    // The daemon's gc asks libvirt which images VMs use; the run step needs it anyway.
    await requireService('libvirtd');
    daemon = spawn(process.execPath, [daemonBin, '--socket', sock, '--data-dir', path.join(work, 'data'), '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; !existsSync(sock); i++) {
      if (i > 600 || daemon.exitCode !== null) throw new Error('the daemon did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const ref = 'bench/vm:1';
    const vmfile = path.join(vmDir, 'VMFile.yaml');
    const forget = async (...refs: string[]) => {
      for (const r of refs) await vmr('rmi', r).catch(() => undefined);
      await vmr('gc');
    };

    // import --on-daemon vs zstd -2 -T0 of the same file, both reading it from the page cache: this machine
    // reclaims cold page cache in the background, and a sample read from disk doubles either side's CPU.
    // Synced first, like the pushes and pulls below: the step before may still be writing back.
    const warm = () => {
      execFileSync('sync');
      execFileSync('dd', [`if=${disk}`, 'of=/dev/null', 'bs=1M', 'status=none']);
    };
    // The second peer does the work the image format asks of an import besides compressing, with the fastest
    // tools for each part, at once on the machine's cores: sha256 of the disk (the windows' uncompressed-digest
    // annotations), sha256 of the compressed file (the blobs' digests) and a sparse copy (the base disk). It
    // still does less than an import: no fsync, no manifest, one frame instead of windows, no CLI or RPC.
    const zst = path.join(work, 'disk.zst');
    const copy = path.join(work, 'disk.copy');
    const importOurs: number[] = [];
    const importPeer: number[] = [];
    const importSame: number[] = [];
    const importStreamed: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const ours = async () => {
        await forget(ref);
        warm();
        importOurs.push(await vmr('import', '--on-daemon', vmfile, '-t', ref));
      };
      if (skip.has('import')) { // the later steps need the image
        await ours();
        break;
      }
      await inTurn(i, ours, async () => {
        warm();
        importPeer.push(await timed('zstd', ['-2', '-T0', '-q', '-f', disk, '-o', zst]));
        await rm(zst, { force: true });
      }, async () => {
        // The same disk sent over the socket (no --on-daemon): a client on another machine, or a file the daemon may not read.
        await forget(ref);
        warm();
        importStreamed.push(await vmr('import', '-q', vmfile, '-t', ref));
      }, async () => {
        warm();
        importSame.push(await timedAll([
          [['zstd', '-2', '-T0', '-q', '-f', disk, '-o', zst], ['openssl', 'dgst', '-sha256', zst]],
          [['openssl', 'dgst', '-sha256', disk]],
          [['cp', '--sparse=always', disk, copy]],
        ]));
        await rm(zst, { force: true });
        await rm(copy, { force: true });
      });
    }
    if (!skip.has('import')) {
      result(`import ${mib} MiB raw (vmr import --on-daemon)`, importOurs, importPeer, 'zstd -2 -T0 of the file', '>= 0.67 (<= 1.5x the time)');
      result(`import ${mib} MiB raw streamed (vmr import, the disk sent over the socket)`, importStreamed, importPeer, 'zstd -2 -T0 of the file', 'none set (issue 17: compress while the disk arrives)');
      result(`import ${mib} MiB raw, against the same work`, importOurs, importSame, 'zstd -2 -T0 + sha256 of disk and .zst (openssl) + cp --sparse, at once', '>= 1 (as fast as the tools doing what the format asks)');
    }

    // push to an empty registry vs skopeo copy of the identical blobs (OCI layout → registry)
    const layout = `oci:${path.join(work, 'data/images/oci')}:${ref}`;
    let pushed = '';
    const pushOurs: number[] = [];
    const pushPeer: number[] = [];
    // Each push starts from a quiet machine: the registry of the push before is stopped (the one our last push
    // went to stays for the pull step) and what it wrote is synced first. Registries left running with their
    // dirty GiBs made later pushes of either side 1.5-2x slower (a push alone took 1.7 s; in the bench 2.0-3.4).
    let ourLast: TestRegistry | undefined;
    let peerLast: TestRegistry | undefined;
    const quietRegistry = async (ours: boolean) => {
      if (ours) await ourLast?.stop();
      await peerLast?.stop();
      await pexec('sync');
      const r = await freshRegistry();
      if (ours) ourLast = r;
      else peerLast = r;
      return r;
    };
    for (let i = 0; i < (skip.has('push') ? 1 : repeats); i++) {
      const ours = async () => {
        const a = await quietRegistry(true);
        pushed = `${a.host}/bench/vm:1`;
        pushOurs.push(await vmr('push', ref, pushed));
      };
      if (skip.has('push')) { // the pull step needs it
        await ours();
        break;
      }
      await inTurn(i, ours, async () => {
        const b = await quietRegistry(false);
        pushPeer.push(await timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', layout, `docker://${b.host}/bench/vm:1`]));
      });
    }
    if (!skip.has('push')) result(`push ${mib} MiB image (vmr push)`, pushOurs, pushPeer, 'skopeo copy oci → registry', '>= 1.3');

    // pull after rmi + gc vs skopeo copy registry → OCI layout (skopeo does not decompress; we also build the base disk)
    if (!skip.has('pull')) {
      const pullOurs: number[] = [];
      const pullPeer: number[] = [];
      for (let i = 0; i < repeats; i++) {
        // Synced first, like the pushes: the step before may still be writing back what it wrote.
        await inTurn(i, async () => {
          await forget(ref, pushed);
          await pexec('sync');
          pullOurs.push(await vmr('pull', pushed));
        }, async () => {
          const dir = path.join(work, `skopeo-${i}`);
          await pexec('sync');
          pullPeer.push(await timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${pushed}`, `oci:${dir}:vm`]));
          await rm(dir, { recursive: true, force: true });
        });
      }
      result(`pull ${mib} MiB image (vmr pull, base disk ready)`, pullOurs, pullPeer, 'skopeo copy registry → oci', '>= 1.3');
      await vmr('tag', pushed, ref);
    }

    // run (image local, no wait for an IP) vs virsh create on a hand-made overlay of the same base disk
    if (!skip.has('run')) {
      const { stdout } = await pexec(vmrBin, ['--json', 'inspect', ref], { env });
      const digest = (JSON.parse(stdout) as { digest?: string; image?: { digest?: string } }).digest ?? (JSON.parse(stdout) as { image?: { digest?: string } }).image?.digest;
      const base = path.join(work, 'data/images/disks', `${String(digest).replace('sha256:', '')}.raw`);
      if (!existsSync(base)) throw new Error(`no base disk at ${base} (inspect said ${stdout.slice(0, 200)})`);
      // The domain type the libvirt plugin picks here (vm/domainType.ts): kvm only with vmx/svm and /dev/kvm.
      const type = existsSync('/dev/kvm') && /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'kvm' : 'qemu';
      const runOurs: number[] = [];
      const runPeer: number[] = [];
      for (let i = 0; i < Math.max(5, repeats); i++) {
        const name = uniqueName('bench-run');
        runOurs.push(await vmr('run', '--name', name, ref));
        await vmr('rm', '-f', name);
        const peerName = uniqueName('bench-virsh');
        const overlay = path.join(work, `${peerName}.qcow2`);
        await pexec('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay]);
        const xml = path.join(work, `${peerName}.xml`);
        await writeFile(xml, `<domain type='${type}'><name>${peerName}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${overlay}'/><target dev='vda' bus='virtio'/></disk>
<interface type='network'><source network='default'/><model type='virtio'/></interface>
<serial type='pty'/><console type='pty'/></devices></domain>`);
        try {
          runPeer.push(await timed('virsh', ['-q', '-c', 'qemu:///system', 'create', xml]));
        } finally {
          await pexec('virsh', ['-q', '-c', 'qemu:///system', 'destroy', peerName]).catch(() => undefined);
          await rm(overlay, { force: true });
        }
      }
      result(`run of a local ${mib} MiB image (vmr run, no IP wait)`, runOurs, runPeer, 'virsh create on a qcow2 overlay', '>= 0.77 (<= 1.3x the time)');
    }

    // flat in image size: vmr run of a 4 GiB image vs a 64 MiB one, interleaved (nothing on the run path may
    // read the base disk). Sparse disks: only the size matters here, and they import in seconds.
    if (!skip.has('flat')) {
      const sizes = [['small', '64M'], ['big', '4G']] as const;
      for (const [tag, size] of sizes) {
        const dir = path.join(work, 'data', 'import', tag);
        await mkdir(dir, { recursive: true });
        await pexec('truncate', ['-s', size, path.join(dir, 'disk.raw')]);
        await writeFile(path.join(dir, 'VMFile.yaml'), `api_version: vmregistry.io/v1alpha1\nkind: VMFile\nmetadata: { name: ${tag} }\n` +
          'spec:\n  disk: { path: ./disk.raw, format: raw }\n  resources: { memory_mb: 256, vcpu_count: 1 }\n');
        await vmr('import', '--on-daemon', path.join(dir, 'VMFile.yaml'), '-t', `bench/${tag}:1`);
      }
      const times: Record<string, number[]> = { small: [], big: [] };
      for (let i = 0; i < Math.max(5, repeats); i++) {
        for (const [tag] of sizes) {
          const name = uniqueName(`bench-${tag}`);
          times[tag]!.push(await vmr('run', '--name', name, `bench/${tag}:1`));
          await vmr('rm', '-f', name);
        }
      }
      result('run of a 4 GiB image vs a 64 MiB one (vmr run, flat in size)', times.big!, times.small!, 'vmr run of the 64 MiB image', '>= 0.91 (within 10 %)');
    }

    // CLI start: hyperfine, median of 20 runs each
    if (!skip.has('cli')) {
      const json = path.join(work, 'hyperfine.json');
      // Node 20 loads NODE_EXTRA_CA_CERTS at start (~85 ms here); vmr's launcher starts it without, so where the
      // variable is set Node's start without it is shown too.
      const caCerts = Boolean(process.env.NODE_EXTRA_CA_CERTS);
      const cmds = ['node -e 0', `${vmrBin} --version`, `${vmrBin} ps`, `${vmrBin} images`, 'virsh -c qemu:///system list',
        ...(caCerts ? ['env -u NODE_EXTRA_CA_CERTS node -e 0'] : [])];
      await pexec('hyperfine', ['-N', '-w', '3', '-r', '20', '--export-json', json, ...cmds], { env });
      const runs = (JSON.parse(await (await import('node:fs/promises')).readFile(json, 'utf8')) as { results: { command: string; median: number; user: number; system: number; times: number[] }[] }).results;
      const floor = runs[0]!;
      for (const r of runs.slice(1, 4)) {
        const what = r.command.replace(vmrBin, 'vmr');
        // CPU time (user + system, mean) as well: on a loaded machine the wall clock mostly measures the wait for a core.
        const cpu = (x: typeof r) => `${((x.user + x.system) * 1000).toFixed(0)} ms CPU`;
        console.log(`${what}: median ${(r.median * 1000).toFixed(0)} ms, ${cpu(r)}; node -e 0 ${(floor.median * 1000).toFixed(0)} ms, ${cpu(floor)}; virsh list ${(runs[4]!.median * 1000).toFixed(0)} ms${caCerts ? `; node -e 0 without NODE_EXTRA_CA_CERTS ${(runs[5]!.median * 1000).toFixed(0)} ms` : ''}`);
        console.log(`RESULT ${JSON.stringify({ name: `${what} (CLI start, daemon running)`, ours: +r.median.toFixed(3), peer: +floor.median.toFixed(3), unit: 's', ratio: +(floor.median / r.median).toFixed(2), peerName: 'node -e 0', goal: '<= 0.10 s absolute' })}`);
      }
    }
  } finally {
    daemon?.kill('SIGTERM');
    for (const r of registries) await r.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
