// The Prometheus endpoint of a real test daemon, the completion log line of every RPC, and the config rules.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../src/core/config/DaemonConfig.js';
import { Daemon } from '../../src/core/Daemon.js';
import { createLogger } from '../../src/core/log/logger.js';
import { Counter, Histogram, MetricRegistry, parseExposition } from '../../src/core/metrics/MetricRegistry.js';
import { progressDeltas } from '../../src/core/metrics/DaemonMetrics.js';
import { fakeRegistryPlugin } from '../../src/testing/fakePlugins.js';
import { startTestDaemon, type TestDaemon } from '../../src/testing/startTestDaemon.js';
import { VmClient } from '../../src/testing/client.js';
import { fakeHypervisorPlugin } from '../support/fakeHypervisor.js';
import { makeTestImage, TempImageStore } from '../support/tempImageStore.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

describe('metrics config', () => {
  it('is off by default on a loopback address', async () => {
    const { config } = await loadConfig({ env: {}, object: { plugins: {} } });
    assert.deepEqual(config.metrics, { enabled: false, listen: '127.0.0.1:9464', allowRemote: false });
  });

  it('refuses a non-loopback listen address unless allowRemote, and a malformed one always', async () => {
    await assert.rejects(loadConfig({ env: {}, object: { plugins: {}, metrics: { enabled: true, listen: '0.0.0.0:9464' } } }),
      /metrics.listen "0.0.0.0:9464" is not a loopback address.*allowRemote/);
    const { config } = await loadConfig({ env: {}, object: { plugins: {}, metrics: { enabled: true, listen: '0.0.0.0:9464', allowRemote: true } } });
    assert.equal(config.metrics.listen, '0.0.0.0:9464');
    for (const ok of ['[::1]:9464', 'localhost:1', '127.0.0.2:9464']) {
      await loadConfig({ env: {}, object: { plugins: {}, metrics: { listen: ok } } });
    }
    await assert.rejects(loadConfig({ env: {}, object: { plugins: {}, metrics: { listen: '9464' } } }), /must be host:port/);
    await assert.rejects(loadConfig({ env: {}, object: { plugins: {}, metrics: { listen: '127.0.0.1:70000' } } }), /must be host:port/);
  });
});

