// Mixed RPC load against a daemon: context writes, health, list RPCs, VMFile validation and Events streams.
// Used by the soak runner (soak.ts) and the short CI version (short.test.ts).
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import type * as grpc from '@grpc/grpc-js';
import type { VmClient } from '../../src/testing/client.js';

export interface LoadStats {
  calls: number;
  errors: Array<{ op: string; code?: number; message: string }>;
  byOp: Record<string, number>;
  events: number;
}

type Op = (client: VmClient, worker: number, seq: number) => Promise<number | void>;

const OPS: Array<[string, Op]> = [
  ['HealthCheck', (c) => c.call('HealthCheck').then(() => undefined)],
  ['ContextList', (c) => c.call('ContextList').then(() => undefined)],
  ['ContextCurrent', (c) => c.call('ContextCurrent').then(() => undefined)],
  ['ListVMs', (c) => c.call('ListVMs').then(() => undefined)],
  ['ListLocalImages', (c) => c.call('ListLocalImages').then(() => undefined)],
  ['ValidateVMFile', async (c) => {
    // A validation answer (valid or with issues) is a success; only an RPC error counts as a failure.
    const r = await c.call('ValidateVMFile', { content: 'api_version: v1\nkind: VMFile\nmetadata:\n  name: soak\nspec: {}\n', baseDir: '/tmp' });
    if (typeof r.valid !== 'boolean') throw new Error('ValidateVMFile answered without a verdict');
  }],
  ['ContextCreate+Update+Remove', async (c, w, s) => {
    const name = `soak-${w}-${s}`;
    await c.call('ContextCreate', { context: { name, registryUrl: 'localhost:5000', description: 'soak' } });
    await c.call('ContextUpdate', { name, context: { description: 'updated' }, updateMask: ['description'] });
    await c.call('ContextRemove', { name });
  }],
  ['Events', async (c, w, s) => {
    // Follow this worker's own context events for one create/remove, then leave.
    const name = `soak-ev-${w}-${s}`;
    const call = (c.raw.Events as (r: unknown) => grpc.ClientReadableStream<{ action: string; name: string }>).call(c.raw, { names: [name], sinceNow: true });
    const seen = new Promise<number>((resolve, reject) => {
      let n = 0;
      call.on('data', (e) => { n += 1; if (e.action === 'remove') resolve(n); });
      call.on('error', (e: Error & { code?: number }) => (e.code === 1 ? resolve(n) : reject(e)));
    });
    // The subscription starts asynchronously; a replay-free stream may miss a create sent too early, so
    // retry the pair until the remove shows up (bounded).
    let got = 0;
    for (let i = 0; i < 50 && !got; i++) {
      await c.call('ContextCreate', { context: { name } });
      await c.call('ContextRemove', { name });
      got = await Promise.race([seen, new Promise<number>((r) => setTimeout(() => r(0), 20))]);
    }
    call.cancel();
    if (!got) throw new Error(`no events for ${name}`);
    return got;
  }],
];

export async function runMixedLoad(client: VmClient, opts: { concurrency: number; until: () => boolean; offset?: number }): Promise<LoadStats> {
  const stats: LoadStats = { calls: 0, errors: [], byOp: {}, events: 0 };
  await Promise.all(Array.from({ length: opts.concurrency }, async (_, i) => {
    const w = (opts.offset ?? 0) + i;
    for (let seq = 0; !opts.until(); seq++) {
      const [name, op] = OPS[(w + seq) % OPS.length]!;
      try {
        const n = await op(client, w, seq);
        if (typeof n === 'number') stats.events += n;
      } catch (err) {
        const e = err as Error & { code?: number };
        stats.errors.push({ op: name, code: e.code, message: e.message });
      }
      stats.calls += 1;
      stats.byOp[name] = (stats.byOp[name] ?? 0) + 1;
    }
  }));
  return stats;
}

/** Forces full GCs (works without --expose-gc) and returns heap and RSS after them. */
export async function settledMemory(): Promise<{ heapUsed: number; rss: number }> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

export const MiB = 1 << 20;
