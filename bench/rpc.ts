// Benchmark: unary RPC throughput through the whole daemon (RpcRuntime: call context, current-context
// lookup, status mapping, metrics, completion log, events) vs a bare grpc-js server answering the same
// method of the same proto on the same kind of Unix socket. Measures what the core costs per call.
// Calls: VMR_BENCH_CALLS (default 2000) split over VMR_BENCH_CONCURRENCY (default 16) concurrent loops.
// Run: npx tsc -p . && node --import reflect-metadata dist/bench/rpc.js
import 'reflect-metadata';
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadVmProto } from '../src/core/grpc/loadProto.js';
import { VmClient } from '../src/testing/client.js';
import { startTestDaemon } from '../src/testing/startTestDaemon.js';

const calls = Number(process.env.VMR_BENCH_CALLS ?? 2000);
const concurrency = Number(process.env.VMR_BENCH_CONCURRENCY ?? 16);

async function rate(client: VmClient): Promise<number> {
  for (let i = 0; i < 200; i++) await client.call('ContextCurrent'); // warm-up: JIT, connection
  let left = calls;
  const t = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) await client.call('ContextCurrent');
  }));
  return calls / ((performance.now() - t) / 1000);
}

async function bare(): Promise<{ socket: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmr-bench-rpc-'));
  const socket = path.join(dir, 'bare.sock');
  const pkg = grpc.loadPackageDefinition(loadVmProto()) as unknown as { vmregistry: { v1: { VMService: grpc.ServiceClientConstructor } } };
  const server = new grpc.Server();
  const reply = { context: { name: 'default', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: '', insecureRegistry: false, current: true, created: new Date().toISOString() } };
  server.addService(pkg.vmregistry.v1.VMService.service, { ContextCurrent: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, reply) });
  await new Promise<void>((res, rej) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  return { socket, stop: async () => { server.forceShutdown(); await rm(dir, { recursive: true, force: true }); } };
}

async function main() {
  // Both servers up at once and measured in alternating rounds (best of 3 each), so a burst of load on a
  // shared machine does not land on one side only.
  const td = await startTestDaemon({ config: { plugins: {} } });
  const b = await bare();
  const client = new VmClient(b.socket);
  let ours = 0;
  let peer = 0;
  try {
    for (let round = 0; round < 3; round++) {
      ours = Math.max(ours, await rate(td.client));
      peer = Math.max(peer, await rate(client));
    }
  } finally {
    client.close();
    await b.stop();
    await td.stop();
  }
  console.log(`ContextCurrent: daemon ${ours.toFixed(0)} calls/s, bare grpc-js ${peer.toFixed(0)} calls/s (best of 3, ${calls} calls, concurrency ${concurrency}, ${os.cpus().length} CPUs)`);
  console.log(`RESULT ${JSON.stringify({ name: `unary ContextCurrent x${calls}, ${concurrency} concurrent`, ours, peer, unit: 'calls/s', ratio: ours / peer, peerName: 'bare grpc-js server, same proto' })}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
