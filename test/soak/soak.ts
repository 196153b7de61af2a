// `npm run soak`: N concurrent mixed RPCs (contexts, health, list RPCs, Events streams) against a daemon
// on fake plugins for a bounded time; fails on any error or when heap/RSS after GC keep growing.
// Env: VMR_SOAK_SECONDS (default 60), VMR_SOAK_CONCURRENCY (default 500), VMR_SOAK_HEAP_MIB (allowed heap
// growth after GC between the end of warm-up and the end, default 16), VMR_SOAK_RSS_MIB (default 64).
import 'reflect-metadata';
import { startTestDaemon } from '../../src/testing/startTestDaemon.js';
import { parseExposition } from '../../src/core/metrics/MetricRegistry.js';
import { fakeHypervisorPlugin } from '../support/fakeHypervisor.js';
import { MiB, runMixedLoad, settledMemory, type LoadStats } from './mixedLoad.js';

const seconds = Number(process.env.VMR_SOAK_SECONDS ?? 60);
const concurrency = Number(process.env.VMR_SOAK_CONCURRENCY ?? 500);
const heapTolerance = Number(process.env.VMR_SOAK_HEAP_MIB ?? 16);
const rssTolerance = Number(process.env.VMR_SOAK_RSS_MIB ?? 64);

async function main(): Promise<number> {
  const td = await startTestDaemon({
    plugins: [fakeHypervisorPlugin(['running', 'stopped'], () => undefined)],
    config: { metrics: { enabled: true, listen: '127.0.0.1:0' } },
  });
  const problems: string[] = [];
  try {
    const fmt = (m: { heapUsed: number; rss: number }) => `heap ${(m.heapUsed / MiB).toFixed(1)} MiB, rss ${(m.rss / MiB).toFixed(0)} MiB`;
    const phase = async (label: string, ms: number): Promise<LoadStats> => {
      const end = Date.now() + ms;
      const t = Date.now();
      const s = await runMixedLoad(td.client, { concurrency, until: () => Date.now() >= end });
      console.log(`${label}: ${s.calls} ops in ${((Date.now() - t) / 1000).toFixed(1)} s (${(s.calls / ((Date.now() - t) / 1000)).toFixed(0)}/s), ${s.errors.length} errors, ${s.events} events`);
      return s;
    };
    const warm = await phase('warm-up', Math.max(2000, seconds * 250));
    const base = await settledMemory();
    console.log(`after warm-up: ${fmt(base)}`);
    const samples = [base];
    const all: LoadStats[] = [warm];
    const slices = 3;
    for (let i = 1; i <= slices; i++) {
      all.push(await phase(`slice ${i}/${slices}`, (seconds * 750) / slices));
      const m = await settledMemory();
      samples.push(m);
      console.log(`after slice ${i}: ${fmt(m)}`);
    }
    const errors = all.flatMap((s) => s.errors);
    if (errors.length) {
      problems.push(`${errors.length} failed operations, e.g. ${JSON.stringify(errors.slice(0, 3))}`);
    }
    const last = samples.at(-1)!;
    const heapGrowth = (last.heapUsed - base.heapUsed) / MiB;
    const rssGrowth = (last.rss - base.rss) / MiB;
    if (heapGrowth > heapTolerance) problems.push(`heap after GC grew ${heapGrowth.toFixed(1)} MiB (> ${heapTolerance})`);
    if (rssGrowth > rssTolerance) problems.push(`RSS after GC grew ${rssGrowth.toFixed(0)} MiB (> ${rssTolerance})`);
    const monotonic = samples.every((m, i) => i === 0 || m.heapUsed > samples[i - 1]!.heapUsed + MiB);
    if (monotonic && heapGrowth > heapTolerance / 2) problems.push(`heap grew after every slice (${samples.map((m) => (m.heapUsed / MiB).toFixed(1)).join(' → ')} MiB)`);
    if (td.daemon.events.subscriberCount !== 0) problems.push(`${td.daemon.events.subscriberCount} Events subscriptions left open`);
    const metrics = parseExposition(await (await fetch(td.daemon.metricsUrl!)).text());
    const failedRpcs = [...metrics].filter(([k, v]) => k.startsWith('vmregistry_rpc_requests_total') && !k.includes('code="OK"') && !k.includes('code="CANCELLED"') && v > 0);
    if (failedRpcs.length) problems.push(`non-OK RPCs in the daemon's metrics: ${failedRpcs.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    const total = [...metrics].filter(([k]) => k.startsWith('vmregistry_rpc_requests_total')).reduce((n, [, v]) => n + v, 0);
    console.log(`daemon served ${total} RPCs; heap growth ${heapGrowth.toFixed(1)} MiB, RSS growth ${rssGrowth.toFixed(0)} MiB after GC`);
  } finally {
    await td.stop();
  }
  if (problems.length) {
    console.error(`SOAK FAILED:\n- ${problems.join('\n- ')}`);
    return 1;
  }
  console.log('SOAK OK');
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(err);
  process.exitCode = 1;
});
