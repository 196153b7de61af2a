// Benchmark: our push and pull vs `skopeo copy` of the identical blobs (OCI layout ⇄ registry), same
// run, same kind of local registry (a fresh docker-registry per measurement, so nothing is already there).
// Size: VMR_BENCH_MB (default 1024) split into windows of VMR_BENCH_WINDOW_MB (default 128).
// Run: npx tsc -p . && node dist/bench/registry.js
import { execFile } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { defaultConfig } from '../src/plugins/registry-oci/config.js';
import { OciRegistryClient } from '../src/plugins/registry-oci/index.js';
import { callContext } from '../test/support/callContext.js';
import { startRegistry } from '../test/support/registry.js';
import { makeTestImage, TempImageStore } from '../test/support/tempImageStore.js';

const pexec = promisify(execFile);
const totalMb = Number(process.env.VMR_BENCH_MB ?? 1024);
const windowMb = Number(process.env.VMR_BENCH_WINDOW_MB ?? 128);
const concurrency = Number(process.env.VMR_BENCH_CONCURRENCY ?? defaultConfig.concurrency);

async function timed<T>(fn: () => Promise<T>): Promise<{ s: number; r: T }> {
  const t = performance.now();
  const r = await fn();
  return { s: (performance.now() - t) / 1000, r };
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), 'vmr-bench-'));
  const src = await TempImageStore.create();
  const stores = [src];
  try {
    const sizes = Array.from({ length: Math.ceil(totalMb / windowMb) }, (_, i) => Math.min(windowMb, totalMb - i * windowMb) << 20);
    const { digest, manifest } = await makeTestImage(src, 'bench/vm:1', sizes, 99);
    const bytes = manifest.layers.reduce((n, l) => n + l.size, 0) + manifest.config.size;
    const mb = bytes / (1 << 20);
    console.log(`image ${digest}: ${manifest.layers.length} windows, ${mb.toFixed(0)} MiB; concurrency ${concurrency}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`);

    // The same blobs as an OCI layout for skopeo (hard links: no copy).
    const layout = path.join(work, 'layout');
    await mkdir(path.join(layout, 'blobs/sha256'), { recursive: true });
    for (const d of [digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      await link(src.content.blobPath(d), path.join(layout, 'blobs/sha256', d.slice(7)));
    }
    await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const mbytes = (await src.content.readAll(digest)).length;
    await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: mbytes, annotations: { 'org.opencontainers.image.ref.name': 'vm' },
    }] }));

    const results: Record<string, number> = {};
    // ours
    {
      const reg = await startRegistry();
      try {
        const client = new OciRegistryClient(src, { ...defaultConfig, concurrency });
        const push = await timed(() => client.push('bench/vm:1', `${reg.host}/bench/vm:1`, callContext({ insecureRegistry: true })));
        if (push.r.digest !== digest) throw new Error('digest changed on push');
        results.oursPush = push.s;
        const dst = await TempImageStore.create();
        stores.push(dst);
        const pullClient = new OciRegistryClient(dst, { ...defaultConfig, concurrency });
        const pull = await timed(() => pullClient.pull(`${reg.host}/bench/vm:1`, callContext({ insecureRegistry: true })));
        if (pull.r.digest !== digest) throw new Error('digest changed on pull');
        results.oursPull = pull.s;
        await client.close();
        await pullClient.close();
        await dst.dispose();
      } finally {
        await reg.stop();
      }
    }
    // skopeo
    {
      const reg = await startRegistry();
      try {
        const push = await timed(() => pexec('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:vm`, `docker://${reg.host}/bench/vm:1`]));
        results.skopeoPush = push.s;
        const out = path.join(work, 'pulled');
        const pull = await timed(() => pexec('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg.host}/bench/vm:1`, `oci:${out}:vm`]));
        results.skopeoPull = pull.s;
      } finally {
        await reg.stop();
      }
    }
    const rate = (s: number) => `${(mb / s).toFixed(0)} MiB/s`;
    console.log(`push: ours ${results.oursPush!.toFixed(2)} s (${rate(results.oursPush!)}), skopeo ${results.skopeoPush!.toFixed(2)} s (${rate(results.skopeoPush!)}), ours/skopeo throughput ratio ${(results.skopeoPush! / results.oursPush!).toFixed(2)}`);
    console.log(`pull: ours ${results.oursPull!.toFixed(2)} s (${rate(results.oursPull!)}), skopeo ${results.skopeoPull!.toFixed(2)} s (${rate(results.skopeoPull!)}), ours/skopeo throughput ratio ${(results.skopeoPull! / results.oursPull!).toFixed(2)}`);
    // The runner's convention (bench/README.md): seconds, lower is better, ratio = peer/ours.
    console.log(`RESULT ${JSON.stringify({ name: `push ${mb.toFixed(0)} MiB`, ours: results.oursPush, peer: results.skopeoPush, unit: 's', ratio: results.skopeoPush! / results.oursPush!, peerName: 'skopeo copy' })}`);
    console.log(`RESULT ${JSON.stringify({ name: `pull ${mb.toFixed(0)} MiB`, ours: results.oursPull, peer: results.skopeoPull, unit: 's', ratio: results.skopeoPull! / results.oursPull!, peerName: 'skopeo copy' })}`);
  } finally {
    for (const s of stores) await s.dispose();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
