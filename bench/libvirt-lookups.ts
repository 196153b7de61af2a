// NetworkList and a 200-call burst of lookups through our RPC client vs the same work through
// virsh, one process per call and virsh batch mode (commands on stdin). Not part of npm test.
//   node dist/bench/libvirt-lookups.js [uri=test+unix:///default] [burst=200]
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { LibvirtConnectionManager } from '../src/plugins/libvirt/rpc/index.js';
import { LibvirtNetworkManager } from '../src/plugins/libvirt/network/LibvirtNetworkManager.js';
import type { CallContext, Logger } from '../src/core/ports/common.js';

const pexec = promisify(execFile);
const uri = process.argv[2] ?? 'test+unix:///default';
const burst = Number(process.argv[3] ?? 200);
const log: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => log };
const ctx: CallContext = {
  signal: new AbortController().signal,
  log,
  context: { name: 'bench', description: '', registryUrl: '', authServer: '', authClientId: '', libvirtUri: uri, insecureRegistry: false, current: true, created: '' },
};

async function time(fn: () => Promise<unknown>, reps = 1): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  return (performance.now() - t0) / reps;
}

const virsh = (args: string[]) => pexec('virsh', ['-q', '-c', uri, ...args], { maxBuffer: 64 << 20 });

function virshBatch(commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('virsh', ['-q', '-c', uri], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`virsh exited ${code}`))));
    p.stdin.end(commands.join('\n') + '\nquit\n');
  });
}

async function main(): Promise<void> {
  const connections = new LibvirtConnectionManager();
  const client = connections.get(uri);
  await client.ready();
  const nm = new LibvirtNetworkManager({ connections, defaultUri: uri });
  const nets = (await client.listAllNetworks()).map((n) => n.name);
  const target = nets.includes('default') ? 'default' : nets[0];
  if (!target) throw new Error(`no networks on ${uri} to look up`);
  await nm.list(ctx); // warm up

  // NetworkList: the full NetworkInfo set = list + XML of every network (+ state flags).
  const reps = 5;
  const oursList = await time(() => nm.list(ctx), reps);
  const virshList = await time(async () => {
    const { stdout } = await virsh(['net-list', '--all', '--name']);
    const names = stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    await Promise.all(names.map((n) => virsh(['net-dumpxml', n])));
  }, reps);
  const batchList = await time(async () => {
    const { stdout } = await virsh(['net-list', '--all', '--name']);
    const names = stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    await virshBatch(names.map((n) => `net-dumpxml ${n}`));
  }, reps);

  // Burst: `burst` lookups by name (virsh net-uuid = one lookup each).
  const oursBurst = await time(() => Promise.all(Array.from({ length: burst }, () => client.networkLookupByName(target))));
  const oursSerial = await time(async () => {
    for (let i = 0; i < burst; i++) await client.networkLookupByName(target);
  });
  const perProcess = await time(async () => {
    // 4 at a time: what a caller shelling out would reasonably do on a small host.
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next++ < burst) await virsh(['net-uuid', target]);
    }));
  });
  const batch = await time(() => virshBatch(Array.from({ length: burst }, () => `net-uuid ${target}`)));

  const row = (what: string, ms: number, base: number) =>
    console.log(`${what.padEnd(46)} ${ms.toFixed(1).padStart(9)} ms   ${(ms / base).toFixed(1).padStart(7)}x`);
  console.log(`libvirt lookups on ${uri} (${nets.length} networks, lookups of "${target}")`);
  console.log(`${'case'.padEnd(46)} ${'time'.padStart(12)}   vs ours`);
  row('NetworkList: our client (mean of 5)', oursList, oursList);
  row('NetworkList: virsh net-list + net-dumpxml procs', virshList, oursList);
  row('NetworkList: virsh net-list + batch dumpxml', batchList, oursList);
  row(`${burst} lookups: our client, pipelined`, oursBurst, oursBurst);
  row(`${burst} lookups: our client, one at a time`, oursSerial, oursBurst);
  row(`${burst} lookups: virsh process per call (4 par.)`, perProcess, oursBurst);
  row(`${burst} lookups: virsh batch mode (stdin)`, batch, oursBurst);
  // bench/run-all.sh collects these (bench/README.md); the peer is virsh's fastest mode (batch on stdin).
  console.log(`RESULT ${JSON.stringify({ name: `NetworkList (${nets.length} networks)`, ours: oursList, peer: batchList, unit: 'ms', peerName: 'virsh net-list + batch net-dumpxml' })}`);
  console.log(`RESULT ${JSON.stringify({ name: `${burst} network lookups`, ours: oursBurst, peer: batch, unit: 'ms', peerName: 'virsh batch mode (stdin)' })}`);
  await connections.closeAll();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