describe('exposition format', () => {
  it('renders counters and cumulative histograms that parse back', async () => {
    const r = new MetricRegistry();
    const c = r.register(new Counter('t_total', 'a "help"\nline'));
    const h = r.register(new Histogram('t_seconds', 'h', [0.1, 1]));
    c.inc({ method: 'A', code: 'OK' }, 2);
    c.inc({ method: 'we"ird\\' });
    c.inc({ method: 'A', code: 'OK' }, -5); // ignored: counters never go down
    h.observe({ m: 'x' }, 0.05);
    h.observe({ m: 'x' }, 0.5);
    h.observe({ m: 'x' }, 5);
    const text = await r.render();
    assert.match(text, /^# HELP t_total a "help"\\nline\n# TYPE t_total counter\n/);
    assert.match(text, /t_total\{method="we\\"ird\\\\"\} 1/);
    const m = parseExposition(text);
    assert.equal(m.get('t_total{method="A",code="OK"}'), 2);
    assert.equal(m.get('t_seconds_bucket{m="x",le="0.1"}'), 1);
    assert.equal(m.get('t_seconds_bucket{m="x",le="1"}'), 2);
    assert.equal(m.get('t_seconds_bucket{m="x",le="+Inf"}'), 3);
    assert.equal(m.get('t_seconds_count{m="x"}'), 3);
    assert.equal(m.get('t_seconds_sum{m="x"}'), 5.55);
  });

  it('turns cumulative progress into byte deltas per phase and item', () => {
    const seen: Array<[string, number]> = [];
    const f = progressDeltas((phase, n) => seen.push([phase, n]));
    f({ phase: 'download', item: 'a', current: 10, unit: 'bytes' });
    f({ phase: 'download', item: 'a', current: 25, unit: 'bytes' });
    f({ phase: 'download', item: 'b', current: 5, unit: 'bytes' });
    f({ phase: 'download', item: 'a', current: 4, unit: 'bytes' }); // a retry started over
    f({ phase: 'verify', item: 'a', current: 3, unit: 'items' });
    assert.deepEqual(seen, [['download', 10], ['download', 15], ['download', 5], ['download', 4]]);
  });
});

describe('metrics endpoint of a daemon', () => {
  let td: TestDaemon;
  let src: TempImageStore;
  let dst: TempImageStore;
  let blobBytes = 0;
  before(async () => {
    src = await TempImageStore.create();
    dst = await TempImageStore.create();
    const { digest, manifest } = await makeTestImage(src, 'x/vm:1', [100_000, 50_000], 7);
    blobBytes = [manifest.config, ...manifest.layers].reduce((n, d) => n + d.size, 0);
    const seed = async (r: { manifests: Map<string, Buffer>; blobs: Map<string, Buffer> }) => {
      r.manifests.set('localhost:5000/x/vm:1', await src.content.readAll(digest));
      for (const d of [manifest.config, ...manifest.layers]) r.blobs.set(d.digest, await src.content.readAll(d.digest));
    };
    let pending: Promise<void> | undefined;
    td = await startTestDaemon({
      plugins: [fakeHypervisorPlugin(['running', 'running', 'stopped'], () => undefined), fakeRegistryPlugin((r) => { pending = seed(r); })],
      imageStore: () => dst,
      config: { metrics: { enabled: true, listen: '127.0.0.1:0' } },
    });
    await pending;
  });
  after(async () => {
    await td.stop();
    await src.dispose();
    await dst.dispose();
  });

  it('counts RPCs by method and code, with latency histograms, VMs by status, transfer bytes and process numbers', async () => {
    assert.match(td.daemon.metricsUrl!, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    for (let i = 0; i < 3; i++) await td.client.call('ContextList');
    await assert.rejects(td.client.call('ContextRemove', { name: 'nope' }), { code: 5 });
    await assert.rejects(td.client.call('ContextUse', { name: '' }), { code: 3 });
    const pulled = await td.client.call('PullImage', { reference: 'localhost:5000/x/vm:1' });
    assert.equal(Number(pulled.transferred), blobBytes);

    const m = await scrape(td.daemon.metricsUrl!);
    assert.equal(m.get('vmregistry_rpc_requests_total{method="ContextList",code="OK"}'), 3);
    assert.equal(m.get('vmregistry_rpc_requests_total{method="ContextRemove",code="NOT_FOUND"}'), 1);
    assert.equal(m.get('vmregistry_rpc_requests_total{method="ContextUse",code="INVALID_ARGUMENT"}'), 1);
    assert.equal(m.get('vmregistry_rpc_requests_total{method="PullImage",code="OK"}'), 1);
    assert.equal(m.get('vmregistry_rpc_duration_seconds_count{method="ContextList",code="OK"}'), 3);
    assert.equal(m.get('vmregistry_rpc_duration_seconds_bucket{method="ContextList",code="OK",le="+Inf"}'), 3);
    const sum = m.get('vmregistry_rpc_duration_seconds_sum{method="ContextList",code="OK"}')!;
    assert.ok(sum > 0, `latency sum ${sum}`);
    assert.equal(m.get('vmregistry_transfer_bytes_total{method="PullImage",phase="download"}'), blobBytes);
    assert.equal(m.get('vmregistry_vms{status="running"}'), 2);
    assert.equal(m.get('vmregistry_vms{status="stopped"}'), 1);
    assert.ok(m.get('process_resident_memory_bytes')! > 10 << 20);
    assert.ok(m.get('nodejs_heap_used_bytes')! > 0);
    assert.ok(m.get('nodejs_eventloop_lag_seconds{quantile="0.99"}')! >= 0);
    assert.ok(m.has('process_cpu_seconds_total'));
    assert.equal(m.get('vmregistry_rpc_inflight'), 0);
    assert.equal(m.get('vmregistry_events_published_total'), 1, 'the pull published one event');

    const again = await scrape(td.daemon.metricsUrl!);
    assert.equal(again.get('vmregistry_rpc_requests_total{method="ContextList",code="OK"}'), 3, 'scraping is not an RPC');
    assert.equal((await fetch(td.daemon.metricsUrl!.replace('/metrics', '/'))).status, 404);
  });
});

describe('metrics endpoint failures', () => {
  it('a scrape still answers when the hypervisor hangs (VM counts left out, bounded wait)', async () => {
    const td = await startTestDaemon({
      plugins: [fakeHypervisorPlugin(['running'], () => undefined, { hang: true })],
      config: { metrics: { enabled: true, listen: '127.0.0.1:0' } },
    });
    try {
      const m = await scrape(td.daemon.metricsUrl!);
      assert.ok(![...m.keys()].some((k) => k.startsWith('vmregistry_vms')), 'no VM counts from a hypervisor that did not answer');
      assert.ok(m.get('process_resident_memory_bytes')! > 0, 'the rest of the scrape is there');
    } finally {
      await td.stop();
    }
  });

  it('the daemon refuses to start when the metrics address is taken, and says which setting to change', async () => {
    const blocker = (await import('node:http')).createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startTestDaemon({ config: { metrics: { enabled: true, listen: `127.0.0.1:${port}` } } }),
        (err: Error & { code?: string }) => err.code === 'UNAVAILABLE' && /cannot listen for metrics on 127\.0\.0\.1:\d+.*metrics\.listen/.test(err.message));
    } finally {
      blocker.close();
    }
  });
});

describe('RPC completion log', () => {
  it('logs one line per call with method, code, duration_ms and the request id (debug on success, warn on failure)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vmrt-log-'));
    const out = new PassThrough();
    const lines: Array<Record<string, unknown>> = [];
    let buf = '';
    out.on('data', (b: Buffer) => {
      buf += b.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { lines.push(JSON.parse(buf.slice(0, i))); buf = buf.slice(i + 1); }
    });
    const { config } = await loadConfig({ env: {}, object: { plugins: {}, socket: path.join(dir, 's.sock'), dataDir: path.join(dir, 'data') } });
    const daemon = await Daemon.start({ config, log: createLogger({ level: 'debug', destination: out }) });
    const c = new VmClient(config.socket);
    try {
      await c.call('ContextList', {}, { metadata: { 'x-request-id': 'req-ok-1' } });
      await assert.rejects(c.call('ContextRemove', { name: 'default' }, { metadata: { 'x-request-id': 'req-bad-2' } }));
      await c.call('ContextCurrent');
      await new Promise((r) => setTimeout(r, 50));
      const done = lines.filter((l) => l.msg === 'rpc done' || l.msg === 'rpc failed');
      assert.equal(done.length, 3, JSON.stringify(done));
      const ok = done.find((l) => l.requestId === 'req-ok-1')!;
      assert.deepEqual({ level: ok.level, method: ok.method, code: ok.code }, { level: 20, method: 'ContextList', code: 'OK' });
      assert.equal(typeof ok.duration_ms, 'number');
      const bad = done.find((l) => l.requestId === 'req-bad-2')!;
      assert.deepEqual({ level: bad.level, method: bad.method, code: bad.code }, { level: 40, method: 'ContextRemove', code: 'FAILED_PRECONDITION' });
      const generated = done.find((l) => l.method === 'ContextCurrent')!;
      assert.match(String(generated.requestId), /^[0-9a-f-]{36}$/, 'a request id is generated when the client sends none');
    } finally {
      c.close();
      await daemon.stop(1000);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
