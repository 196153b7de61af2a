// The short fuzz run of `npm test` (issue 16): a few hundred seeded hostile requests over every RPC.
// VMR_FUZZ_SEED reproduces a run; the seed is printed with every failure. `npm run soak:fuzz` runs long.
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireService } from '../support/services.js';
import { KNOWN, runFuzz } from './fuzzRun.js';

describe('fuzz: hostile requests to every RPC', () => {
  it('no UNKNOWN, no INTERNAL, no hang, bounded RSS, nothing written outside the data dir', async () => {
    await requireService('packages'); // the image store needs qemu-img
    const seed = Number(process.env.VMR_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const count = Number(process.env.VMR_FUZZ_COUNT ?? 300);
    const r = await runFuzz({ seed, count, hugeBytes: 64 * 1024, concurrency: 4 });
    const where = `seed ${seed} (rerun with VMR_FUZZ_SEED=${seed} VMR_FUZZ_COUNT=${count})`;
    if (r.known.length) console.log(`fuzz ${where}: ${r.known.length} known failures another branch fixes: ${[...new Set(r.known.map((k) => k.rpc))].join(', ')} (${KNOWN.length} allow-list entries)`);
    console.log(`fuzz ${where}: ${JSON.stringify(r.codes)}, RSS peak ${r.peakRssMiB.toFixed(0)} MiB (+${r.rssGrowthMiB.toFixed(0)})`);
    assert.equal(r.calls, count);
    assert.deepEqual(r.findings, [], `fuzz ${where}: ${r.findings.length} findings\n${r.findings.slice(0, 10).map((f) => `${f.rpc} → ${f.code} ${f.details}\n   ${f.request}`).join('\n')}`);
  });
});
