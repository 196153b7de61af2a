// Codec benchmark for disk windows: single-stream compress and decompress throughput and ratio of
// zstd levels 1–3 (system binary), LZ4 (system binary and the lz4-napi prebuilt), gzip level 1
// (Node zlib) and zstd compiled to WASM (@bokuweb/zstd-wasm). Optional npm codecs are loaded from
// VMR_BENCH_MODULES (a directory with node_modules), since they are not project dependencies.
//   node dist/bench/codecs.js [sizeMiB=128] [repeats=3]
// The machine is shared, so each figure is the best of `repeats` runs (least disturbed).
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { makeSample } from './sample.js';

const MiB = 1 << 20;

interface Row { codec: string; ratio: number; compMBs: number; decompMBs: number; note?: string }

async function viaChild(cmd: string, args: string[], input: string, output: string): Promise<number> {
  const t = performance.now();
  const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) => {
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
  // Like the store: Node feeds the child and writes its output (not a shell redirect).
  await Promise.all([pipeline(createReadStream(input, { highWaterMark: MiB }), c.stdin), pipeline(c.stdout, createWriteStream(output)), exited]);
  return performance.now() - t;
}

async function viaStream(make: () => NodeJS.ReadWriteStream, input: string, output: string): Promise<number> {
  const t = performance.now();
  await pipeline(createReadStream(input, { highWaterMark: MiB }), make(), createWriteStream(output));
  return performance.now() - t;
}

const REPEATS = Number(process.argv[3] ?? 3);

async function best(run: () => Promise<number>): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < REPEATS; i++) b = Math.min(b, await run());
  return b;
}

async function bestSync(run: () => number): Promise<number> {
  return best(async () => run());
}

async function main() {
  const mib = Number(process.argv[2] ?? 128);
  const dir = mkdtempSync(path.join(tmpdir(), 'vmr-codecs-'));
  try {
    const sample = path.join(dir, 'sample.raw');
    const { size, zeroMiB } = makeSample(sample, mib);
    const comp = path.join(dir, 'c');
    const back = path.join(dir, 'd');
    const rows: Row[] = [];
    const mbs = (ms: number) => size / MiB / (ms / 1000);
    const check = () => {
      if (statSync(back).size !== size) throw new Error('round trip changed the size');
    };
    for (const level of [1, 2, 3]) {
      const c = await best(() => viaChild('zstd', [`-${level}`, '-T1', '-q', '-c'], sample, comp));
      const d = await best(() => viaChild('zstd', ['-d', '-q', '-c'], comp, back));
      check();
      rows.push({ codec: `zstd -${level} (system binary, 1 thread)`, ratio: size / statSync(comp).size, compMBs: mbs(c), decompMBs: mbs(d) });
    }
    try {
      const c = await best(() => viaChild('lz4', ['-1', '-q', '-c'], sample, comp));
      const d = await best(() => viaChild('lz4', ['-d', '-q', '-c'], comp, back));
      check();
      rows.push({ codec: 'lz4 -1 (system binary)', ratio: size / statSync(comp).size, compMBs: mbs(c), decompMBs: mbs(d) });
    } catch (err) {
      rows.push({ codec: 'lz4 (system binary)', ratio: 0, compMBs: 0, decompMBs: 0, note: `unavailable: ${(err as Error).message}` });
    }
    {
      const c = await best(() => viaStream(() => createGzip({ level: 1, chunkSize: MiB }), sample, comp));
      const d = await best(() => viaStream(() => createGunzip({ chunkSize: MiB }), comp, back));
      check();
      rows.push({ codec: 'gzip -1 (Node zlib)', ratio: size / statSync(comp).size, compMBs: mbs(c), decompMBs: mbs(d) });
    }
    const modules = process.env.VMR_BENCH_MODULES;
    if (modules) {
      const req = createRequire(path.join(modules, 'package.json'));
      const data = readFileSync(sample);
      const CH = 16 * MiB; // one-shot APIs: compress in 16 MiB pieces
      try {
        const z = req('@bokuweb/zstd-wasm') as { init(): Promise<void>; compress(b: Buffer, l: number): Uint8Array; decompress(b: Uint8Array): Uint8Array };
        await z.init();
        for (const level of [1, 3]) {
          let parts: Uint8Array[] = [];
          const c = await bestSync(() => {
            const t = performance.now();
            parts = [];
            for (let o = 0; o < data.length; o += CH) parts.push(z.compress(data.subarray(o, o + CH), level));
            return performance.now() - t;
          });
          let n = 0;
          const d = await bestSync(() => {
            const t = performance.now();
            n = 0;
            for (const p of parts) n += z.decompress(p).length;
            return performance.now() - t;
          });
          if (n !== size) throw new Error('zstd-wasm round trip changed the size');
          rows.push({ codec: `zstd -${level} (@bokuweb/zstd-wasm)`, ratio: size / parts.reduce((a, p) => a + p.length, 0), compMBs: mbs(c), decompMBs: mbs(d) });
        }
      } catch (err) {
        rows.push({ codec: '@bokuweb/zstd-wasm', ratio: 0, compMBs: 0, decompMBs: 0, note: `failed: ${(err as Error).message}` });
      }
      try {
        const l = req('lz4-napi') as { compressSync(b: Buffer): Buffer; uncompressSync(b: Buffer): Buffer };
        let parts: Buffer[] = [];
        const c = await bestSync(() => {
          const t = performance.now();
          parts = [];
          for (let o = 0; o < data.length; o += CH) parts.push(l.compressSync(data.subarray(o, o + CH)));
          return performance.now() - t;
        });
        let n = 0;
        const d = await bestSync(() => {
          const t = performance.now();
          n = 0;
          for (const p of parts) n += l.uncompressSync(p).length;
          return performance.now() - t;
        });
        if (n !== size) throw new Error('lz4-napi round trip changed the size');
        rows.push({ codec: 'lz4 (lz4-napi prebuilt)', ratio: size / parts.reduce((a, p) => a + p.length, 0), compMBs: mbs(c), decompMBs: mbs(d) });
      } catch (err) {
        rows.push({ codec: 'lz4-napi', ratio: 0, compMBs: 0, decompMBs: 0, note: `failed: ${(err as Error).message}` });
      }
    }
    console.log(`sample: ${mib} MiB (${zeroMiB} MiB zeros, ${Math.round(mib * 0.15)} MiB random, rest files from /usr); throughput in MiB/s of uncompressed data`);
    console.log('| codec | ratio | compress MiB/s | decompress MiB/s |');
    console.log('|---|---:|---:|---:|');
    for (const r of rows) {
      console.log(r.note ? `| ${r.codec} | ${r.note} | | |` : `| ${r.codec} | ${r.ratio.toFixed(2)} | ${r.compMBs.toFixed(0)} | ${r.decompMBs.toFixed(0)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
