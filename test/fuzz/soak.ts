// `npm run soak:fuzz` (also the last step of `npm run soak`): the long fuzz run. Env: VMR_FUZZ_SEED
// (default: random, printed), VMR_FUZZ_COUNT (default 20000), VMR_FUZZ_HUGE_BYTES (default 256 KiB),
// VMR_FUZZ_CONCURRENCY (default 8), VMR_FUZZ_RSS_MIB (allowed RSS growth, default 1024).
import 'reflect-metadata';
import { runFuzz } from './fuzzRun.js';

async function main(): Promise<number> {
  const seed = Number(process.env.VMR_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const count = Number(process.env.VMR_FUZZ_COUNT ?? 20_000);
  const started = Date.now();
  console.log(`fuzz soak: seed ${seed}, ${count} requests`);
  const r = await runFuzz({
    seed, count,
    hugeBytes: Number(process.env.VMR_FUZZ_HUGE_BYTES ?? 256 << 10),
    concurrency: Number(process.env.VMR_FUZZ_CONCURRENCY ?? 8),
    rssMiB: Number(process.env.VMR_FUZZ_RSS_MIB ?? 1024),
    log: (line) => console.log(line),
  });
  console.log(`fuzz soak: ${r.calls} calls in ${((Date.now() - started) / 1000).toFixed(0)} s, ${JSON.stringify(r.codes)}, RSS peak ${r.peakRssMiB.toFixed(0)} MiB (+${r.rssGrowthMiB.toFixed(0)})`);
  if (r.known.length) {
    console.log(`fuzz soak: ${r.known.length} known failures other branches fix (${[...new Set(r.known.map((k) => k.rpc))].join(', ')}):`);
    for (const k of r.known.slice(0, 20)) console.log(`  ${k.rpc} → ${k.code} ${k.details.slice(0, 160)}`);
  }
  if (r.findings.length) {
    console.log(`fuzz soak FAILED: ${r.findings.length} findings; rerun with VMR_FUZZ_SEED=${seed} VMR_FUZZ_COUNT=${count}`);
    for (const f of r.findings.slice(0, 50)) console.log(`  ${f.rpc} → ${f.code} ${f.details}\n     ${f.request}`);
    return 1;
  }
  console.log('fuzz soak: OK');
  return 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(1);
});
