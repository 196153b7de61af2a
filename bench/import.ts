// Import benchmark: a 2 GiB disk (files, random and zero runs; see sample.ts) through
// OciImageStore.importStream, against the floor of compressing the same bytes with the system
// `zstd -T0` at the same level. Samples the daemon process's RSS during the import.
//   node dist/bench/import.js [sizeMiB=2048] [level=<store default>]
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OciImageStore } from '../src/core/images/index.js';
import { DEFAULT_LEVEL } from '../src/core/images/codecs.js';
import type { CallContext, Logger } from '../src/core/ports/common.js';
import type { makeSample } from './sample.js';

const MiB = 1 << 20;
const noop: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => noop };

async function zstdFloor(file: string, level: number): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const c = spawn('zstd', [`-${level}`, '-T0', '-q', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    c.stdout.on('data', (b: Buffer) => { bytes += b.length; });
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}`))));
  });
  return { ms: performance.now() - t, bytes };
}

async function main() {
  const mib = Number(process.argv[2] ?? 2048);
  const level = Number(process.argv[3] ?? DEFAULT_LEVEL);
  const dir = mkdtempSync(path.join(tmpdir(), 'vmr-bench-import-'));
  try {
    const sample = path.join(dir, 'disk.raw');
    // Built in a child so this process's RSS reflects the import alone.
    const { size, zeroMiB } = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e',
      `import { makeSample } from ${JSON.stringify(new URL('./sample.js', import.meta.url).href)}; console.log(JSON.stringify(makeSample(${JSON.stringify(sample)}, ${mib})));`,
    ], { encoding: 'utf8' })) as ReturnType<typeof makeSample>;
    execFileSync('sync');
    const floor = await zstdFloor(sample, level);

    const store = new OciImageStore({ dataDir: path.join(dir, 'data'), level });
    const ctx: CallContext = {
      signal: new AbortController().signal, log: noop,
      context: { name: 'default', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: '', insecureRegistry: false, current: true, created: '' },
    };
    let peakRss = 0;
    const rssBefore = process.memoryUsage().rss;
    const timer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);
    const phases: Record<string, number> = {};
    let phase = '';
    let phaseStart = performance.now();
    ctx.progress = (p) => {
      if (p.phase !== phase) {
        if (phase) phases[phase] = performance.now() - phaseStart;
        phase = p.phase;
        phaseStart = performance.now();
      }
    };
    const t = performance.now();
    const img = await store.importStream(
      { vmfile: { apiVersion: 'vmregistry.io/v1alpha1', kind: 'VMFile', metadata: { name: 'bench', description: '', author: '', source: '', labels: {} }, spec: { disk: { path: 'disk.raw', format: 'raw' }, resources: { memoryMb: 1024, vcpuCount: 1, diskSizeGb: 0 }, os: { architecture: 'x86_64', firmware: 'bios' } } }, reference: 'bench:1', totalSize: size },
      createReadStream(sample, { highWaterMark: MiB }),
      ctx,
    );
    const importMs = performance.now() - t;
    if (phase) phases[phase] = performance.now() - phaseStart;
    ctx.progress = undefined;
    rmSync(store.paths.disk(img.digest));
    const t2 = performance.now();
    await store.baseDisk(img.digest, ctx);
    const assembleMs = performance.now() - t2;
    clearInterval(timer);
    const stored = img.manifest.layers.reduce((a, l) => a + l.size, 0);
    const s = (ms: number) => (ms / 1000).toFixed(1) + ' s';
    console.log(`disk: ${mib} MiB (${zeroMiB} MiB zeros), zstd level ${level}, ${img.manifest.layers.length} windows stored`);
    console.log(`floor  zstd -${level} -T0 on the raw file: ${s(floor.ms)} (${(size / MiB / (floor.ms / 1000)).toFixed(0)} MiB/s), ${(floor.bytes / MiB).toFixed(0)} MiB out`);
    console.log(`import importStream: ${s(importMs)} (${(size / MiB / (importMs / 1000)).toFixed(0)} MiB/s), ${(stored / MiB).toFixed(0)} MiB stored; phases: ${Object.entries(phases).map(([k, v]) => `${k} ${s(v)}`).join(', ')}`);
    console.log(`ratio  import / floor: ${(importMs / floor.ms).toFixed(2)}x; stored / floor bytes: ${(stored / floor.bytes).toFixed(2)}x`);
    console.log(`base disk reassembly (parallel decompress + pwrite): ${s(assembleMs)}; allocated ${(statSync(store.paths.disk(img.digest)).blocks * 512 / MiB).toFixed(0)} of ${mib} MiB`);
    console.log(`RSS: before ${(rssBefore / MiB).toFixed(0)} MiB, peak during import+assembly ${(peakRss / MiB).toFixed(0)} MiB (goal < 200 MiB; zstd children not included)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
